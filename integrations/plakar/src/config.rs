//! The config map a host hands to Init, checked against the keys this plugin declares (the same
//! table `plugin.toml` lists, which a test enforces). Values are strings on the wire; booleans
//! are `true`/`false`. Unknown keys are an error that lists the known ones, so a typo never
//! silently changes what gets backed up or where it is restored.

use std::collections::HashMap;

use secretsnap_core::plan::parse_mappings;
use secretsnap_core::{ConflictMode, Face, RestoreOptions};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The URL schemes this plugin answers to and the provider each one means.
pub const SCHEMES: &[(&str, &str)] = &[
    ("scaleway-secrets", "scaleway"),
    ("aws-secrets", "aws"),
    ("vault-secrets", "vault"),
];

/// Which connector a key applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Both,
    Importer,
    Exporter,
}

/// One config key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub boolean: bool,
    pub required: bool,
    pub secret: bool,
    pub side: Side,
}

const fn key(name: &'static str, side: Side) -> Key {
    Key {
        name,
        boolean: false,
        required: false,
        secret: false,
        side,
    }
}

pub const KEYS: &[Key] = &[
    Key {
        required: true,
        ..key("location", Side::Both)
    },
    key("access_key", Side::Both),
    Key {
        secret: true,
        ..key("secret_key", Side::Both)
    },
    Key {
        secret: true,
        ..key("session_token", Side::Both)
    },
    key("region", Side::Both),
    key("project_id", Side::Both),
    key("api_url", Side::Both),
    key("environment", Side::Importer),
    key("data_class", Side::Importer),
    Key {
        boolean: true,
        ..key("read_disabled", Side::Importer)
    },
    Key {
        boolean: true,
        ..key("read_once", Side::Importer)
    },
    key("conflict", Side::Exporter),
    Key {
        boolean: true,
        ..key("include_managed", Side::Exporter)
    },
    key("map_key", Side::Exporter),
    key("map_account", Side::Exporter),
    Key {
        boolean: true,
        ..key("replicate", Side::Exporter)
    },
    Key {
        boolean: true,
        ..key("dry_run", Side::Exporter)
    },
];

/// Keys for one connector.
pub fn keys_for(side: Side) -> impl Iterator<Item = &'static Key> {
    KEYS.iter()
        .filter(move |k| k.side == Side::Both || k.side == side)
}

/// A validated config.
#[derive(Clone)]
pub struct PluginConfig {
    /// `scaleway` or `aws`.
    pub provider: String,
    /// The location in secretsnap's own form: `scaleway://fr-par/PROJECT?path=/prod`.
    pub url: String,
    pub access_key: Option<String>,
    pub secret_key: Option<Zeroizing<String>>,
    pub session_token: Option<Zeroizing<String>>,
    pub region: Option<String>,
    pub project_id: Option<String>,
    pub api_url: Option<String>,
    pub environment: Option<String>,
    pub data_classes: Vec<String>,
    pub read_disabled: bool,
    pub read_once: bool,
    pub restore: RestoreOptions,
    pub dry_run: bool,
}

impl std::fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginConfig")
            .field("provider", &self.provider)
            .field("url", &self.url)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("region", &self.region)
            .field("project_id", &self.project_id)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// Zeroizes every value of a configuration map the host sent (secret keys, session tokens),
/// once it has been parsed into zeroizing fields.
pub fn wipe(map: &mut HashMap<String, String>) {
    for v in map.values_mut() {
        zeroize::Zeroize::zeroize(v);
    }
}

fn boolean(map: &HashMap<String, String>, k: &str) -> Result<bool> {
    match map.get(k).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v.is_empty() || v == "false" || v == "no" || v == "0" => Ok(false),
        Some(v) if v == "true" || v == "yes" || v == "1" => Ok(true),
        Some(_) => Err(Error::Config(format!("{k}: expected true or false"))),
    }
}

impl PluginConfig {
    /// Checks `map` for the connector `side`, answering to scheme `proto`.
    pub fn parse(proto: &str, map: &HashMap<String, String>, side: Side) -> Result<PluginConfig> {
        let known: Vec<&str> = keys_for(side).map(|k| k.name).collect();
        let mut unknown: Vec<&String> = map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        unknown.sort();
        if let Some(k) = unknown.first() {
            return Err(Error::Config(format!(
                "unknown key {k:?} (known: {})",
                known.join(", ")
            )));
        }
        let get = |k: &str| {
            map.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let location = get("location").ok_or_else(|| {
            Error::Config("location is required (e.g. scaleway-secrets://fr-par/PROJECT_ID)".into())
        })?;
        let (scheme, rest) = location
            .split_once("://")
            .ok_or_else(|| Error::Config(format!("location {location:?}: expected SCHEME://…")))?;
        let provider = SCHEMES
            .iter()
            .find(|(s, _)| *s == scheme)
            .map(|(_, p)| p.to_string())
            .ok_or_else(|| {
                let names: Vec<&str> = SCHEMES.iter().map(|(s, _)| *s).collect();
                Error::Config(format!(
                    "location {location:?}: unknown scheme {scheme:?} (known: {})",
                    names.join(", ")
                ))
            })?;
        if !proto.is_empty() && proto != scheme {
            return Err(Error::Config(format!(
                "location scheme {scheme:?} does not match the protocol {proto:?}"
            )));
        }
        // `SRC=DST` pairs, comma-separated.
        let mappings = |k: &str, accounts: bool| {
            let text = get(k).unwrap_or_default();
            parse_mappings(text.split(','), k, accounts).map_err(Error::Config)
        };
        let conflict = match get("conflict") {
            Some(c) => c
                .parse::<ConflictMode>()
                .map_err(|e| Error::Config(format!("conflict: {e}")))?,
            None => ConflictMode::Skip,
        };
        Ok(PluginConfig {
            url: format!("{provider}://{}", if rest == "rest" { "" } else { rest }),
            provider,
            access_key: get("access_key"),
            secret_key: get("secret_key").map(Zeroizing::new),
            session_token: get("session_token").map(Zeroizing::new),
            region: get("region"),
            project_id: get("project_id"),
            api_url: get("api_url"),
            environment: get("environment"),
            data_classes: get("data_class")
                .map(|d| {
                    d.split(',')
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            read_disabled: boolean(map, "read_disabled")?,
            read_once: boolean(map, "read_once")?,
            restore: RestoreOptions {
                conflict,
                include_managed: boolean(map, "include_managed")?,
                key_ids: mappings("map_key", false)?,
                accounts: mappings("map_account", true)?,
                replicate: boolean(map, "replicate")?,
                face: Face::Plugin,
                under: None,
                mark: None,
                origins: Vec::new(),
            },
            dry_run: boolean(map, "dry_run")?,
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_hosts_map_is_wiped_once_parsed() {
        let mut m = map(&[
            ("location", "aws-secrets://eu-west-1"),
            ("secret_key", "wJalrXUtnFEMI"),
        ]);
        let cfg = PluginConfig::parse("aws-secrets", &m, Side::Importer).unwrap();
        wipe(&mut m);
        assert!(m.values().all(String::is_empty), "{m:?}");
        assert_eq!(
            cfg.secret_key.as_deref().map(|k| k.as_str()),
            Some("wJalrXUtnFEMI")
        );
    }

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_rejects() {
        let c = PluginConfig::parse(
            "scaleway-secrets",
            &map(&[
                ("location", "scaleway-secrets://fr-par/abc?path=/prod"),
                ("secret_key", "s"),
                ("data_class", "critical, pii"),
                ("read_disabled", "true"),
            ]),
            Side::Importer,
        )
        .unwrap();
        assert_eq!(c.url, "scaleway://fr-par/abc?path=/prod");
        assert_eq!(c.data_classes, ["critical", "pii"]);
        assert!(c.read_disabled);
        assert!(!format!("{c:?}").contains("\"s\""));
        let c = PluginConfig::parse(
            "aws-secrets",
            &map(&[("location", "aws-secrets://rest"), ("conflict", "append")]),
            Side::Exporter,
        )
        .unwrap();
        assert_eq!(
            (c.url.as_str(), c.restore.conflict),
            ("aws://", ConflictMode::Append)
        );
        for (side, pairs, want) in [
            (Side::Importer, vec![("location", "x")], "SCHEME://"),
            (
                Side::Importer,
                vec![("location", "gcp-secrets://x")],
                "unknown scheme",
            ),
            (Side::Importer, vec![], "location is required"),
            (
                Side::Importer,
                vec![("location", "aws-secrets://r"), ("colour", "red")],
                "unknown key \"colour\"",
            ),
            (
                Side::Importer,
                vec![("location", "aws-secrets://r"), ("conflict", "skip")],
                "unknown key \"conflict\"",
            ),
            (
                Side::Exporter,
                vec![("location", "aws-secrets://r"), ("dry_run", "maybe")],
                "dry_run",
            ),
            (
                Side::Exporter,
                vec![("location", "aws-secrets://r"), ("conflict", "merge")],
                "conflict",
            ),
        ] {
            let err = PluginConfig::parse("", &map(&pairs), side)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err} does not say {want}");
        }
    }
}
