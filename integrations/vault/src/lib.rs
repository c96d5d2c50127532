//! HashiCorp Vault and OpenBao KV for secretsnap (scheme `vault://MOUNT[/NAMESPACE]`, or
//! `vault://` for every KV mount, v2 or v1): `mount`, which mounts a location means; `client`,
//! the polite HTTP client (token, namespace, retries on 429 and 5xx, bounded concurrency);
//! `config`, the `Provider` (address and token resolved as the official CLI resolves them);
//! `convert`, KV metadata ↔ the core model; `source` and `destination`, the connectors, which
//! keep every version with its number (checked by the shared conformance suite against a real
//! OpenBao server).

pub mod client;
pub mod config;
mod convert;
pub mod destination;
pub mod fixtures;
pub mod login;
pub mod mount;
pub mod source;

pub use client::VaultClient;
pub use config::VaultProvider;
pub use destination::VaultDestination;
pub use source::VaultSource;
