//! The seam between the protocol and the providers: the binary implements [`Connect`] to open a
//! source or destination from a validated config, so this crate stays provider-agnostic (and a
//! change here never rebuilds a provider SDK).

use secretsnap_core::{Capabilities, Destination, Error, Filter, Source};

use crate::config::PluginConfig;

#[async_trait::async_trait]
pub trait Connect: Send + Sync + 'static {
    /// The source and the filters its location carries (`?path=…`).
    async fn source(&self, cfg: &PluginConfig) -> Result<(Box<dyn Source>, Filter), Error>;
    async fn destination(&self, cfg: &PluginConfig) -> Result<Box<dyn Destination>, Error>;
    /// What every provider the binary links declares (`RestoreOptions::origins`): records
    /// exported into another provider than they came from are adapted with their origin's
    /// conventions.
    fn origins(&self) -> Vec<Capabilities>;
}
