//! secretsnap as a Plakar integration. A Plakar host starts the plugin executable and speaks
//! gRPC over its stdin/stdout; this crate serves the importer (a secret manager's secrets and
//! versions as browsable records) and the exporter (records replayed into a destination through
//! the same planning as `secretsnap restore`). It knows connectors only through the core traits:
//! the binary supplies a [`Connect`] that turns a validated config map into a source or
//! destination, so this crate never builds a provider SDK.

pub mod config;
pub mod connect;
pub mod error;
pub mod exporter;
pub mod host;
pub mod importer;
pub mod layout;
pub mod manifest;
pub mod proto;
pub mod stdio;

pub use config::PluginConfig;
pub use connect::Connect;
pub use error::{Error, Result};
pub use exporter::ExporterService;
pub use importer::ImporterService;
