//! Scaleway Secret Manager for secretsnap: `emulator`, a faithful local v1beta1 server (checked
//! against recorded live traffic by `tests/cassettes.rs`); `client`, the polite REST client;
//! `source` and `destination`, the connectors (checked by the shared conformance suite).

pub mod client;
mod convert;
pub mod credentials;
pub mod destination;
pub mod emulator;
pub mod source;

pub use client::{Client, ClientOptions};
pub use credentials::Credentials;
pub use destination::ScalewayDestination;
pub use source::ScalewaySource;
