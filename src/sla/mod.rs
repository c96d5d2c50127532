//! SLA policies and scheduling: the configuration file (named repositories, sources, policies),
//! cadences, the scheduler core with an injectable clock, its state file, SLA status, and export
//! to systemd, cron and Kubernetes.

pub mod cadence;
pub mod config;
pub mod export;
pub mod scheduler;
pub mod state;
pub mod status;
