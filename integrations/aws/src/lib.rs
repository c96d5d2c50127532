//! AWS Secrets Manager for secretsnap: `config` (the `Provider`: keys and region resolved in one
//! place for the CLI and the plugin), `client` (the SDK configured from the standard credential
//! chain, with per-API token buckets (`quota`), bounded retries and an attempt counter), `convert` (SDK
//! shapes ↔ the shared model), `policy` (resource policies made valid at the target), and the
//! `source` and `destination` connectors, checked by the shared conformance suite against moto.
//! Version semantics and moto's known differences: `docs/aws.md`.

pub mod client;
pub mod config;
mod convert;
pub mod destination;
#[cfg(feature = "testing")]
pub mod fixtures;
#[cfg(feature = "testing")]
pub mod lagging;
pub mod policy;
pub mod quota;
pub mod source;

/// The SDK, for tests and tools that seed or inspect a region next to a connector.
pub use aws_sdk_secretsmanager as sdk;
pub use client::{AwsClient, AwsOptions, StaticKeys};
pub use config::AwsProvider;
pub use destination::AwsDestination;
pub use source::AwsSource;
