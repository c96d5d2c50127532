//! KV v2 metadata ↔ the core model, and the placement of a KV path in folders.
//!
//! - A KV path `app/db` is folder `/app`, name `db`.
//! - The secret id is `path@created_time`: a path deleted and written again starts its version
//!   numbers from 1 again, so the path alone would let an incremental backup take a new version 1
//!   for the old one. The metadata's creation time tells the two lives apart.
//! - Versions keep their numbers as ids. A live version is `enabled`; a soft-deleted one
//!   (`deletion_time` in the past, `undelete` brings it back) is `disabled`; a destroyed one
//!   (data gone for good) is `deleted`.
//! - `custom_metadata` entries are tags `key=value`; `max_versions`, `cas_required` and
//!   `delete_version_after` are extras under keys this crate owns (`vault.max_versions`, …).

use chrono::{DateTime, Utc};
use secretsnap_core::model::parse_time;
use secretsnap_core::{Location, Secret, Version, VersionStatus};
use serde_json::{json, Map, Value};

/// The one type a KV secret has: a JSON object.
pub const KIND: &str = "kv";

/// Extras carrying the path's own settings.
pub const MAX_VERSIONS: &str = "vault.max_versions";
pub const CAS_REQUIRED: &str = "vault.cas_required";
pub const DELETE_AFTER: &str = "vault.delete_version_after";

/// A mount or KV path as it goes into a request's path: every byte but unreserved characters
/// and `/` percent-encoded, so a key holding `?`, `#`, `%` or a space names itself (the server
/// decodes the path before it looks the key up).
pub fn esc(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `app/db` → (`/app`, `db`).
pub fn split(kv_path: &str) -> (String, String) {
    let p = kv_path.trim_matches('/');
    match p.rsplit_once('/') {
        Some((folder, name)) => (format!("/{folder}"), name.to_string()),
        None => ("/".into(), p.to_string()),
    }
}

/// (`/app`, `db`) → `app/db`.
pub fn join(path: &str, name: &str) -> String {
    let folder = path.trim_matches('/');
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    }
}

/// A listed secret: its place only (the metadata is read by `fetch`).
pub fn listed(location: &Location, kv_path: &str) -> Secret {
    let (path, name) = split(kv_path);
    Secret {
        location: Some(location.clone()),
        id: kv_path.to_string(),
        name,
        path,
        kind: KIND.into(),
        ..Default::default()
    }
}

/// The one version of a KV v1 path: its value, numbered 1 (v1 keeps no history, no times).
pub fn v1_version(value: zeroize::Zeroizing<Vec<u8>>) -> Version {
    Version {
        id: "1".into(),
        status: VersionStatus::Enabled,
        payload: secretsnap_core::Payload::Bytes(value),
        ..Default::default()
    }
}

/// Fills `s` from `GET metadata/P`'s `data`: id, times, tags, settings and every version
/// (oldest first), values not read. `now` tells a soft delete already done from one
/// scheduled by `delete_version_after`.
pub fn metadata(s: &mut Secret, m: &Value, now: DateTime<Utc>) {
    let text = |k: &str| m[k].as_str().unwrap_or_default().to_string();
    let created = text("created_time");
    s.id = format!("{}@{created}", join(&s.path, &s.name));
    s.created_at = parse_time(&created);
    s.updated_at = parse_time(&text("updated_time"));
    s.tags = match &m["custom_metadata"] {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    };
    for (key, field) in [
        (MAX_VERSIONS, "max_versions"),
        (CAS_REQUIRED, "cas_required"),
        (DELETE_AFTER, "delete_version_after"),
    ] {
        if !m[field].is_null() {
            s.extras.insert(key.into(), m[field].clone());
        }
    }
    let mut versions: Vec<(u64, Version)> = m["versions"]
        .as_object()
        .map(|vs| {
            vs.iter()
                .filter_map(|(n, v)| Some((n.parse::<u64>().ok()?, version(n, v, now))))
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|(n, _)| *n);
    s.versions = versions.into_iter().map(|(_, v)| v).collect();
}

fn version(n: &str, v: &Value, now: DateTime<Utc>) -> Version {
    let deletion = v["deletion_time"].as_str().unwrap_or_default();
    // An unparsable time is taken as past: the value is then not read, never misread.
    let when = DateTime::parse_from_rfc3339(deletion).map(|t| t.with_timezone(&Utc));
    let past = !deletion.is_empty() && when.as_ref().map_or(true, |t| *t <= now);
    let status = if v["destroyed"] == true {
        VersionStatus::Deleted
    } else if past {
        VersionStatus::Disabled
    } else {
        VersionStatus::Enabled
    };
    let mut out = Version {
        id: n.to_string(),
        created_at: v["created_time"].as_str().and_then(parse_time),
        status,
        ..Default::default()
    };
    if !deletion.is_empty() && !past {
        out.extras
            .insert("vault.deletion_time".into(), json!(deletion));
    }
    out
}

/// The metadata body that gives a path `s`'s settings and tags (plus `extra` tags).
pub fn metadata_body(s: &Secret, tags: &[String]) -> Value {
    let mut custom = Map::new();
    for t in tags {
        let (k, v) = t.split_once('=').unwrap_or((t.as_str(), ""));
        custom.insert(k.to_string(), json!(v));
    }
    let mut body = json!({ "custom_metadata": custom });
    for (key, field) in [
        (MAX_VERSIONS, "max_versions"),
        (CAS_REQUIRED, "cas_required"),
        (DELETE_AFTER, "delete_version_after"),
    ] {
        if let Some(v) = s.extras.get(key) {
            body[field] = v.clone();
        }
    }
    body
}

/// A value as a KV object: a JSON object is kept exactly; any other UTF-8 text is wrapped as
/// `{"value": text}` (and `true` is returned, for the plan's note); bytes that are not UTF-8
/// cannot be held (`None`).
pub fn as_object(bytes: &[u8]) -> Option<(Value, bool)> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Some((v, false)),
        _ => std::str::from_utf8(bytes)
            .ok()
            .map(|t| (json!({ "value": t }), true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_and_join() {
        assert_eq!(split("app/db"), ("/app".into(), "db".into()));
        assert_eq!(split("a/b/c"), ("/a/b".into(), "c".into()));
        assert_eq!(split("top"), ("/".into(), "top".into()));
        assert_eq!(join("/a/b", "c"), "a/b/c");
        assert_eq!(join("/", "top"), "top");
    }

    #[test]
    fn version_states_and_ids() {
        let m = json!({
            "created_time": "2026-01-01T00:00:00.1Z", "updated_time": "2026-01-02T00:00:00Z",
            "custom_metadata": {"team": "payments"}, "max_versions": 5, "cas_required": true,
            "delete_version_after": "0s",
            "versions": {
                "10": {"created_time": "t10", "deletion_time": "", "destroyed": false},
                "2": {"created_time": "t2", "deletion_time": "2026-01-01T00:00:01Z", "destroyed": false},
                "1": {"created_time": "t1", "deletion_time": "", "destroyed": true},
                "3": {"created_time": "t3", "deletion_time": "2999-01-01T00:00:00Z", "destroyed": false}
            }
        });
        let mut s = listed(
            &Location {
                provider: "vault".into(),
                region: "secret".into(),
                scope: String::new(),
            },
            "app/db",
        );
        let now = DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z").unwrap();
        metadata(&mut s, &m, now.with_timezone(&Utc));
        assert_eq!(s.id, "app/db@2026-01-01T00:00:00.1Z");
        assert_eq!(s.tags, ["team=payments"]);
        let ids: Vec<&str> = s.versions.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "10"]);
        let states: Vec<&str> = s.versions.iter().map(|v| v.status.as_str()).collect();
        assert_eq!(states, ["deleted", "disabled", "enabled", "enabled"]);
        let body = metadata_body(&s, &s.tags);
        assert_eq!(body["max_versions"], 5);
        assert_eq!(body["cas_required"], true);
        assert_eq!(body["custom_metadata"]["team"], "payments");
    }

    #[test]
    fn values_become_objects() {
        let (v, wrapped) = as_object(br#"{"n": 1.5, "ok": true, "a": [1, {"b": null}]}"#).unwrap();
        assert!(!wrapped);
        assert_eq!(v["a"][1]["b"], Value::Null);
        let (v, wrapped) = as_object(b"plain text").unwrap();
        assert!(wrapped);
        assert_eq!(v["value"], "plain text");
        assert!(as_object(&[0xff, 0xfe]).is_none());
    }
}
