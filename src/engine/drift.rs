//! Drift: what changed at a source since a snapshot, from metadata calls only. The source is
//! listed and each secret fetched with every version answered "already held", so no value is
//! read (a Scaleway `access`, an AWS `GetSecretValue` never happens); the live secrets are then
//! compared with the snapshot's like `diff` compares two snapshots: secrets added or removed,
//! versions added, removed or changed in status or labels, tags, descriptions, protection,
//! replicas. A value changed in place cannot be seen without reading it; neither provider lets
//! a version's value change, so a changed value always shows as a new version.

use std::collections::HashMap;

use futures::StreamExt;
use secretsnap_core::fetch::fetch_each;
use secretsnap_core::{Filter, ItemFailure, Secret, Source, Version, VersionStatus};
use secretsnap_store::{Id, Repository};
use serde::Serialize;

use super::inventory::{diff_views, secret_view, Diff, SecretView};
use super::records::secrets_from_entries;
use super::Error;

/// What `drift` found.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// The snapshot compared with.
    pub snapshot: Id,
    pub source: String,
    pub diff: Diff,
    /// Secrets whose metadata could not be read (they count as drift: unknown is not equal).
    pub failed: Vec<ItemFailure>,
    /// API calls made (metadata only).
    pub api_calls: u64,
}

impl DriftReport {
    /// Whether the source differs from the snapshot (or could not be fully read).
    pub fn drifted(&self) -> bool {
        !(self.diff.added.is_empty()
            && self.diff.removed.is_empty()
            && self.diff.changed.is_empty()
            && self.failed.is_empty())
    }
}

/// Compares the live `source` (under `filter`) with `snapshot`, reading no value.
pub async fn drift(
    repo: &Repository,
    snapshot: &Id,
    source: &dyn Source,
    filter: &Filter,
    concurrency: usize,
) -> Result<DriftReport, Error> {
    let header = super::records::header(repo, snapshot).await?;
    let entries = repo.entries(&header).await?;
    let stored = secrets_from_entries(entries).map_err(Error::Snapshot)?;
    let before: Vec<SecretView> = stored.iter().map(|(s, c)| secret_view(s, c)).collect();
    // Every version "already held" (as recorded, so what a read once taught is carried, e.g. a
    // binary value): the connectors then read metadata and never a value.
    let recorded: HashMap<String, Version> = stored
        .iter()
        .flat_map(|(s, _)| s.versions.iter().map(move |v| (s.item_key(v), v.clone())))
        .collect();
    let held = |key: &str| Some(recorded.get(key).cloned().unwrap_or_default());
    let filter = Filter {
        read_disabled: false,
        read_once: false,
        ..filter.clone()
    };
    let listed = source.list(&filter).await?;
    let mut after = Vec::new();
    let mut failed = Vec::new();
    let mut fetched = fetch_each(source, listed, &filter, &held, concurrency, |_| ());
    while let Some((_, r)) = fetched.next().await {
        match r {
            Ok(s) => after.push(secret_view(&s, &vec![None; s.versions.len()])),
            Err(f) => failed.push(f),
        }
    }
    // A listing may lag (AWS: ListSecrets is eventually consistent, DescribeSecret is current):
    // a secret it does not show is confirmed gone by reading it before it is called removed.
    let listed_names: std::collections::HashSet<&str> =
        after.iter().map(|a| a.secret.as_str()).collect();
    let unlisted: Vec<_> = stored
        .iter()
        .filter(|(s, _)| filter.matches(s) && !listed_names.contains(s.full_name().as_str()))
        .filter(|(s, _)| !failed.iter().any(|f| f.item == s.full_name()))
        .map(|(s, _)| Secret {
            versions: Vec::new(),
            ..s.clone()
        })
        .collect();
    let mut still_there = Vec::new();
    let mut confirming = fetch_each(source, unlisted, &filter, &held, concurrency, |_| ());
    while let Some((_, r)) = confirming.next().await {
        if let Ok(s) = r {
            still_there.push(secret_view(&s, &vec![None; s.versions.len()]));
        }
    }
    drop(confirming);
    after.extend(still_there);
    // Whether a value is in the snapshot is not the source's business: compare the rest. And
    // "pending" (AWS: a labelled version whose value never came) is learned only by trying to
    // read the value, which drift never does; a completed rotation shows as moved labels.
    let pending = VersionStatus::Pending.to_string();
    let enabled = VersionStatus::Enabled.to_string();
    let by_name: HashMap<&str, &SecretView> =
        before.iter().map(|b| (b.secret.as_str(), b)).collect();
    for live in &mut after {
        if let Some(old) = by_name.get(live.secret.as_str()) {
            for v in &mut live.versions {
                if let Some(w) = old.versions.iter().find(|w| w.id == v.id) {
                    v.not_read = w.not_read.clone();
                    if w.status == pending && v.status == enabled && w.labels == v.labels {
                        v.status = pending.clone();
                    }
                }
            }
        }
    }
    let mut diff = diff_views(&before, &after);
    // A secret that failed to read is neither removed nor unchanged: it is listed as failed.
    diff.removed
        .retain(|name| !failed.iter().any(|f| &f.item == name));
    Ok(DriftReport {
        snapshot: *snapshot,
        source: source.location().url(),
        diff,
        failed,
        api_calls: source.calls(),
    })
}
