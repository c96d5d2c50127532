//! Scaleway wire JSON → the shared model. Everything without a common home is kept in `extras`.

use secretsnap_core::{Location, Secret, Version};
use serde_json::Value;

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    v[k].as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn secret(v: &Value, location: &Location) -> Secret {
    let mut extras = std::collections::BTreeMap::new();
    for k in ["status", "region", "version_count"] {
        if !v[k].is_null() {
            extras.insert(k.to_string(), v[k].clone());
        }
    }
    Secret {
        location: Some(location.clone()),
        id: s(v, "id"),
        name: s(v, "name"),
        path: v["path"].as_str().unwrap_or("/").to_string(),
        kind: v["type"].as_str().unwrap_or("opaque").to_string(),
        description: s(v, "description"),
        tags: strings(v, "tags"),
        protected: v["protected"].as_bool().unwrap_or(false),
        ephemeral_policy: Some(v["ephemeral_policy"].clone()).filter(|p| !p.is_null()),
        key_id: v["key_id"].as_str().map(String::from),
        managed: v["managed"].as_bool().unwrap_or(false),
        used_by: strings(v, "used_by"),
        deletion_requested_at: time(v, "deletion_requested_at"),
        created_at: time(v, "created_at"),
        updated_at: time(v, "updated_at"),
        extras,
        ..Default::default()
    }
}

pub fn version(v: &Value) -> Version {
    let mut extras = std::collections::BTreeMap::new();
    for k in ["updated_at", "deletion_requested_at"] {
        if !v[k].is_null() {
            extras.insert(k.to_string(), v[k].clone());
        }
    }
    Version {
        id: v["revision"]
            .as_u64()
            .map(|r| r.to_string())
            .unwrap_or_default(),
        created_at: time(v, "created_at"),
        status: s(v, "status").as_str().into(),
        description: s(v, "description"),
        labels: Vec::new(),
        ephemeral: Some(v["ephemeral_properties"].clone()).filter(|p| !p.is_null()),
        extras,
        ..Default::default()
    }
}

/// A time field of an API object (RFC 3339, 6 fraction digits), if set.
fn time(v: &Value, key: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    v[key].as_str().and_then(secretsnap_core::model::parse_time)
}
