//! `plugin.toml` (our host-neutral manifest, at the top of the repository and embedded in the
//! binary) and what is generated from it: Plakar's `manifest.yaml` and one JSON Schema (draft
//! 2020-12) per connector validating its config map. [`Manifest::check`] holds plugin.toml to the
//! code: same version as the crate, same schemes, same config keys with the same kind, required
//! and secret flags, so the declared interface and the real one cannot drift.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{keys_for, Side, SCHEMES};
use crate::error::{Error, Result};

/// The repository's plugin.toml, as built into this binary.
pub const PLUGIN_TOML: &str = include_str!("../../../plugin.toml");

/// The version of Plakar's integration protocol this code implements (Init, Ping, Import, Open,
/// Close; Init and Export), spelled as Plakar's package manager and integrations spell it.
pub const API_VERSION: &str = "v1.1.0";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub version: String,
    pub protocol: String,
    pub protocol_version: String,
    pub license: String,
    pub homepage: String,
    pub contact: String,
    pub tags: Vec<String>,
    pub connectors: Vec<Connector>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    #[serde(rename = "type")]
    pub kind: String,
    pub class: String,
    pub subclass: String,
    pub schemes: Vec<String>,
    pub location_flags: Vec<String>,
    pub executable: String,
    pub args: Vec<String>,
    pub config: Vec<ConfigKey>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigKey {
    pub key: String,
    /// `string` or `boolean` (booleans travel as "true"/"false").
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    /// A credential: hosts must not echo it.
    #[serde(default)]
    pub secret: bool,
    /// Allowed values, if restricted.
    #[serde(default)]
    pub values: Vec<String>,
    pub description: String,
}

/// Location flag names and bits, as Plakar names them.
pub const LOCATION_FLAGS: &[(&str, u32)] = &[
    ("localfs", 1),
    ("file", 1 << 1),
    ("stream", 1 << 2),
    ("needack", 1 << 3),
    ("nomerge", 1 << 4),
    ("exportxattr", 1 << 5),
];

impl Manifest {
    /// The embedded plugin.toml.
    pub fn embedded() -> Result<Manifest> {
        Manifest::parse(PLUGIN_TOML)
    }

    /// Parses plugin.toml text; errors name the line and key.
    pub fn parse(text: &str) -> Result<Manifest> {
        toml::from_str(text).map_err(|e| Error::Manifest(format!("plugin.toml: {e}")))
    }

    pub fn connector(&self, kind: &str) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.kind == kind)
    }

    /// Holds the manifest to the code (see the module doc).
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Manifest(m));
        if self.version != env!("CARGO_PKG_VERSION") {
            return bad(format!(
                "plugin.toml says version {} but the crate is {}",
                self.version,
                env!("CARGO_PKG_VERSION")
            ));
        }
        if self.protocol_version != API_VERSION {
            return bad(format!(
                "plugin.toml says protocol_version {:?} but the code speaks {API_VERSION:?} \
                 (Plakar's spelling: a v, then major.minor.patch)",
                self.protocol_version
            ));
        }
        let schemes: Vec<&str> = SCHEMES.iter().map(|(s, _)| *s).collect();
        for (kind, side) in [("importer", Side::Importer), ("exporter", Side::Exporter)] {
            let Some(c) = self.connector(kind) else {
                return bad(format!("no {kind} connector"));
            };
            if c.schemes != schemes {
                return bad(format!("{kind}: schemes {:?}, code {schemes:?}", c.schemes));
            }
            for f in &c.location_flags {
                if !LOCATION_FLAGS.iter().any(|(n, _)| n == f) {
                    return bad(format!("{kind}: unknown location flag {f:?}"));
                }
            }
            let declared: Vec<&str> = c.config.iter().map(|k| k.key.as_str()).collect();
            let code: Vec<&str> = keys_for(side).map(|k| k.name).collect();
            if declared != code {
                return bad(format!(
                    "{kind}: config keys {declared:?}, code accepts {code:?}"
                ));
            }
            for (d, k) in c.config.iter().zip(keys_for(side)) {
                let kind_name = if k.boolean { "boolean" } else { "string" };
                if d.kind != kind_name || d.required != k.required || d.secret != k.secret {
                    return bad(format!(
                        "{kind}: key {}: declared {}/required={}/secret={}, code \
                         {kind_name}/required={}/secret={}",
                        d.key, d.kind, d.required, d.secret, k.required, k.secret
                    ));
                }
            }
        }
        Ok(())
    }

    /// The bits of a connector's location flags.
    pub fn flags(c: &Connector) -> u32 {
        c.location_flags
            .iter()
            .filter_map(|f| LOCATION_FLAGS.iter().find(|(n, _)| n == f))
            .map(|(_, b)| b)
            .sum()
    }

    /// JSON Schema (draft 2020-12) of one connector's config map.
    pub fn schema(c: &Connector) -> Value {
        let mut props = serde_json::Map::new();
        for k in &c.config {
            let mut p = json!({"type": "string", "description": k.description});
            if k.kind == "boolean" {
                p["enum"] = json!(["true", "false"]);
            } else if !k.values.is_empty() {
                p["enum"] = json!(k.values);
            }
            if k.secret {
                p["writeOnly"] = json!(true);
            }
            props.insert(k.key.clone(), p);
        }
        let required: Vec<&str> = c
            .config
            .iter()
            .filter(|k| k.required)
            .map(|k| k.key.as_str())
            .collect();
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": format!("secretsnap {} configuration", c.kind),
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false,
        })
    }

    pub fn schema_file(c: &Connector) -> String {
        format!("{}.schema.json", c.kind)
    }

    /// Plakar's manifest.yaml.
    pub fn plakar_yaml(&self) -> String {
        let connectors: Vec<Value> = self
            .connectors
            .iter()
            .map(|c| {
                json!({
                    "type": c.kind,
                    "class": c.class,
                    "subclass": c.subclass,
                    "validator": Manifest::schema_file(c),
                    "protocols": c.schemes,
                    "location_flags": c.location_flags,
                    "executable": c.executable,
                    "args": c.args,
                    "extra_files": [],
                })
            })
            .collect();
        let doc = json!({
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "tier": "community",
            "contact": self.contact,
            "homepage": self.homepage,
            "license": self.license,
            "tags": self.tags,
            "api_version": self.protocol_version,
            "connectors": connectors,
        });
        let yaml = serde_norway::to_string(&doc).expect("manifest serializes");
        format!(
            "# Generated from plugin.toml by `secretsnap plakar manifest`; do not edit.\n{yaml}"
        )
    }

    /// Writes manifest.yaml and the schemas into `dir`; returns the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<String>> {
        self.check()?;
        std::fs::create_dir_all(dir)?;
        let mut written = vec!["manifest.yaml".to_string()];
        std::fs::write(dir.join("manifest.yaml"), self.plakar_yaml())?;
        for c in &self.connectors {
            let name = Manifest::schema_file(c);
            let text = serde_json::to_string_pretty(&Manifest::schema(c)).expect("schema");
            std::fs::write(dir.join(&name), text + "\n")?;
            written.push(name);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_toml_matches_the_code() {
        let m = Manifest::embedded().unwrap();
        m.check().unwrap();
        assert_eq!(Manifest::flags(m.connector("importer").unwrap()), 1 << 2);
    }

    #[test]
    fn generated_manifest_says_what_plugin_toml_says() {
        let m = Manifest::embedded().unwrap();
        let yaml: Value = serde_norway::from_str(&m.plakar_yaml()).unwrap();
        assert_eq!(yaml["name"], m.name);
        assert_eq!(yaml["api_version"], m.protocol_version);
        assert_eq!(yaml["api_version"], "v1.1.0", "Plakar's own spelling");
        let cs = yaml["connectors"].as_array().unwrap();
        assert_eq!(cs.len(), m.connectors.len());
        for (y, c) in cs.iter().zip(&m.connectors) {
            assert_eq!(y["type"], c.kind);
            assert_eq!(y["class"], "security");
            assert_eq!(y["subclass"], "secret-manager");
            assert_eq!(y["protocols"], json!(c.schemes));
            assert_eq!(y["location_flags"], json!(c.location_flags));
            assert_eq!(y["executable"], c.executable);
            assert_eq!(y["args"], json!(c.args));
            let schema = Manifest::schema(c);
            let props = schema["properties"].as_object().unwrap();
            let keys: Vec<&String> = props.keys().collect();
            let declared: Vec<&String> = c.config.iter().map(|k| &k.key).collect();
            assert_eq!(keys, declared);
            assert_eq!(schema["required"], json!(["location"]));
        }
        let dir = std::env::temp_dir().join(format!("secretsnap-manifest-{}", std::process::id()));
        let files = m.write(&dir).unwrap();
        assert_eq!(
            files,
            [
                "manifest.yaml",
                "importer.schema.json",
                "exporter.schema.json"
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn drift_is_caught_with_line_numbers() {
        let broken = PLUGIN_TOML.replace("key = \"dry_run\"", "key = \"dryrun\"");
        let err = Manifest::parse(&broken)
            .unwrap()
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("dryrun"), "{err}");
        let err = Manifest::parse("name = 3\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
