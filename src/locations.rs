//! Where secrets live, as URLs users type: `scaleway://REGION/PROJECT_ID` (project from
//! `SCW_DEFAULT_PROJECT_ID` when omitted, region from `SCW_DEFAULT_REGION` when empty) and
//! `aws://REGION` (region from the AWS configuration when empty), with optional filters in the
//! query (`?path=/prefix&name=GLOB&tag=T&type=opaque`). Turns a URL into a `Source` or a
//! `Destination`. Connectors of one provider opened through one `Connections`
//! share credentials and the per-key rate limit, so a same-account clone stays under the quota.
//! This is the one place credentials, region and project are resolved: the command line and the
//! Plakar plugin (`plugin.rs`) both open connectors here.

use std::sync::Mutex;

use secretsnap_aws::{AwsClient, AwsDestination, AwsSource};
use secretsnap_core::{Destination, Error, Filter, Source};
use secretsnap_scaleway::{
    Client, ClientOptions, Credentials, ScalewayDestination, ScalewaySource,
};

/// A parsed location URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub provider: String,
    /// Empty: the provider's default (credentials or environment).
    pub region: String,
    /// Scaleway project id; empty: the default project.
    pub scope: String,
    /// Filters from the query string.
    pub filter: FilterSpec,
}

/// The query-string filters of a location URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSpec {
    pub path_prefix: Option<String>,
    pub name_glob: Option<String>,
    pub tags: Vec<String>,
    pub kinds: Vec<String>,
}

impl FilterSpec {
    /// Applies these filters on top of `f` (the URL's win where both are set).
    pub fn apply(&self, mut f: Filter) -> Filter {
        if self.path_prefix.is_some() {
            f.path_prefix = self.path_prefix.clone();
        }
        if self.name_glob.is_some() {
            f.name_glob = self.name_glob.clone();
        }
        f.tags.extend(self.tags.iter().cloned());
        f.kinds.extend(self.kinds.iter().cloned());
        f
    }
}

/// Every provider a location may name; `source` and `destination` open each one, and anything
/// else is an error (never a fallback).
const PROVIDERS: &[&str] = &["scaleway", "aws"];

/// The Scaleway region used when neither the location nor the credentials name one.
const DEFAULT_SCALEWAY_REGION: &str = "fr-par";

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint, Error> {
        let bad = |why: &str| {
            Error::Config(format!(
                "location {text:?}: {why} (expected e.g. scaleway://fr-par/PROJECT_ID?path=/prod)"
            ))
        };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let provider = url.scheme().to_string();
        if !PROVIDERS.contains(&provider.as_str()) {
            return Err(bad(&format!("unknown provider {provider:?}")));
        }
        let region = url.host_str().unwrap_or("").to_string();
        let scope = url.path().trim_matches('/').to_string();
        if provider == "aws" && !scope.is_empty() {
            return Err(bad(
                "an AWS location is aws://REGION; filter names with ?path=",
            ));
        }
        if scope.contains('/') {
            return Err(bad(
                "the project id cannot contain '/'; filter folders with ?path=",
            ));
        }
        let mut filter = FilterSpec::default();
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "path" => filter.path_prefix = Some(v.into_owned()),
                "name" => filter.name_glob = Some(v.into_owned()),
                "tag" => filter.tags.push(v.into_owned()),
                "type" => filter.kinds.push(v.into_owned()),
                other => {
                    return Err(bad(&format!(
                        "unknown filter {other:?} (path, name, tag, type)"
                    )))
                }
            }
        }
        Ok(Endpoint {
            provider,
            region,
            scope,
            filter,
        })
    }
}

/// Credentials given explicitly (resolved from the configuration's references) instead of the
/// provider's usual environment and files.
#[derive(Clone, Default)]
pub struct Keys {
    pub access_key: Option<String>,
    pub secret_key: Option<zeroize::Zeroizing<String>>,
    pub session_token: Option<zeroize::Zeroizing<String>>,
}

/// Opens connectors; one per process is enough.
#[derive(Default)]
pub struct Connections {
    scaleway: Mutex<Option<Client>>,
    /// Client options for new Scaleway clients.
    pub scaleway_options: ClientOptions,
    /// Explicit credentials for every connector opened here.
    pub keys: Keys,
    /// API endpoint for every connector opened here (the emulator, moto, a proxy); `None`: the
    /// provider's own (`SCW_API_URL`, `AWS_ENDPOINT_URL` still apply).
    pub api_url: Option<String>,
}

impl Connections {
    fn scaleway(&self, e: &Endpoint) -> Result<(Client, String), Error> {
        let mut base = self.scaleway.lock().expect("connections lock");
        if base.is_none() {
            let creds = match &self.keys.secret_key {
                Some(k) => {
                    // Project, region and API URL still come from the usual places.
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
                    let api_url = env
                        .as_ref()
                        .map(|e| e.api_url.clone())
                        .or_else(|| var("SCW_API_URL"));
                    let mut c = Credentials::new(
                        k,
                        project.as_deref(),
                        region.as_deref(),
                        api_url.as_deref(),
                    );
                    c.access_key = self.keys.access_key.clone();
                    c
                }
                None => Credentials::from_env()?,
            };
            let mut creds = creds;
            if let Some(url) = &self.api_url {
                creds.api_url = url.trim_end_matches('/').to_string();
            }
            let region = creds
                .region
                .clone()
                .unwrap_or_else(|| DEFAULT_SCALEWAY_REGION.into());
            *base = Some(Client::new(creds, &region, self.scaleway_options.clone())?);
        }
        let base = base.as_ref().expect("just set");
        let client = if e.region.is_empty() {
            base.for_region(&base.region)
        } else {
            base.for_region(&e.region)
        };
        let project = if e.scope.is_empty() {
            base.default_project()
                .ok_or_else(|| {
                    Error::Config(
                        "no Scaleway project: put it in the URL (scaleway://REGION/PROJECT_ID) or set SCW_DEFAULT_PROJECT_ID"
                            .into(),
                    )
                })?
                .to_string()
        } else {
            e.scope.clone()
        };
        Ok((client, project))
    }

    async fn aws(&self, e: &Endpoint) -> Result<AwsClient, Error> {
        let keys = match (&self.keys.access_key, &self.keys.secret_key) {
            (Some(id), Some(secret)) => Some(secretsnap_aws::StaticKeys {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: self.keys.session_token.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(Error::Config(
                    "AWS keys need both an access key and a secret key (or neither, for the standard credential chain)"
                        .into(),
                ))
            }
        };
        let opts = secretsnap_aws::AwsOptions {
            keys,
            ..Default::default()
        };
        AwsClient::connect(&e.region, self.api_url.as_deref(), opts).await
    }

    pub async fn source(&self, e: &Endpoint) -> Result<Box<dyn Source>, Error> {
        match e.provider.as_str() {
            "scaleway" => {
                let (client, project) = self.scaleway(e)?;
                Ok(Box::new(ScalewaySource::new(client, &project)))
            }
            "aws" => Ok(Box::new(AwsSource::new(self.aws(e).await?))),
            p => Err(Error::Config(format!("no source connector for {p}"))),
        }
    }

    pub async fn destination(&self, e: &Endpoint) -> Result<Box<dyn Destination>, Error> {
        match e.provider.as_str() {
            "scaleway" => {
                let (client, project) = self.scaleway(e)?;
                Ok(Box::new(ScalewayDestination::new(client, &project)))
            }
            "aws" => Ok(Box::new(AwsDestination::new(self.aws(e).await?))),
            p => Err(Error::Config(format!("no destination connector for {p}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        let e = Endpoint::parse("scaleway://nl-ams/abc-123?path=/prod&tag=a&tag=b").unwrap();
        assert_eq!(
            (e.provider.as_str(), e.region.as_str(), e.scope.as_str()),
            ("scaleway", "nl-ams", "abc-123")
        );
        assert_eq!(e.filter.path_prefix.as_deref(), Some("/prod"));
        assert_eq!(e.filter.tags, ["a", "b"]);
        let e = Endpoint::parse("scaleway://fr-par").unwrap();
        assert_eq!(e.scope, "");
        let e = Endpoint::parse("aws://eu-west-1?path=/prod").unwrap();
        assert_eq!((e.region.as_str(), e.scope.as_str()), ("eu-west-1", ""));
        for bad in [
            "fr-par/abc",
            "gcp://x/y",
            "scaleway://fr-par/a/b",
            "scaleway://fr-par/a?colour=red",
            "aws://eu-west-1/123456789012",
        ] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
