//! The provider-neutral model of a secret and its versions. Provider-specific fields stay in the
//! provider's shape (Scaleway's tag list, AWS's labels) and anything without a common home goes to
//! `extras`, so nothing is lost when a snapshot is restored to the same provider.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
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

/// One version of a secret.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Version {
    /// Provider version id: Scaleway revision ("3"), AWS VersionId.
    pub id: String,
    pub created_at: String,
    pub status: VersionStatus,
    pub description: String,
    /// AWS staging labels; empty for Scaleway.
    pub labels: Vec<String>,
    pub ephemeral: Option<serde_json::Value>,
    pub extras: BTreeMap<String, serde_json::Value>,
    /// Why the value is missing from the snapshot, if it is: the stored form of
    /// `Payload::NotRead` and `Payload::Failed` (the payload itself never enters a record).
    /// Connectors set both through `Version::not_read_because` and `Version::failed`.
    pub not_read: Option<String>,
    #[serde(skip)]
    pub payload: Payload,
}

/// Version `extras` that only reading the value reveals (AWS: whether it is SecretBinary). An
/// incremental backup does not read a known value again, so it copies these from the version
/// the repository recorded; without that, later snapshots would forget them.
pub const LEARNED_FROM_VALUE: &[&str] = &["binary"];

impl Version {
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

    /// Copies what reading the value taught (`LEARNED_FROM_VALUE`) from the version the
    /// repository recorded, where this listing does not say it itself.
    pub fn carry_learned(&mut self, recorded: &Version) {
        for key in LEARNED_FROM_VALUE {
            if let Some(v) = recorded.extras.get(*key) {
                self.extras
                    .entry((*key).to_string())
                    .or_insert_with(|| v.clone());
            }
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
    pub deletion_requested_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub extras: BTreeMap<String, serde_json::Value>,
    pub versions: Vec<Version>,
}

impl Secret {
    /// The regions the provider replicated this secret to (`extras.replicas[].region`, recorded
    /// by a provider with replication); empty when it has none. What else a replica carries is
    /// the provider's to read.
    pub fn replica_regions(&self) -> Vec<String> {
        let Some(list) = self.extras.get("replicas").and_then(|r| r.as_array()) else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|r| Some(r.get("region")?.as_str()?.to_string()))
            .collect()
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
