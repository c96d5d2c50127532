//! AWS as a `Provider`: the one place its configuration is resolved for the command line and
//! the Plakar plugin alike. Explicit keys need both parts (a lone access key is an error, never
//! ignored); without them the SDK's standard credential chain applies (environment, profiles,
//! SSO, instance roles). The region comes from the location, else the AWS configuration.
//! Connectors of one credential in one region (at one endpoint) share one set of quota buckets,
//! as AWS counts one quota per account and region: a same-account `clone` or `drill` runs at the
//! account's quota, not twice it.

use std::sync::Mutex;

use secretsnap_core::{Access, Destination, Error, Keys, Provider, Source};

use crate::{AwsClient, AwsDestination, AwsOptions, AwsSource, StaticKeys};

/// The provider's name in location URLs.
pub const NAME: &str = "aws";

/// Opens AWS connectors.
#[derive(Default)]
pub struct AwsProvider {
    /// Rates and retries of the clients opened here (`keys` is taken from `Access`).
    pub options: AwsOptions,
    /// The first client of each credential × region × endpoint, whose quotas later ones share.
    opened: Mutex<Vec<(String, AwsClient)>>,
}

/// The SDK keys from explicit keys: both parts or neither.
pub fn static_keys(keys: &Keys) -> Result<Option<StaticKeys>, Error> {
    match (&keys.access_key, &keys.secret_key) {
        (Some(id), Some(secret)) => Ok(Some(StaticKeys {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: keys.session_token.clone(),
        })),
        (None, None) => Ok(None),
        _ => Err(Error::Config(
            "AWS keys need both an access key and a secret key (or neither, for the standard \
             credential chain)"
                .into(),
        )),
    }
}

impl AwsProvider {
    /// A client for `at`, sharing its quota buckets with every earlier client of the same
    /// credential (access key id; the standard chain counts as one), region and endpoint.
    pub async fn client(&self, at: Access<'_>) -> Result<AwsClient, Error> {
        let opts = AwsOptions {
            keys: static_keys(at.keys)?,
            max_rate: at.max_rate.or(self.options.max_rate),
            profile: at.profile.map(String::from),
            ..self.options.clone()
        };
        let who = match (&opts.profile, &opts.keys) {
            (Some(p), _) => format!("(profile {p})"),
            (None, Some(k)) => k.access_key_id.clone(),
            (None, None) => "(standard chain)".to_string(),
        };
        let mut client = AwsClient::connect(at.region, at.api_url, opts).await?;
        let identity = format!("{who}\n{}\n{}", client.region, at.api_url.unwrap_or(""));
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        match opened.iter().find(|(i, _)| *i == identity) {
            Some((_, first)) => client.share_quotas(first),
            None => opened.push((identity, client.clone())),
        }
        Ok(client)
    }
}

#[async_trait::async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> secretsnap_core::Capabilities {
        crate::destination::CAPABILITIES
    }

    fn check_location(&self, _region: &str, scope: &str) -> Result<(), String> {
        if !scope.is_empty() {
            return Err("an AWS location is aws://REGION; filter names with ?path=".into());
        }
        Ok(())
    }

    async fn source(&self, at: Access<'_>) -> Result<Box<dyn Source>, Error> {
        Ok(Box::new(AwsSource::new(self.client(at).await?)))
    }

    async fn destination(&self, at: Access<'_>) -> Result<Box<dyn Destination>, Error> {
        Ok(Box::new(AwsDestination::new(self.client(at).await?)))
    }
}
