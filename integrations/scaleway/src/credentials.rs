//! Credentials the way Scaleway users already have them: `SCW_ACCESS_KEY`, `SCW_SECRET_KEY`,
//! `SCW_DEFAULT_PROJECT_ID`, `SCW_DEFAULT_REGION`, `SCW_API_URL`, and the scw CLI config file
//! (`SCW_CONFIG_PATH`, else `$XDG_CONFIG_HOME/scw/config.yaml`, else `~/.config/scw/config.yaml`)
//! with its profiles (`SCW_PROFILE`, else `active_profile`). Environment variables win over the
//! profile, the profile over the file's top level. The secret key is zeroized and never printed.

use std::path::PathBuf;

use secretsnap_core::Error;
use zeroize::Zeroizing;

/// Where and as whom to call the API.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: Option<String>,
    secret_key: Zeroizing<String>,
    pub project_id: Option<String>,
    pub region: Option<String>,
    pub api_url: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("project_id", &self.project_id)
            .field("region", &self.region)
            .field("api_url", &self.api_url)
            .finish()
    }
}

pub const DEFAULT_API_URL: &str = "https://api.scaleway.com";

#[derive(Default, serde::Deserialize)]
struct Profile {
    access_key: Option<String>,
    secret_key: Option<String>,
    default_project_id: Option<String>,
    default_region: Option<String>,
    api_url: Option<String>,
}

/// A profile's secret key is wiped when the parsed file is dropped.
impl Drop for Profile {
    fn drop(&mut self) {
        if let Some(k) = &mut self.secret_key {
            zeroize::Zeroize::zeroize(k);
        }
    }
}

#[derive(Default, serde::Deserialize)]
struct ConfigFile {
    #[serde(flatten)]
    top: Profile,
    active_profile: Option<String>,
    #[serde(default)]
    profiles: std::collections::HashMap<String, Profile>,
}

/// The scw config file's text parsed. The file holds secret keys and a YAML error can quote what
/// it failed on: the error says where, never what.
fn parse_config(text: &str, path: &std::path::Path) -> Result<ConfigFile, Error> {
    serde_norway::from_str(text).map_err(|e| {
        let at = e.location().map_or(String::new(), |l| {
            format!(" at line {}, column {}", l.line(), l.column())
        });
        Error::Config(format!("{}: not a valid scw config{at}", path.display()))
    })
}

fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SCW_CONFIG_PATH") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("scw/config.yaml"))
}

impl Credentials {
    /// Explicit credentials (tests, the Plakar plugin's config map).
    pub fn new(
        secret_key: &str,
        project_id: Option<&str>,
        region: Option<&str>,
        api_url: Option<&str>,
    ) -> Self {
        Credentials {
            access_key: None,
            secret_key: Zeroizing::new(secret_key.to_string()),
            project_id: project_id.map(String::from),
            region: region.map(String::from),
            api_url: api_url
                .unwrap_or(DEFAULT_API_URL)
                .trim_end_matches('/')
                .to_string(),
        }
    }

    /// From the environment and the scw config file.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_env_with(None)
    }

    /// From the environment and the scw config file; a `profile` named here (a location's
    /// `?profile=`) must exist, and its values win over the environment's (which would
    /// otherwise give every location the same key).
    pub fn from_env_with(named: Option<&str>) -> Result<Self, Error> {
        let file: ConfigFile = match config_path().filter(|p| p.is_file()) {
            Some(p) => {
                // The file holds secret keys: its text is wiped once parsed.
                let text = Zeroizing::new(
                    std::fs::read_to_string(&p)
                        .map_err(|e| Error::Config(format!("reading {}: {e}", p.display())))?,
                );
                parse_config(&text, &p)?
            }
            None => ConfigFile::default(),
        };
        let profile_name = named
            .map(String::from)
            .or_else(|| std::env::var("SCW_PROFILE").ok())
            .or(file.active_profile.clone());
        let profile = match &profile_name {
            Some(n) => Some(
                file.profiles
                    .get(n)
                    .ok_or_else(|| Error::Config(format!("scw config has no profile {n:?}")))?,
            ),
            None => None,
        };
        let pick = |env: &str, f: fn(&Profile) -> &Option<String>| -> Option<String> {
            let from_env = || std::env::var(env).ok().filter(|v| !v.is_empty());
            let from_profile = || profile.and_then(|p| f(p).clone());
            if named.is_some() {
                from_profile().or_else(from_env)
            } else {
                from_env().or_else(from_profile)
            }
            .or_else(|| f(&file.top).clone())
        };
        let secret_key = pick("SCW_SECRET_KEY", |p| &p.secret_key).ok_or_else(|| {
            Error::Config(
                "no Scaleway secret key: set SCW_SECRET_KEY or configure a profile with `scw init`"
                    .into(),
            )
        })?;
        Ok(Credentials {
            access_key: pick("SCW_ACCESS_KEY", |p| &p.access_key),
            secret_key: Zeroizing::new(secret_key),
            project_id: pick("SCW_DEFAULT_PROJECT_ID", |p| &p.default_project_id),
            region: pick("SCW_DEFAULT_REGION", |p| &p.default_region),
            api_url: pick("SCW_API_URL", |p| &p.api_url)
                .unwrap_or_else(|| DEFAULT_API_URL.into())
                .trim_end_matches('/')
                .to_string(),
        })
    }

    pub(crate) fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_config_file_is_named_without_its_contents() {
        for text in [
            "secret_key: [LEAKCANARY-1111\n",
            "profiles:\n  a:\n    secret_key: {LEAKCANARY-2222: x}\n",
            "profiles: LEAKCANARY-3333\n",
        ] {
            let Err(e) = parse_config(text, std::path::Path::new("/x/config.yaml")) else {
                panic!("{text} must not parse");
            };
            let e = e.to_string();
            assert!(
                e.contains("/x/config.yaml") && !e.contains("LEAKCANARY"),
                "{e}"
            );
        }
    }
}
