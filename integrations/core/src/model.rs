//! The provider-neutral model of a secret and its versions. What more than one crate reads is a
//! typed field: times, the binary flag, the resource policy, replicas, rotation, what a listing
//! said and when the secret was last read in full. What only one provider understands stays in
//! `extras`, an opaque value only that provider's crate reads, so nothing is lost when a snapshot
//! is restored to the same provider. Records written before these fields were typed (format 1)
//! kept them in `extras`; [`Secret::upgrade`] moves them into the fields.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

/// Where secrets live: provider, region, scope (Scaleway project id, AWS account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub provider: String,
    pub region: String,
    pub scope: String,
}

impl Location {
    /// `scaleway://fr-par/<project>`.
    pub fn url(&self) -> String {
        if self.scope.is_empty() {
            format!("{}://{}", self.provider, self.region)
        } else {
            format!("{}://{}/{}", self.provider, self.region, self.scope)
        }
    }
}

/// A version's value, or why it was not read.
#[derive(Clone, Default)]
pub enum Payload {
    /// The bytes (zeroized on drop).
    Bytes(Zeroizing<Vec<u8>>),
    /// Already held by the repository (incremental backup): not read again.
    Known,
    /// Deliberately not read, with the reason (disabled, read-once, scheduled for deletion).
    NotRead(String),
    /// Reading failed (the run is partial and names this version).
    Failed(String),
    /// Held by the repository and deliberately not loaded, with its size: a dry run plans from
    /// this (sizes, which versions have a value) without reading any value.
    Stored(u64),
    /// Not carried in this value (metadata-only views).
    #[default]
    Absent,
}

impl Payload {
    /// The value's size when there is one, loaded (`Bytes`) or not (`Stored`).
    pub fn value_len(&self) -> Option<u64> {
        match self {
            Payload::Bytes(b) => Some(b.len() as u64),
            Payload::Stored(n) => Some(*n),
            _ => None,
        }
    }

    /// A value the restore will have: loaded, or in the repository and loaded when applied.
    pub fn has_value(&self) -> bool {
        self.value_len().is_some()
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Payload::Known => f.write_str("Known"),
            Payload::Stored(n) => write!(f, "Stored({n} bytes)"),
            Payload::NotRead(r) => write!(f, "NotRead({r})"),
            Payload::Failed(r) => write!(f, "Failed({r})"),
            Payload::Absent => f.write_str("Absent"),
        }
    }
}

/// A version's state at the provider. Stored in snapshots as the provider's own word
/// (`enabled`, `disabled`, `scheduled_for_deletion`, `deleted`, `pending`); a word we do not know
/// is kept verbatim in `Other`, so nothing is lost and nothing is guessed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VersionStatus {
    /// Readable (AWS: every version with a value).
    #[default]
    Enabled,
    /// Scaleway: not readable until enabled again.
    Disabled,
    /// Scaleway: deletion requested; no value can be read.
    ScheduledForDeletion,
    /// Scaleway: deleted; metadata only.
    Deleted,
    /// AWS: a labelled version without a value (a rotation that never completed).
    Pending,
    /// Any other word the provider used.
    Other(String),
}

impl VersionStatus {
    pub fn as_str(&self) -> &str {
        match self {
            VersionStatus::Enabled => "enabled",
            VersionStatus::Disabled => "disabled",
            VersionStatus::ScheduledForDeletion => "scheduled_for_deletion",
            VersionStatus::Deleted => "deleted",
            VersionStatus::Pending => "pending",
            VersionStatus::Other(s) => s,
        }
    }

    /// Enabled or disabled: a version whose value exists and can be restored.
    pub fn restorable(&self) -> bool {
        matches!(self, VersionStatus::Enabled | VersionStatus::Disabled)
    }
}

impl From<&str> for VersionStatus {
    fn from(s: &str) -> Self {
        match s {
            "enabled" => VersionStatus::Enabled,
            "disabled" => VersionStatus::Disabled,
            "scheduled_for_deletion" => VersionStatus::ScheduledForDeletion,
            "deleted" => VersionStatus::Deleted,
            "pending" => VersionStatus::Pending,
            other => VersionStatus::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for VersionStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for VersionStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VersionStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(VersionStatus::from(String::deserialize(d)?.as_str()))
    }
}

/// A time as records hold it: RFC 3339 (any precision), or none. Format-1 records wrote an
/// absent time as `""`; a text that is not a time is read as none rather than failing the record
/// (no restore depends on it).
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.and_then(|t| {
        DateTime::parse_from_rfc3339(&t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }))
}

/// A time as providers print it, kept to the microsecond: RFC 3339 in UTC, fraction digits as
/// needed (`2026-07-01T10:00:00.123456Z`).
pub fn show_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 time as a provider sends it; `None` for anything else.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One version of a secret.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Version {
    /// Provider version id: Scaleway revision ("3"), AWS VersionId.
    pub id: String,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    pub status: VersionStatus,
    pub description: String,
    /// AWS staging labels; empty for Scaleway.
    pub labels: Vec<String>,
    pub ephemeral: Option<serde_json::Value>,
    /// Whether the value was binary at its source (a provider that tells binary from text);
    /// only reading the value tells, so an incremental backup carries it from the recorded
    /// version (`carry_learned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<bool>,
    /// What only the version's provider understands (read by its crate alone).
    pub extras: BTreeMap<String, serde_json::Value>,
    /// Why the value is missing from the snapshot, if it is: the stored form of
    /// `Payload::NotRead` and `Payload::Failed` (the payload itself never enters a record).
    /// Connectors set both through `Version::not_read_because` and `Version::failed`.
    pub not_read: Option<String>,
    #[serde(skip)]
    pub payload: Payload,
}

impl Version {
    /// The version's part of [`Secret::upgrade`]: the binary flag out of `extras`.
    pub fn upgrade(&mut self) {
        if let Some(b) = self.extras.remove(LEGACY_BINARY) {
            match b.as_bool() {
                Some(b) => {
                    self.binary.get_or_insert(b);
                }
                None => {
                    self.extras.insert(LEGACY_BINARY.into(), b);
                }
            }
        }
    }

    /// The value was deliberately not read, for `why` (recorded in the snapshot).
    pub fn not_read_because(&mut self, why: impl Into<String>) {
        let why = why.into();
        self.not_read = Some(why.clone());
        self.payload = Payload::NotRead(why);
    }

    /// Reading the value failed, for `reason` (the run is partial and names this version).
    pub fn failed(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        self.not_read = Some(format!("read failed: {reason}"));
        self.payload = Payload::Failed(reason);
    }

    /// Copies what reading the value taught (whether it is binary) from the version the
    /// repository recorded, where this listing does not say it itself.
    pub fn carry_learned(&mut self, recorded: &Version) {
        if self.binary.is_none() {
            self.binary = recorded.binary;
        }
    }
}

/// A secret with its versions (oldest first).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Secret {
    pub location: Option<Location>,
    /// Provider id (Scaleway uuid, AWS ARN).
    pub id: String,
    pub name: String,
    /// Folder (Scaleway `path`); `/` where the provider has none.
    pub path: String,
    /// Scaleway secret type (opaque, key_value, …); AWS: "string" or "binary".
    pub kind: String,
    pub description: String,
    pub tags: Vec<String>,
    pub protected: bool,
    pub ephemeral_policy: Option<serde_json::Value>,
    pub key_id: Option<String>,
    pub managed: bool,
    pub used_by: Vec<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub deletion_requested_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// A resource policy document attached to the secret (providers with policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy: Option<String>,
    /// The regions the provider replicated the secret to (providers with replication).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Replica>,
    /// Automatic rotation as configured at the source (providers with rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// What the source's listing said about the secret, for list-only incremental runs
    /// (`unchanged`): compared as a whole, made by the source's crate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<serde_json::Value>,
    /// When the secret was last read in full (`unchanged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<DateTime<Utc>>,
    /// What only the secret's provider understands (read by its crate alone).
    pub extras: BTreeMap<String, serde_json::Value>,
    pub versions: Vec<Version>,
}

/// A replica of a secret in another region: the region, and what else the provider says of it
/// (its own fields, read by its crate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub region: String,
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Automatic rotation at the source: whether it is on, and the provider's own settings (what
/// rotates it, the schedule), read by its crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rotation {
    pub enabled: bool,
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// The keys format-1 records used in `extras` for what is now typed.
const LEGACY_POLICY: &str = "resource_policy";
const LEGACY_REPLICAS: &str = "replicas";
const LEGACY_ROTATION: &str = "rotation";
const LEGACY_LISTED: &str = "listed";
const LEGACY_SCANNED_AT: &str = "scanned_at";
const LEGACY_BINARY: &str = "binary";

impl Secret {
    /// The regions the provider replicated this secret to; empty when it has none.
    pub fn replica_regions(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.region.clone()).collect()
    }

    /// Moves what format-1 records kept in `extras` into the typed fields (idempotent): the
    /// resource policy, replicas, rotation, the listing, when it was last read in full, and each
    /// version's binary flag. A value of an unexpected shape stays in `extras`.
    pub fn upgrade(&mut self) {
        let x = &mut self.extras;
        if let Some(serde_json::Value::String(p)) = x.remove(LEGACY_POLICY) {
            self.resource_policy.get_or_insert(p);
        }
        if let Some(r) = x.remove(LEGACY_REPLICAS) {
            match serde_json::from_value::<Vec<Replica>>(r.clone()) {
                Ok(list) if self.replicas.is_empty() => self.replicas = list,
                Ok(_) => {}
                Err(_) => {
                    x.insert(LEGACY_REPLICAS.into(), r);
                }
            }
        }
        if let Some(r) = x.remove(LEGACY_ROTATION) {
            let mut details = match r {
                serde_json::Value::Object(m) => m,
                other => {
                    x.insert(LEGACY_ROTATION.into(), other);
                    serde_json::Map::new()
                }
            };
            if !details.is_empty() && self.rotation.is_none() {
                let enabled = details.remove("enabled").and_then(|e| e.as_bool()) == Some(true);
                self.rotation = Some(Rotation { enabled, details });
            }
        }
        if let Some(l) = x.remove(LEGACY_LISTED) {
            self.listing.get_or_insert(l);
        }
        if let Some(t) = x.remove(LEGACY_SCANNED_AT) {
            if self.scanned_at.is_none() {
                self.scanned_at = t.as_str().and_then(parse_time);
            }
        }
        for v in &mut self.versions {
            v.upgrade();
        }
    }

    /// `path/name` with a single slash.
    pub fn full_name(&self) -> String {
        if self.path == "/" || self.path.is_empty() {
            format!("/{}", self.name)
        } else {
            format!("{}/{}", self.path, self.name)
        }
    }

    /// Identity of one version for incremental backups; never contains a value. Provider
    /// version ids are immutable and never reused within a secret (Scaleway revisions, AWS
    /// VersionIds), and secret ids are never reused (uuids, ARNs with a random suffix).
    pub fn item_key(&self, v: &Version) -> String {
        let loc = self
            .location
            .as_ref()
            .map(Location::url)
            .unwrap_or_default();
        format!("{loc}/{}/{}", self.id, v.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format-1 record (typed facts in `extras`, times as text, `""` for none) reads into
    /// the typed fields; what is not a typed fact stays in `extras`; the result writes and reads
    /// back unchanged.
    #[test]
    fn a_format_1_record_upgrades_into_the_typed_fields() {
        let old = serde_json::json!({
            "location": null, "id": "s1", "name": "db", "path": "/", "kind": "string",
            "description": "", "tags": [], "protected": false, "ephemeral_policy": null,
            "key_id": null, "managed": false, "used_by": [],
            "deletion_requested_at": null,
            "created_at": "2026-07-01T10:00:00.123456Z", "updated_at": "",
            "extras": {
                "resource_policy": "{\"Version\":\"2012-10-17\"}",
                "replicas": [{"region": "eu-west-3", "status": "InSync", "key": null}],
                "rotation": {"enabled": true, "every": 30},
                "listed": {"stages": {"v1": ["CURRENT"]}},
                "scanned_at": "2026-12-01T00:00:00Z",
                "own": "kept"
            },
            "versions": [{
                "id": "v1", "created_at": "", "status": "enabled", "description": "",
                "labels": ["CURRENT"], "ephemeral": null,
                "extras": {"binary": true, "other": 1}, "not_read": null
            }]
        });
        let mut s: Secret = serde_json::from_value(old).unwrap();
        s.upgrade();
        assert_eq!(s.created_at, parse_time("2026-07-01T10:00:00.123456Z"));
        assert_eq!(s.updated_at, None);
        assert_eq!(
            s.resource_policy.as_deref(),
            Some("{\"Version\":\"2012-10-17\"}")
        );
        assert_eq!(s.replica_regions(), ["eu-west-3"]);
        assert_eq!(s.replicas[0].details["status"], "InSync");
        let rotation = s.rotation.as_ref().unwrap();
        assert!(rotation.enabled);
        assert_eq!(rotation.details["every"], 30);
        assert!(s.listing.is_some());
        assert_eq!(s.scanned_at, parse_time("2026-12-01T00:00:00Z"));
        assert_eq!(s.extras.keys().collect::<Vec<_>>(), ["own"]);
        assert_eq!(s.versions[0].binary, Some(true));
        assert_eq!(s.versions[0].created_at, None);
        assert_eq!(s.versions[0].extras.keys().collect::<Vec<_>>(), ["other"]);
        let again: Secret = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::to_value(&s).unwrap()
        );
        assert_eq!(
            serde_json::to_value(&s).unwrap()["created_at"],
            "2026-07-01T10:00:00.123456Z",
            "times keep their microseconds"
        );
        let mut twice = s.clone();
        twice.upgrade();
        assert_eq!(
            serde_json::to_value(&twice).unwrap(),
            serde_json::to_value(&s).unwrap()
        );
    }

    #[test]
    fn version_status_keeps_the_providers_word() {
        for word in [
            "enabled",
            "disabled",
            "scheduled_for_deletion",
            "deleted",
            "pending",
            "archived",
        ] {
            let status = VersionStatus::from(word);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{word}\""));
            assert_eq!(
                serde_json::from_str::<VersionStatus>(&json).unwrap(),
                status
            );
        }
        assert_eq!(
            VersionStatus::from("archived"),
            VersionStatus::Other("archived".into())
        );
        assert!(VersionStatus::Disabled.restorable() && !VersionStatus::Pending.restorable());
    }
}
