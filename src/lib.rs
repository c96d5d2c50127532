//! secretsnap as a library: the engine that joins connectors (`secretsnap-core` and the provider
//! crates) to the snapshot store, and `locations`, which turns the URLs users type into
//! connectors, and `plugin`, the same for the Plakar plugin's config. The `secretsnap` binary is
//! argument parsing and output on top.

pub mod engine;
pub mod exit;
pub mod locations;
pub mod plugin;
pub mod sla;
