//! AWS Secrets Manager for secretsnap: `client` (the SDK configured from the standard credential
//! chain, with a shared rate limiter, bounded retries and an attempt counter), `convert` (SDK
//! shapes ↔ the shared model), and the `source` and `destination` connectors, checked by the
//! shared conformance suite against moto. Version semantics and moto's known differences:
//! `docs/aws.md`.

pub mod client;
mod convert;
pub mod destination;
pub mod fixtures;
pub mod source;

pub use client::{AwsClient, AwsOptions, StaticKeys};
pub use destination::AwsDestination;
pub use source::AwsSource;
