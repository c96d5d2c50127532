//! Where secrets live, as URLs users type: `scaleway://REGION/PROJECT_ID` (project from
//! `SCW_DEFAULT_PROJECT_ID` when omitted, region from `SCW_DEFAULT_REGION` when empty) and
//! `aws://REGION` (region from the AWS configuration when empty), with optional filters in the
//! query (`?path=/prefix&name=GLOB&tag=T&type=opaque`), and `?profile=NAME` to act with that
//! profile of the provider's own configuration (scw config, AWS shared config) on this side
//! only: a clone from one organization or account into another is one command. Turns a URL into a `Source` or a
//! `Destination` through the provider it names (each provider crate's `config` module resolves
//! its own credentials, region and project, for the command line and the Plakar plugin
//! (`plugin.rs`) alike). Connectors of one provider opened through one `Connections` share
//! credentials and the per-key rate limit, so a same-account clone stays under the quota.

use secretsnap_aws::AwsProvider;
pub use secretsnap_core::Keys;
use secretsnap_core::{Access, Destination, Error, Filter, LocationPart, Provider, Source};
use secretsnap_scaleway::ScalewayProvider;

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
    /// `?profile=NAME`: the provider configuration's profile this location acts with.
    pub profile: Option<String>,
    /// The API address of this location only (Vault's `?addr=`); wins over `--api-url`.
    pub api_url: Option<String>,
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

/// Every provider a location may name: adding one is a crate and a line here. Anything else
/// is an error, never a fallback.
fn providers() -> Vec<Box<dyn Provider>> {
    vec![
        Box::new(ScalewayProvider::default()),
        Box::new(AwsProvider::default()),
        Box::new(secretsnap_vault::VaultProvider::default()),
    ]
}

/// What every known provider declares (`RestoreOptions::origins`).
pub fn origins() -> Vec<secretsnap_core::Capabilities> {
    providers().iter().map(|p| p.capabilities()).collect()
}

/// The provider a scheme names: its name or one of its aliases (`openbao` for `vault`).
fn find<'a>(providers: &'a [Box<dyn Provider>], name: &str) -> Option<&'a dyn Provider> {
    providers
        .iter()
        .find(|p| p.name() == name || p.aliases().contains(&name))
        .map(|p| &**p)
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint, Error> {
        let bad = |why: &str| {
            Error::Config(format!(
                "location {text:?}: {why} (expected e.g. scaleway://fr-par/PROJECT_ID?path=/prod)"
            ))
        };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let provider = url.scheme().to_string();
        let all = providers();
        let Some(p) = find(&all, &provider) else {
            let names: Vec<&str> = all.iter().map(|p| p.name()).collect();
            return Err(bad(&format!(
                "unknown provider {provider:?} (known: {})",
                names.join(", ")
            )));
        };
        let region = url.host_str().unwrap_or("").to_string();
        let mut scope = url.path().trim_matches('/').to_string();
        // An alias is a spelling: the location is the provider's (snapshots, jobs, plans).
        let provider = p.name().to_string();
        let mut filter = FilterSpec::default();
        let mut profile = None;
        let mut api_url = None;
        let own = p.location_params();
        for (k, v) in url.query_pairs() {
            match own
                .iter()
                .find(|(name, _)| *name == k.as_ref())
                .map(|(_, part)| part)
            {
                Some(LocationPart::Scope) => {
                    let v = v.trim_matches('/');
                    if v.is_empty() || (!scope.is_empty() && scope != v) {
                        return Err(bad(&format!("{k} is given once, in the path or as ?{k}=")));
                    }
                    scope = v.to_string();
                    continue;
                }
                Some(LocationPart::ApiUrl) => {
                    let ok = url::Url::parse(&v)
                        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                    if !ok || api_url.is_some() {
                        return Err(bad(&format!("{k} is one http(s):// address")));
                    }
                    api_url = Some(v.trim_end_matches('/').to_string());
                    continue;
                }
                None => {}
            }
            match k.as_ref() {
                "profile" => {
                    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.@+".contains(c);
                    if v.is_empty() || !v.chars().all(ok) || profile.is_some() {
                        return Err(bad("profile names one profile: letters, digits, - _ . @ +"));
                    }
                    profile = Some(v.into_owned());
                }
                "path" => filter.path_prefix = Some(v.into_owned()),
                "name" => filter.name_glob = Some(v.into_owned()),
                "tag" => filter.tags.push(v.into_owned()),
                "type" => filter.kinds.push(v.into_owned()),
                other => {
                    let mut known = vec!["path", "name", "tag", "type", "profile"];
                    known.extend(own.iter().map(|(name, _)| *name));
                    return Err(bad(&format!(
                        "unknown parameter {other:?} ({})",
                        known.join(", ")
                    )));
                }
            }
        }
        p.check_location(&region, &scope).map_err(|why| bad(&why))?;
        Ok(Endpoint {
            provider,
            region,
            scope,
            filter,
            profile,
            api_url,
        })
    }
}

/// Opens connectors through the providers; one per process is enough (connectors of one
/// provider share its credentials and rate limit).
pub struct Connections {
    providers: Vec<Box<dyn Provider>>,
    /// Explicit credentials for every connector opened here.
    pub keys: Keys,
    /// API endpoint for every connector opened here (the emulator, moto, a proxy); `None`: the
    /// provider's own (`SCW_API_URL`, `AWS_ENDPOINT_URL` still apply).
    pub api_url: Option<String>,
    /// At most this many requests per second to any provider (`--max-rate`, a source's
    /// `max_rate`); `None`: as fast as each provider's quota allows.
    pub max_rate: Option<f64>,
}

impl Default for Connections {
    fn default() -> Connections {
        Connections {
            providers: providers(),
            keys: Keys::default(),
            api_url: None,
            max_rate: None,
        }
    }
}

impl Connections {
    /// The provider `e` names, and how to reach it.
    fn access<'a>(&'a self, e: &'a Endpoint) -> Result<(&'a dyn Provider, Access<'a>), Error> {
        let p = find(&self.providers, &e.provider)
            .ok_or_else(|| Error::Config(format!("no connector for provider {:?}", e.provider)))?;
        let at = Access {
            region: &e.region,
            scope: &e.scope,
            keys: &self.keys,
            api_url: e.api_url.as_deref().or(self.api_url.as_deref()),
            max_rate: self.max_rate,
            profile: e.profile.as_deref(),
        };
        Ok((p, at))
    }

    pub async fn source(&self, e: &Endpoint) -> Result<Box<dyn Source>, Error> {
        let (p, at) = self.access(e)?;
        p.source(at).await
    }

    pub async fn destination(&self, e: &Endpoint) -> Result<Box<dyn Destination>, Error> {
        let (p, at) = self.access(e)?;
        p.destination(at).await
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
        assert_eq!(e.profile, None);
        let e = Endpoint::parse("openbao://secret/team-a?path=/app").unwrap();
        assert_eq!(
            (e.provider.as_str(), e.region.as_str(), e.scope.as_str()),
            ("vault", "secret", "team-a")
        );
        let e = Endpoint::parse("vault://secret?namespace=team-a&addr=https://bao.example:8200/")
            .unwrap();
        assert_eq!(
            (e.region.as_str(), e.scope.as_str(), e.api_url.as_deref()),
            ("secret", "team-a", Some("https://bao.example:8200"))
        );
        let e = Endpoint::parse("vault://?namespace=team-a").unwrap();
        assert_eq!((e.region.as_str(), e.scope.as_str()), ("", "team-a"));
        let e = Endpoint::parse("scaleway://nl-ams/p?profile=org-b&path=/x").unwrap();
        assert_eq!(e.profile.as_deref(), Some("org-b"));
        for bad in [
            "fr-par/abc",
            "gcp://x/y",
            "scaleway://fr-par/a/b",
            "scaleway://fr-par/a?colour=red",
            "aws://eu-west-1/123456789012",
            "aws://eu-west-1?profile=",
            "aws://eu-west-1?profile=a&profile=b",
            "scaleway://fr-par/p?profile=a%20b",
            "scaleway://fr-par/p?namespace=x",
            "aws://eu-west-1?addr=http://localhost:1",
            "vault://secret/a?namespace=b",
            "vault://secret?addr=ftp://x",
            "vault://secret?addr=http://a&addr=http://b",
        ] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
