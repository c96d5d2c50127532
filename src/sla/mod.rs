//! SLA policies and scheduling: the configuration file (named repositories, sources, policies),
//! cadences, the scheduler core with an injectable clock, job outcomes, its state file, retention
//! by policy, SLA status, Prometheus metrics, and export to systemd, cron and Kubernetes. No
//! module here opens a repository or a connector: they decide from the configuration and the
//! snapshot lists the command layer hands them.

pub mod cadence;
pub mod config;
pub mod error;
pub mod exe;
pub mod export;
pub mod job_id;
pub mod metrics;
pub mod outcome;
pub mod retention;
pub mod run;
pub mod scheduler;
pub mod state;
pub mod status;
