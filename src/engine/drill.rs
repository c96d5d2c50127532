//! Restore drills: prove that a snapshot restores, and how long that takes. A drill restores the
//! snapshot into a scratch target under a path prefix of its own (`/secretsnap-drill-<time>`),
//! reads everything back and compares it field by field and value by value with the snapshot
//! (values are compared, never printed), records the RTO (wall time to a verified restore) and
//! the snapshot's age (the RPO at drill time), then deletes exactly what it created — the
//! secrets under its own prefix — and nothing else.
//!
//! Why a prefix per drill: Scaleway keeps a deleted secret pending deletion for days and its
//! name stays taken, so a drill that reused names would fail the next day. Each drill's names
//! are new; the comparison strips the prefix. A scratch target holding secrets that no drill
//! created is refused unless allowed; secrets under an older drill's prefix (an interrupted
//! drill) are deleted before this one starts.

use std::time::Instant;

use chrono::{DateTime, Utc};
use secretsnap_core::fetch::read_all;
use secretsnap_core::verify::compare_within;
use secretsnap_core::{Destination, Filter, ItemFailure, RestoreOptions, Secret, Source};
use secretsnap_store::{Id, Repository};
use serde::Serialize;

use super::{apply, load_secrets, Error, Progress};

/// The folder every drill's prefix starts with.
pub const DRILL_ROOT: &str = "/secretsnap-drill-";

/// How to drill.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// This drill's prefix (`DRILL_ROOT` + a unique suffix).
    pub prefix: String,
    /// Go on even if the scratch target holds secrets no drill created (they are left alone).
    pub allow_foreign: bool,
    /// Secrets read back at once.
    pub concurrency: usize,
    pub now: DateTime<Utc>,
}

impl DrillOptions {
    /// A prefix for a drill started at `now` (to the second, plus a random suffix).
    pub fn prefix_for(now: DateTime<Utc>) -> String {
        let n: u16 = rand_suffix();
        format!("{DRILL_ROOT}{}-{n:04x}", now.format("%Y%m%dt%H%M%S"))
    }
}

/// Whether `full_name` lies in a drill's folder: `DRILL_ROOT` + `YYYYMMDDtHHMMSS-hhhh`, exactly
/// what `prefix_for` makes, so a secret of someone else's that merely starts alike is foreign.
pub fn in_drill_folder(full_name: &str) -> bool {
    let Some(rest) = full_name.strip_prefix(DRILL_ROOT) else {
        return false;
    };
    let folder = rest.split('/').next().unwrap_or("");
    let b = folder.as_bytes();
    folder.len() == 20
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b't'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        && rest.len() > folder.len()
}

fn rand_suffix() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ std::process::id()) as u16
}

/// What a drill did and found.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub snapshot: Id,
    pub snapshot_time: DateTime<Utc>,
    pub target: String,
    pub prefix: String,
    /// Secrets and versions the restore created.
    pub restored_secrets: usize,
    pub restored_versions: usize,
    /// Wall time from reading the snapshot to a verified restore.
    pub rto_seconds: f64,
    /// Age of the snapshot when the drill started.
    pub rpo_seconds: i64,
    /// How the target differs from the snapshot (no value ever appears here).
    pub mismatches: Vec<String>,
    /// Secrets the restore could not write.
    pub failed: Vec<ItemFailure>,
    /// Secrets the restore skipped (managed by another service, …) with why.
    pub skipped: Vec<ItemFailure>,
    /// Secrets an interrupted earlier drill left, deleted before this one.
    pub leftovers_removed: usize,
    /// Secrets this drill created and then deleted.
    pub removed: usize,
    /// Secrets this drill could not delete (named, for a manual cleanup).
    pub cleanup_failed: Vec<ItemFailure>,
    pub notes: Vec<String>,
    pub api_calls: u64,
}

impl DrillReport {
    /// Restored completely, verified equal and cleaned up.
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty() && self.failed.is_empty() && self.cleanup_failed.is_empty()
    }
}

fn under(prefix: &str) -> Filter {
    Filter {
        path_prefix: Some(prefix.to_string()),
        ..Default::default()
    }
}

/// Deletes every live secret of `listed` through `dest`; returns how many, and the failures.
async fn remove_all(dest: &dyn Destination, listed: &[Secret]) -> (usize, Vec<ItemFailure>) {
    let mut removed = 0;
    let mut failed = Vec::new();
    for s in listed.iter().filter(|s| s.deletion_requested_at.is_none()) {
        match dest.remove(&s.id).await {
            Ok(()) => removed += 1,
            Err(e) => failed.push(ItemFailure {
                item: s.full_name(),
                reason: e.to_string(),
            }),
        }
    }
    (removed, failed)
}

/// Drills `snapshot` into the scratch target (`scratch` lists it, `dest` writes it).
pub async fn drill(
    repo: &Repository,
    snapshot: &Id,
    scratch: &dyn Source,
    dest: &dyn Destination,
    opts: &DrillOptions,
    progress: &dyn Progress,
) -> Result<DrillReport, Error> {
    let header = repo.snapshot(snapshot).await?.header;
    let from = header.meta.source.split("://").next().unwrap_or("");
    let to = dest.capabilities().provider;
    if from != to {
        return Err(Error::Selection(format!(
            "a drill restores into the provider it backed up ({from}), not {to}: use restore to \
             move secrets across providers"
        )));
    }
    // The scratch target: refuse what no drill created, clear what an interrupted drill left.
    let present = scratch.list(&Filter::default()).await?;
    let (leftovers, foreign): (Vec<Secret>, Vec<Secret>) = present
        .into_iter()
        .filter(|s| s.deletion_requested_at.is_none())
        .partition(|s| in_drill_folder(&s.full_name()));
    if !foreign.is_empty() && !opts.allow_foreign {
        return Err(Error::Selection(format!(
            "the scratch target {} holds {} secrets no drill created (first: {}); drill into an \
             empty project or region, or pass --allow-foreign (those secrets are left alone)",
            dest.location().url(),
            foreign.len(),
            foreign[0].full_name()
        )));
    }
    let (leftovers_removed, mut cleanup_failed) = remove_all(dest, &leftovers).await;

    let started = Instant::now();
    let secrets = load_secrets(repo, snapshot, |_| true).await?;
    let restore = RestoreOptions {
        under: Some(opts.prefix.clone()),
        ..Default::default()
    };
    let (_, report) = apply(dest, &secrets, &restore, false, progress).await;
    // Read back everything, disabled and read-once versions included: the scratch secrets are
    // the drill's own, and enabling a disabled one for a moment harms nobody.
    let back = Filter {
        read_disabled: true,
        read_once: true,
        ..under(&opts.prefix)
    };
    let (mut restored, unreadable) = read_all(scratch, &back, opts.concurrency)
        .await
        .map_err(Error::Connector)?;
    for s in &mut restored {
        let rest = s.path[opts.prefix.len()..].to_string();
        s.path = if rest.is_empty() { "/".into() } else { rest };
    }
    let skipped: Vec<&str> = report.skipped.iter().map(|f| f.item.as_str()).collect();
    let wanted: Vec<Secret> = secrets
        .into_iter()
        .filter(|s| !skipped.iter().any(|k| k.ends_with(&s.full_name())))
        .collect();
    let mut mismatches = compare_within(&wanted, &restored, dest.capabilities().max_versions);
    mismatches.extend(
        unreadable
            .iter()
            .map(|f| format!("{}: not readable back: {}", f.item, f.reason)),
    );
    let rto_seconds = started.elapsed().as_secs_f64();

    // What this drill created: the secrets the restore reports as created, and anything under
    // the drill's own prefix (a secret created by an apply that failed halfway). Only that.
    let mut created: Vec<Secret> = scratch
        .list(&under(&opts.prefix))
        .await
        .map_err(Error::Connector)?;
    for (name, a) in report.applied.iter().filter(|(_, a)| a.created_secret) {
        if !created.iter().any(|s| s.id == a.target_id) {
            created.push(Secret {
                id: a.target_id.clone(),
                name: name.clone(),
                ..Default::default()
            });
        }
    }
    let (removed, failed_removals) = remove_all(dest, &created).await;
    cleanup_failed.extend(failed_removals);
    Ok(DrillReport {
        snapshot: *snapshot,
        snapshot_time: header.time,
        target: dest.location().url(),
        prefix: opts.prefix.clone(),
        restored_secrets: report.created_secrets,
        restored_versions: report.created_versions,
        rto_seconds,
        rpo_seconds: (opts.now - header.time).num_seconds(),
        mismatches,
        failed: report.failed,
        skipped: report.skipped,
        leftovers_removed,
        removed,
        cleanup_failed,
        notes: report.notes,
        api_calls: scratch.calls() + dest.calls(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_folders_drills_make_are_drill_folders() {
        let now = "2026-12-01T03:14:00Z".parse().unwrap();
        let prefix = DrillOptions::prefix_for(now);
        assert!(in_drill_folder(&format!("{prefix}/app/db")));
        assert!(in_drill_folder(&format!("{prefix}/x")));
        assert!(!in_drill_folder(&prefix), "the folder itself is no secret");
        assert!(!in_drill_folder("/secretsnap-drill-mine/x"));
        assert!(!in_drill_folder("/secretsnap-drill-20261201t031400-zzzz/x"));
        assert!(!in_drill_folder(
            "/app/secretsnap-drill-20261201t031400-abcd/x"
        ));
    }
}
