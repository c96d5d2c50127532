//! The Plakar plugin's connector glue: turns a validated plugin config (location, keys, region,
//! project, API URL override) into a source or destination, through the same `Connections` the
//! command line uses (one resolution of credentials, region and project; an unknown provider is
//! an error). The protocol itself lives in `secretsnap-plakar`, which knows connectors only
//! through the core traits.

use secretsnap_core::{Destination, Error, Filter, Source};
use secretsnap_plakar::{Connect, PluginConfig};

use crate::locations::{Connections, Endpoint, Keys};

/// Opens connectors from plugin configs.
pub struct PluginConnect;

fn endpoint(cfg: &PluginConfig) -> Result<Endpoint, Error> {
    let mut e = Endpoint::parse(&cfg.url)?;
    if let Some(r) = &cfg.region {
        e.region = r.clone();
    }
    if let Some(p) = &cfg.project_id {
        e.scope = p.clone();
    }
    Ok(e)
}

fn connections(cfg: &PluginConfig) -> Connections {
    let mut c = Connections::default();
    c.keys = Keys {
        access_key: cfg.access_key.clone(),
        secret_key: cfg.secret_key.clone(),
        session_token: cfg.session_token.clone(),
    };
    c.api_url = cfg.api_url.clone();
    c
}

#[async_trait::async_trait]
impl Connect for PluginConnect {
    async fn source(&self, cfg: &PluginConfig) -> Result<(Box<dyn Source>, Filter), Error> {
        let e = endpoint(cfg)?;
        let filter = e.filter.apply(Filter::default());
        Ok((connections(cfg).source(&e).await?, filter))
    }

    async fn destination(&self, cfg: &PluginConfig) -> Result<Box<dyn Destination>, Error> {
        let e = endpoint(cfg)?;
        if e.filter != Default::default() {
            return Err(Error::Config(
                "a restore location takes no filters (?path=…); filter when backing up".into(),
            ));
        }
        connections(cfg).destination(&e).await
    }

    fn origins(&self) -> Vec<secretsnap_core::Capabilities> {
        crate::locations::origins()
    }
}
