//! What a snapshot holds, without a single value: `ls` lists secrets and versions (metadata,
//! sizes, why a value is missing), `diff` compares two snapshots secret by secret. Content changes
//! are detected by the store's keyed chunk ids, never by decrypting or hashing values, and
//! provider checksums (Scaleway's CRC32 of a value) are left out of every view: a 32-bit checksum
//! of a short password is as good as the password.

use std::collections::BTreeMap;

use secretsnap_core::model::show_time;
use secretsnap_core::{Secret, Version};
use secretsnap_store::{Entry, Id, Repository};
use serde::Serialize;

use super::records::secrets_from_entries;
use super::Error;

/// One version as listed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VersionView {
    pub id: String,
    pub status: String,
    pub created_at: String,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Value size in bytes, when the value is in the snapshot.
    pub size: Option<u64>,
    /// Why the value is not in the snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_read: Option<String>,
    #[serde(skip)]
    content: Vec<Id>,
}

/// One secret as listed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SecretView {
    /// `path/name`.
    pub secret: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub tags: Vec<String>,
    pub protected: bool,
    pub managed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_requested_at: Option<String>,
    /// Regions the provider replicated the secret to (AWS).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<String>,
    pub versions: Vec<VersionView>,
}

fn version_view(v: &Version, e: Option<&Entry>) -> VersionView {
    VersionView {
        id: v.id.clone(),
        status: v.status.to_string(),
        created_at: v.created_at.as_ref().map(show_time).unwrap_or_default(),
        description: v.description.clone(),
        labels: v.labels.clone(),
        size: e.map(|e| e.size),
        not_read: v.not_read.clone(),
        content: e.map(|e| e.chunks.clone()).unwrap_or_default(),
    }
}

/// The listing of one secret; `contents` are its versions' entries where the snapshot holds a
/// value (`None` each for a live secret).
pub fn secret_view(s: &Secret, contents: &[Option<Entry>]) -> SecretView {
    SecretView {
        secret: s.full_name(),
        id: s.id.clone(),
        kind: s.kind.clone(),
        description: s.description.clone(),
        tags: s.tags.clone(),
        protected: s.protected,
        managed: !s.used_by.is_empty(),
        deletion_requested_at: s.deletion_requested_at.as_ref().map(show_time),
        replicas: s.replica_regions(),
        versions: s
            .versions
            .iter()
            .zip(contents)
            .map(|(v, e)| version_view(v, e.as_ref()))
            .collect(),
    }
}

/// Secrets and versions of a snapshot, by `path/name`.
pub async fn list(repo: &Repository, snapshot: &Id) -> Result<Vec<SecretView>, Error> {
    let header = super::records::header(repo, snapshot).await?;
    let entries = repo.entries(&header).await?;
    Ok(secrets_from_entries(entries)
        .map_err(Error::Snapshot)?
        .iter()
        .map(|(s, c)| secret_view(s, c))
        .collect())
}

/// A changed field: name, before, after (metadata only).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// How one version differs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VersionChange {
    pub version: String,
    pub changes: Vec<FieldChange>,
    /// The value differs (same version id, other content: only possible across sources).
    pub content_changed: bool,
}

/// How one secret present in both snapshots differs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SecretChange {
    pub secret: String,
    pub changes: Vec<FieldChange>,
    pub versions_added: Vec<String>,
    pub versions_removed: Vec<String>,
    pub versions_changed: Vec<VersionChange>,
}

/// The difference between two snapshots.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<SecretChange>,
    pub unchanged: usize,
}

fn field_changes(pairs: &[(&str, String, String)]) -> Vec<FieldChange> {
    pairs
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(f, a, b)| FieldChange {
            field: f.to_string(),
            before: a.clone(),
            after: b.clone(),
        })
        .collect()
}

fn compare_secret(a: &SecretView, b: &SecretView) -> Option<SecretChange> {
    let changes = field_changes(&[
        ("type", a.kind.clone(), b.kind.clone()),
        ("description", a.description.clone(), b.description.clone()),
        ("tags", a.tags.join(","), b.tags.join(",")),
        ("replicas", a.replicas.join(","), b.replicas.join(",")),
        (
            "protected",
            a.protected.to_string(),
            b.protected.to_string(),
        ),
        (
            "deletion_requested_at",
            a.deletion_requested_at.clone().unwrap_or_default(),
            b.deletion_requested_at.clone().unwrap_or_default(),
        ),
    ]);
    let before: BTreeMap<&str, &VersionView> =
        a.versions.iter().map(|v| (v.id.as_str(), v)).collect();
    let after: BTreeMap<&str, &VersionView> =
        b.versions.iter().map(|v| (v.id.as_str(), v)).collect();
    let versions_added: Vec<String> = b
        .versions
        .iter()
        .filter(|v| !before.contains_key(v.id.as_str()))
        .map(|v| v.id.clone())
        .collect();
    let versions_removed: Vec<String> = a
        .versions
        .iter()
        .filter(|v| !after.contains_key(v.id.as_str()))
        .map(|v| v.id.clone())
        .collect();
    let mut versions_changed = Vec::new();
    for v in &a.versions {
        let Some(w) = after.get(v.id.as_str()) else {
            continue;
        };
        let changes = field_changes(&[
            ("status", v.status.clone(), w.status.clone()),
            ("description", v.description.clone(), w.description.clone()),
            ("labels", v.labels.join(","), w.labels.join(",")),
            (
                "in snapshot",
                v.not_read.clone().unwrap_or_else(|| "value".into()),
                w.not_read.clone().unwrap_or_else(|| "value".into()),
            ),
        ]);
        let content_changed =
            v.size.is_some() && w.size.is_some() && (v.content != w.content || v.size != w.size);
        if !changes.is_empty() || content_changed {
            versions_changed.push(VersionChange {
                version: v.id.clone(),
                changes,
                content_changed,
            });
        }
    }
    let unchanged = changes.is_empty()
        && versions_added.is_empty()
        && versions_removed.is_empty()
        && versions_changed.is_empty();
    (!unchanged).then(|| SecretChange {
        secret: a.secret.clone(),
        changes,
        versions_added,
        versions_removed,
        versions_changed,
    })
}

/// Compares two listings by `path/name`.
pub fn diff_views(a: &[SecretView], b: &[SecretView]) -> Diff {
    let left: BTreeMap<&str, &SecretView> = a.iter().map(|s| (s.secret.as_str(), s)).collect();
    let right: BTreeMap<&str, &SecretView> = b.iter().map(|s| (s.secret.as_str(), s)).collect();
    let mut d = Diff::default();
    for (name, s) in &left {
        match right.get(name) {
            None => d.removed.push(name.to_string()),
            Some(t) => match compare_secret(s, t) {
                Some(c) => d.changed.push(c),
                None => d.unchanged += 1,
            },
        }
    }
    d.added = right
        .keys()
        .filter(|n| !left.contains_key(*n))
        .map(|n| n.to_string())
        .collect();
    d
}

/// Compares two snapshots.
pub async fn diff(repo: &Repository, a: &Id, b: &Id) -> Result<Diff, Error> {
    Ok(diff_views(&list(repo, a).await?, &list(repo, b).await?))
}
