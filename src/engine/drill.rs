//! Restore drills: prove that a snapshot restores, and how long that takes. A drill restores the
//! snapshot into a scratch target under a folder of its own (`/secretsnap-drill-<time>-<random>`),
//! reads everything back and compares it field by field and value by value with the snapshot
//! (values are compared, never printed), records the RTO (wall time to a verified restore) and
//! the snapshot's age (the RPO at drill time), then deletes exactly what it created and nothing
//! else.
//!
//! Why a folder per drill: Scaleway keeps a deleted secret pending deletion for days and its
//! name stays taken, so a drill that reused names would fail the next day. Each drill's names
//! are new (64 random bits); the comparison strips the folder.
//!
//! What a drill may delete: only what it can prove it created. Every secret a drill creates
//! carries the tag `secretsnap-drill=<mark>`, where the mark is a keyed BLAKE3 of the drill's
//! folder under the repository's keys: nobody without the repository's key can make one, and it
//! binds the secret to its folder. A folder's shape proves nothing. So:
//! - at the end, a drill deletes the secrets it reported created and those under its own folder
//!   that carry its own mark;
//! - last, it sweeps the leftovers of an interrupted drill only when they carry a mark of this
//!   repository *and* are stale: their folder was named, and the provider created them, more
//!   than `STALE_AFTER` ago (longer than any drill runs; the provider's time guards against a
//!   host whose clock is late naming a running drill's folder in the past), and only when this
//!   host's clock agrees with the provider's, as the creation times of the drill's own secrets
//!   show (a clock a day ahead would otherwise take a running drill for a stale one);
//! - anything else under a drill-shaped folder (made by hand, by another repository's drill, or
//!   by a drill still running) is left alone; an unmarked one counts as foreign.
//!
//! Two drills into one target (every source of a policy drills into its `into`) therefore never
//! touch each other's secrets.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use secretsnap_core::fetch::read_all;
use secretsnap_core::verify::compare_within;
use secretsnap_core::{Destination, Filter, ItemFailure, RestoreOptions, Secret, Source};
use secretsnap_store::crypto::Keys;
use secretsnap_store::{Id, Repository};
use serde::Serialize;

use super::{apply, load_secrets, Error, Progress};

/// The folder every drill's folder starts with.
pub const DRILL_ROOT: &str = "/secretsnap-drill-";

/// The tag key carrying a drill's mark.
pub const MARK_TAG: &str = "secretsnap-drill";

/// How old a marked drill folder must be before a later drill may sweep it: longer than any
/// drill runs (a 100 000-secret drill at Scaleway's 50 requests/s takes about three hours).
pub const STALE_AFTER: Duration = Duration::hours(24);

/// How to drill.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// This drill's folder (`DRILL_ROOT` + time + random suffix).
    pub prefix: String,
    /// Go on even if the scratch target holds secrets no drill created (they are left alone).
    pub allow_foreign: bool,
    /// Secrets read back at once.
    pub concurrency: usize,
    pub now: DateTime<Utc>,
}

impl DrillOptions {
    /// A folder for a drill started at `now`: the time to the second and 64 random bits, so two
    /// drills started in the same second never share it.
    pub fn prefix_for(now: DateTime<Utc>) -> String {
        let n: u64 = rand::random();
        format!("{DRILL_ROOT}{}-{n:016x}", now.format("%Y%m%dt%H%M%S"))
    }
}

/// The drill folder `full_name` lies in (`/secretsnap-drill-YYYYMMDDtHHMMSS-<hex>`) with the
/// time in its name, if it lies in one.
pub fn drill_folder(full_name: &str) -> Option<(&str, DateTime<Utc>)> {
    let rest = full_name.strip_prefix(DRILL_ROOT)?;
    let folder = rest.split('/').next().unwrap_or("");
    if rest.len() <= folder.len() + 1 {
        return None; // the folder itself is no secret
    }
    let (time, suffix) = folder.split_once('-')?;
    let hex = (4..=32).contains(&suffix.len())
        && suffix
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    let time = chrono::NaiveDateTime::parse_from_str(time, "%Y%m%dt%H%M%S").ok()?;
    hex.then(|| {
        let len = DRILL_ROOT.len() + folder.len();
        (&full_name[..len], time.and_utc())
    })
}

/// Whether `full_name` lies in a drill-shaped folder (which alone proves nothing).
pub fn in_drill_folder(full_name: &str) -> bool {
    drill_folder(full_name).is_some()
}

/// The mark a drill of this repository puts on what it creates in `folder`.
pub fn mark_for(keys: &Keys, folder: &str) -> String {
    let id = keys.item_id(&format!("secretsnap drill mark\0{folder}"));
    id.to_hex()[..32].to_string()
}

/// The mark a listed secret carries, if any.
fn mark_of(s: &Secret) -> Option<&str> {
    s.tags
        .iter()
        .find_map(|t| t.strip_prefix(MARK_TAG)?.strip_prefix('='))
}

/// Whose a secret of the scratch target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Carries this repository's mark for its folder; the folder was named at that time.
    Ours(DateTime<Utc>),
    /// Marked by a drill, but not one this repository can prove: left alone.
    OtherDrill,
    /// No drill's (a folder's shape alone proves nothing).
    Foreign,
}

fn owner(keys: &Keys, s: &Secret) -> Owner {
    let name = s.full_name();
    let Some((folder, at)) = drill_folder(&name) else {
        return Owner::Foreign;
    };
    match mark_of(s) {
        None => Owner::Foreign,
        Some(m) if m == mark_for(keys, folder) => Owner::Ours(at),
        Some(_) => Owner::OtherDrill,
    }
}

/// Whether a secret of ours (its folder named at `named`) is an interrupted drill's leftover:
/// both the folder's time and the provider's creation time are older than `STALE_AFTER`
/// (an unreadable creation time is never stale).
fn stale(s: &Secret, named: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    named < now - STALE_AFTER && s.created_at.is_some_and(|c| c < now - STALE_AFTER)
}

/// How far the provider's clock may be from this host's before a sweep is refused.
const MAX_CLOCK_SKEW: Duration = Duration::minutes(10);

/// Whether the provider's creation times of the secrets this drill created (between `began`
/// and `ended` by this host's clock) agree with this host's clock within `MAX_CLOCK_SKEW`.
fn clock_agrees(
    created: &[Secret],
    began: DateTime<Utc>,
    ended: DateTime<Utc>,
) -> Result<(), String> {
    let times: Vec<DateTime<Utc>> = created.iter().filter_map(|s| s.created_at).collect();
    if times.is_empty() {
        return Err("this drill created nothing to compare the clocks with".into());
    }
    let off = times
        .iter()
        .find(|t| **t < began - MAX_CLOCK_SKEW || **t > ended + MAX_CLOCK_SKEW);
    match off {
        None => Ok(()),
        Some(t) => Err(format!(
            "the provider dated this drill's own secrets {t}, this host's clock says {began} to \
             {ended}: clocks differ by more than {} minutes",
            MAX_CLOCK_SKEW.num_minutes()
        )),
    }
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
    let header = super::records::header(repo, snapshot).await?;
    let from = header.meta.source.split("://").next().unwrap_or("");
    let to = dest.capabilities().provider;
    if from != to {
        return Err(Error::Selection(format!(
            "a drill restores into the provider it backed up ({from}), not {to}: use restore to \
             move secrets across providers"
        )));
    }
    // The scratch target: refuse what no drill created, sweep only what an interrupted drill of
    // this repository left (marked and stale), leave everything else alone.
    let keys = repo.keys();
    let present: Vec<Secret> = scratch
        .list(&Filter::default())
        .await?
        .into_iter()
        .filter(|s| s.deletion_requested_at.is_none())
        .collect();
    let mut leftovers = Vec::new();
    let (mut foreign, mut others) = (Vec::new(), 0usize);
    for s in present {
        match owner(keys, &s) {
            Owner::Ours(named) if stale(&s, named, opts.now) => leftovers.push(s),
            Owner::Ours(_) | Owner::OtherDrill => others += 1,
            Owner::Foreign => foreign.push(s.full_name()),
        }
    }
    if !foreign.is_empty() && !opts.allow_foreign {
        return Err(Error::Selection(format!(
            "the scratch target {} holds {} secrets no drill of this repository can be shown to \
             have created (first: {}); drill into an empty project or region, or pass \
             --allow-foreign (those secrets are left alone)",
            dest.location().url(),
            foreign.len(),
            foreign[0]
        )));
    }
    let mut notes = Vec::new();
    if others > 0 {
        notes.push(format!(
            "left alone {others} secrets of other drills (running, or interrupted less than {}h \
             ago, or made by another repository)",
            STALE_AFTER.num_hours()
        ));
    }
    if !foreign.is_empty() {
        notes.push(format!(
            "left alone {} secrets no drill of this repository created (--allow-foreign)",
            foreign.len()
        ));
    }
    let started = Instant::now();
    let restore_began = Utc::now();
    let secrets = load_secrets(repo, snapshot, |_| true).await?;
    let mark = mark_for(keys, &opts.prefix);
    let restore = RestoreOptions {
        under: Some(opts.prefix.clone()),
        mark: Some((MARK_TAG.to_string(), mark.clone())),
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
        let own = format!("{MARK_TAG}={mark}");
        s.tags.retain(|t| *t != own);
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

    // What this drill created: the secrets the restore reports as created, and those under the
    // drill's own folder that carry its mark (a secret created by an apply that failed halfway).
    // Only that: a secret someone slipped into the folder meanwhile is left alone and named.
    let mut created = Vec::new();
    for s in scratch
        .list(&under(&opts.prefix))
        .await
        .map_err(Error::Connector)?
    {
        if mark_of(&s) == Some(mark.as_str()) {
            created.push(s);
        } else if !report
            .applied
            .iter()
            .any(|(_, a)| a.created_secret && a.target_id == s.id)
        {
            notes.push(format!(
                "{}: in this drill's folder without its mark; left alone",
                s.full_name()
            ));
        }
    }
    for (name, a) in report.applied.iter().filter(|(_, a)| a.created_secret) {
        if !created.iter().any(|s| s.id == a.target_id) {
            created.push(Secret {
                id: a.target_id.clone(),
                name: name.clone(),
                ..Default::default()
            });
        }
    }
    // Leftovers are swept last, and only when this host's clock agrees with the provider's:
    // the secrets this drill just created carry the provider's creation time, which must lie
    // within the restore as this host timed it. A clock far ahead would otherwise take a running
    // drill's folder for a stale one.
    // Sweeping is housekeeping: a leftover another drill of this repository swept first is no
    // failure of this drill, so what could not be swept is a note (cleanup_failed is for this
    // drill's own secrets).
    let mut leftovers_removed = 0;
    if !leftovers.is_empty() {
        match clock_agrees(&created, restore_began, Utc::now()) {
            Ok(()) => {
                let (n, unswept) = remove_all(dest, &leftovers).await;
                leftovers_removed = n;
                notes.extend(unswept.iter().map(|f| {
                    format!(
                        "{}: leftover not swept ({}); another drill may have swept it",
                        f.item, f.reason
                    )
                }));
            }
            Err(why) => notes.push(format!(
                "{} leftovers of interrupted drills not swept: {why}",
                leftovers.len()
            )),
        }
    }
    let (removed, cleanup_failed) = remove_all(dest, &created).await;
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
        notes: {
            notes.extend(report.notes);
            notes
        },
        api_calls: scratch.calls() + dest.calls(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secretsnap_store::crypto::MasterKey;

    fn keys() -> Keys {
        Keys::new(&MasterKey::generate(), [7; 16])
    }

    fn secret(full: &str, tags: &[String], created_at: &str) -> Secret {
        let (path, name) = full.rsplit_once('/').unwrap();
        Secret {
            path: path.into(),
            name: name.into(),
            tags: tags.to_vec(),
            created_at: secretsnap_core::model::parse_time(created_at),
            ..Default::default()
        }
    }

    #[test]
    fn only_folders_drills_make_are_drill_folders() {
        let now = "2026-12-01T03:14:00Z".parse().unwrap();
        let prefix = DrillOptions::prefix_for(now);
        assert_ne!(prefix, DrillOptions::prefix_for(now), "random per drill");
        assert!(in_drill_folder(&format!("{prefix}/app/db")));
        assert_eq!(
            drill_folder(&format!("{prefix}/x")),
            Some((prefix.as_str(), now))
        );
        assert!(!in_drill_folder(&prefix), "the folder itself is no secret");
        assert!(!in_drill_folder("/secretsnap-drill-mine/x"));
        assert!(!in_drill_folder("/secretsnap-drill-20261201t031400-zzzz/x"));
        assert!(!in_drill_folder("/secretsnap-drill-20261399t031400-abcd/x"));
        assert!(!in_drill_folder(
            "/app/secretsnap-drill-20261201t031400-abcd/x"
        ));
    }

    #[test]
    fn a_sweep_needs_clocks_that_agree() {
        let at = |t: &str| secret("/d/x", &[], t);
        let began: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        let ended: DateTime<Utc> = "2026-12-03T10:05:00Z".parse().unwrap();
        assert!(clock_agrees(&[at("2026-12-03T10:01:00.000000Z")], began, ended).is_ok());
        assert!(clock_agrees(&[at("2026-12-03T10:12:00Z")], began, ended).is_ok());
        // This host's clock a day ahead of the provider's: no sweep.
        let e = clock_agrees(&[at("2026-12-02T10:01:00Z")], began, ended).unwrap_err();
        assert!(e.contains("clocks differ"), "{e}");
        assert!(clock_agrees(&[], began, ended).is_err());
    }

    #[test]
    fn only_our_mark_on_a_stale_folder_makes_a_leftover() {
        let (k, other) = (keys(), keys());
        let now: DateTime<Utc> = "2026-12-03T00:00:00Z".parse().unwrap();
        let old = "/secretsnap-drill-20261201t000000-00ff";
        let ours = |f: &str, keys: &Keys| vec![format!("{MARK_TAG}={}", mark_for(keys, f))];
        let long_ago = "2026-12-01T00:00:01.000000Z";
        let s = secret(&format!("{old}/db"), &ours(old, &k), long_ago);
        assert_eq!(
            owner(&k, &s),
            Owner::Ours("2026-12-01T00:00:00Z".parse().unwrap())
        );
        assert!(stale(&s, "2026-12-01T00:00:00Z".parse().unwrap(), now));
        // Made by hand: the shape alone is foreign.
        assert_eq!(
            owner(&k, &secret(&format!("{old}/db"), &[], long_ago)),
            Owner::Foreign
        );
        // Another repository's drill, or a mark copied to another folder: not ours.
        let theirs = secret(&format!("{old}/db"), &ours(old, &other), long_ago);
        assert_eq!(owner(&k, &theirs), Owner::OtherDrill);
        let moved = "/secretsnap-drill-20261201t000000-00fe";
        let copied = secret(&format!("{moved}/db"), &ours(old, &k), long_ago);
        assert_eq!(owner(&k, &copied), Owner::OtherDrill);
        // A folder named long ago by a late clock, created just now: not stale.
        let fresh = secret(&format!("{old}/db"), &ours(old, &k), "2026-12-02T23:00:00Z");
        assert!(!stale(&fresh, "2026-12-01T00:00:00Z".parse().unwrap(), now));
        let unknown = secret(&format!("{old}/db"), &ours(old, &k), "");
        assert!(!stale(
            &unknown,
            "2026-12-01T00:00:00Z".parse().unwrap(),
            now
        ));
    }
}
