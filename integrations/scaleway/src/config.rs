//! Scaleway as a `Provider`: the one place its configuration is resolved for the command line
//! and the Plakar plugin alike. Explicit keys win over `SCW_SECRET_KEY` and the scw config file
//! (`credentials`), while project, region and API URL still come from there; an API URL given
//! to `Access` wins over all. The region defaults to `fr-par` when neither the location nor the
//! credentials name one. Connectors opened with the same key (and API URL) share one client,
//! so one key has one rate budget; a connector with another key gets a client of its own, so a
//! clone from one organization into another uses each side's own key.

use std::sync::Mutex;

use secretsnap_core::{Access, Destination, Error, Keys, Provider, Source};

use crate::{Client, ClientOptions, Credentials, ScalewayDestination, ScalewaySource};

/// The provider's name in location URLs.
pub const NAME: &str = "scaleway";

/// The region used when neither the location nor the credentials name one.
pub const DEFAULT_REGION: &str = "fr-par";

/// Opens Scaleway connectors; keeps one client per key for every connector of that key.
#[derive(Default)]
pub struct ScalewayProvider {
    clients: Mutex<Vec<Client>>,
    /// Options of the client (rate limit, retries).
    pub options: ClientOptions,
}

/// Credentials from explicit keys (project, region and API URL from the usual places), else
/// from the environment and the scw config file; `api_url` overrides the API URL.
pub fn credentials(keys: &Keys, api_url: Option<&str>) -> Result<Credentials, Error> {
    credentials_for(keys, api_url, None)
}

/// `credentials`, or with a `profile` named by the location, that scw config profile's (which
/// then wins over explicit keys and the environment alike).
pub fn credentials_for(
    keys: &Keys,
    api_url: Option<&str>,
    profile: Option<&str>,
) -> Result<Credentials, Error> {
    let mut creds = match (&keys.secret_key, profile) {
        (_, Some(named)) => Credentials::from_env_with(Some(named))?,
        (Some(k), None) => {
            let env = Credentials::from_env().ok();
            let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let project = env
                .as_ref()
                .and_then(|e| e.project_id.clone())
                .or_else(|| var("SCW_DEFAULT_PROJECT_ID"));
            let region = env
                .as_ref()
                .and_then(|e| e.region.clone())
                .or_else(|| var("SCW_DEFAULT_REGION"));
            let url = env
                .as_ref()
                .map(|e| e.api_url.clone())
                .or_else(|| var("SCW_API_URL"));
            let mut c = Credentials::new(k, project.as_deref(), region.as_deref(), url.as_deref());
            c.access_key = keys.access_key.clone();
            c
        }
        (None, None) => Credentials::from_env()?,
    };
    if let Some(url) = api_url {
        creds.api_url = url.trim_end_matches('/').to_string();
    }
    Ok(creds)
}

impl ScalewayProvider {
    /// The client of these credentials (made on first use, then shared) moved to the
    /// location's region, and the project to use.
    fn open(&self, at: Access<'_>) -> Result<(Client, String), Error> {
        let creds = credentials_for(at.keys, at.api_url, at.profile)?;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let base = match clients.iter().find(|c| c.same_credentials(&creds)) {
            Some(c) => c.clone(),
            None => {
                let region = creds
                    .region
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REGION.into());
                let options = ClientOptions {
                    max_rate: at.max_rate.or(self.options.max_rate),
                    ..self.options.clone()
                };
                let c = Client::new(creds, &region, options)?;
                clients.push(c.clone());
                c
            }
        };
        drop(clients);
        let client = if at.region.is_empty() {
            base.for_region(&base.region)
        } else {
            base.for_region(at.region)
        };
        let base = &base;
        let project = if at.scope.is_empty() {
            base.default_project()
                .ok_or_else(|| {
                    Error::Config(
                        "no Scaleway project: put it in the URL (scaleway://REGION/PROJECT_ID) \
                         or set SCW_DEFAULT_PROJECT_ID"
                            .into(),
                    )
                })?
                .to_string()
        } else {
            at.scope.to_string()
        };
        Ok((client, project))
    }
}

#[async_trait::async_trait]
impl Provider for ScalewayProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> secretsnap_core::Capabilities {
        crate::destination::CAPABILITIES
    }

    fn check_location(&self, _region: &str, scope: &str) -> Result<(), String> {
        if scope.contains('/') {
            return Err("the project id cannot contain '/'; filter folders with ?path=".into());
        }
        Ok(())
    }

    async fn source(&self, at: Access<'_>) -> Result<Box<dyn Source>, Error> {
        let (client, project) = self.open(at)?;
        Ok(Box::new(ScalewaySource::new(client, &project)))
    }

    async fn destination(&self, at: Access<'_>) -> Result<Box<dyn Destination>, Error> {
        let (client, project) = self.open(at)?;
        Ok(Box::new(ScalewayDestination::new(client, &project)))
    }
}
