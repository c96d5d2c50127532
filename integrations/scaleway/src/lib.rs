//! Scaleway Secret Manager for secretsnap: `emulator`, a faithful local v1beta1 server (checked
//! against recorded live traffic by `tests/cassettes.rs`); `credentials` and `config` (the
//! `Provider`: configuration resolved in one place for the CLI and the plugin); `client`, the
//! polite REST client; `source` and `destination`, the connectors (checked by the shared
//! conformance suite).

pub mod client;
pub mod config;
mod convert;
pub mod credentials;
pub mod destination;
pub mod emulator;
mod listing;
pub mod source;

pub use client::{Client, ClientOptions};
pub use config::ScalewayProvider;
pub use credentials::Credentials;
pub use destination::ScalewayDestination;
pub use source::ScalewaySource;
