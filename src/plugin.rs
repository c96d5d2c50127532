//! The Plakar plugin's connector glue: turns a validated plugin config (location, keys, region,
//! project, API URL override) into a Scaleway or AWS source or destination. The protocol itself
//! lives in `secretsnap-plakar`, which knows connectors only through the core traits.

use secretsnap_aws::{AwsClient, AwsDestination, AwsOptions, AwsSource, StaticKeys};
use secretsnap_core::{Destination, Error, Filter, Source};
use secretsnap_plakar::{Connect, PluginConfig};
use secretsnap_scaleway::{
    Client, ClientOptions, Credentials, ScalewayDestination, ScalewaySource,
};

use crate::locations::Endpoint;

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

fn scaleway(cfg: &PluginConfig, e: &Endpoint) -> Result<(Client, String), Error> {
    let mut creds = match &cfg.secret_key {
        Some(k) => Credentials::new(k, None, None, cfg.api_url.as_deref()),
        None => Credentials::from_env()?,
    };
    if let Some(url) = &cfg.api_url {
        creds.api_url = url.trim_end_matches('/').to_string();
    }
    creds.access_key = cfg.access_key.clone().or(creds.access_key);
    let region = if e.region.is_empty() {
        creds.region.clone().unwrap_or_else(|| "fr-par".into())
    } else {
        e.region.clone()
    };
    let project = if e.scope.is_empty() {
        creds.project_id.clone().ok_or_else(|| {
            Error::Config(
                "no Scaleway project: put it in location (scaleway-secrets://REGION/PROJECT_ID) or set project_id"
                    .into(),
            )
        })?
    } else {
        e.scope.clone()
    };
    Ok((
        Client::new(creds, &region, ClientOptions::default())?,
        project,
    ))
}

async fn aws(cfg: &PluginConfig, e: &Endpoint) -> Result<AwsClient, Error> {
    let keys = match (&cfg.access_key, &cfg.secret_key) {
        (Some(id), Some(secret)) => Some(StaticKeys {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: cfg.session_token.clone(),
        }),
        (None, None) => None,
        _ => {
            return Err(Error::Config(
                "AWS keys need both access_key and secret_key (or neither, for the standard credential chain)"
                    .into(),
            ))
        }
    };
    let opts = AwsOptions {
        keys,
        ..Default::default()
    };
    AwsClient::connect(&e.region, cfg.api_url.as_deref(), opts).await
}

#[async_trait::async_trait]
impl Connect for PluginConnect {
    async fn source(&self, cfg: &PluginConfig) -> Result<(Box<dyn Source>, Filter), Error> {
        let e = endpoint(cfg)?;
        let filter = e.filter.apply(Filter::default());
        let source: Box<dyn Source> = match e.provider.as_str() {
            "scaleway" => {
                let (client, project) = scaleway(cfg, &e)?;
                Box::new(ScalewaySource::new(client, &project))
            }
            _ => Box::new(AwsSource::new(aws(cfg, &e).await?)),
        };
        Ok((source, filter))
    }

    async fn destination(&self, cfg: &PluginConfig) -> Result<Box<dyn Destination>, Error> {
        let e = endpoint(cfg)?;
        if e.filter != Default::default() {
            return Err(Error::Config(
                "a restore location takes no filters (?path=…); filter when backing up".into(),
            ));
        }
        Ok(match e.provider.as_str() {
            "scaleway" => {
                let (client, project) = scaleway(cfg, &e)?;
                Box::new(ScalewayDestination::new(client, &project))
            }
            _ => Box::new(AwsDestination::new(aws(cfg, &e).await?)),
        })
    }
}
