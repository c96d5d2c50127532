//! Lock-free maintenance: reclaiming space without a lock that refuses a backup. Why not the
//! exclusive prune (`gc.rs`): with many agents writing one repository some backup always holds a
//! shared lock, so an exclusive prune waits forever or refuses backups while it runs.
//!
//! Two phases (the design, its proof and what a kill -9 leaves at each step are in
//! docs/repository-format.md): a pack no snapshot needs is first *marked* in the garbage state
//! (`garbage.rs`); backups never reuse a blob of a marked pack and refuse to commit once they
//! have run for the repository's margin (`writer.rs`); a later run *deletes* a pack marked at
//! least margin + 2 × skew ago that still no snapshot needs. A marked pack a snapshot needs again
//! has its mark withdrawn. Each run also consolidates every index into one, so an agent with an
//! empty cache reads one index plus those written since.
//!
//! Order of a run: note the time; read the marks; list the snapshots (refusing if any is
//! unreadable) and read their trees; list and read the indexes; list the packs; decide; upload
//! repacked packs; write the consolidated index; write the new garbage state; confirm the
//! maintenance lock; delete the indexes read; delete the packs; delete the older garbage states.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::garbage::{GarbageState, LastRun, Mark};
use crate::id::Id;
use crate::lock::Started;
use crate::lock::{LockGuard, LockKind};
use crate::pack::BlobEntry;
use crate::repo::{pack_name, Repository};

/// Maintenance tuning.
#[derive(Debug, Clone)]
pub struct MaintainOptions {
    pub dry_run: bool,
    /// Repack a pack when more than this fraction of its bytes is garbage.
    pub repack_threshold: f64,
    /// How long to wait while another maintenance (or an exclusive prune) runs.
    pub wait_lock: Duration,
}

impl Default for MaintainOptions {
    fn default() -> Self {
        MaintainOptions {
            dry_run: false,
            repack_threshold: 0.25,
            wait_lock: Duration::ZERO,
        }
    }
}

/// What a maintenance run did, or would do with `dry_run`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MaintainReport {
    pub dry_run: bool,
    pub snapshots: usize,
    pub packs_marked: usize,
    pub marks_withdrawn: usize,
    pub packs_repacked: usize,
    pub packs_written: usize,
    pub packs_deleted: usize,
    pub bytes_freed: u64,
    /// Bytes marked packs still hold.
    pub bytes_pending: u64,
    /// When the earliest of them may be deleted.
    pub reclaimable_at: Option<DateTime<Utc>>,
    pub indexes_replaced: usize,
    /// Why nothing was deleted although some marks were due (an older binary's backup runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_held: Option<String>,
}

/// What one run decided, before any write.
#[derive(Default)]
struct Plan {
    /// Packs kept in the consolidated index, with their entries.
    keep: Vec<(Id, Vec<BlobEntry>)>,
    /// Live blobs of packs to repack (the old pack is marked once they are copied).
    repack: Vec<(Id, Vec<BlobEntry>)>,
    delete: Vec<Id>,
    marks: Vec<Mark>,
    /// Packs marked by this run (stamped just before the garbage state is written).
    new_marks: Vec<(Id, u64)>,
    withdrawn: usize,
}

fn refusing(e: Error) -> Error {
    Error::Invalid(format!("refusing to run maintenance: {e}"))
}

impl Repository {
    /// Lock-free maintenance: marks what no snapshot needs, deletes what was marked at least
    /// margin + 2 × skew ago, withdraws marks of packs needed again, consolidates the indexes.
    /// Backups go on meanwhile; only another maintenance or an exclusive prune is kept out.
    pub async fn maintain(&self, opts: &MaintainOptions) -> Result<MaintainReport> {
        let lock = self
            .reclaim_lock(
                LockKind::Maintenance,
                "maintenance",
                opts.dry_run,
                opts.wait_lock,
            )
            .await?;
        let result = self.maintain_locked(opts, lock.as_ref()).await;
        self.reclaim_done(lock, result, opts.dry_run).await
    }

    async fn maintain_locked(
        &self,
        opts: &MaintainOptions,
        lock: Option<&LockGuard>,
    ) -> Result<MaintainReport> {
        let gc = self.config.gc;
        // Noted before anything is listed: whatever landed before it is in the listings below.
        let now = self.clock.now();
        let garbage = crate::garbage::read(&*self.backend, &self.keys)
            .await
            .map_err(refusing)?;
        let state = garbage.newest();
        let (snapshots, live) = self.live_blobs().await?;
        let index_names = self.list_names("index/").await?;
        let mut packs: HashMap<Id, Vec<BlobEntry>> = HashMap::new();
        for name in &index_names {
            for (pack, entries) in self.read_index(name).await.map_err(refusing)?.packs {
                packs.entry(pack).or_insert(entries);
            }
        }
        let listed = self.list_packs().await?;

        let mut report = MaintainReport {
            dry_run: opts.dry_run,
            snapshots,
            ..Default::default()
        };
        let mut plan = self.plan(opts, &state, &live, &packs, &listed, now, true);
        // Locks are read only when something is due for deletion.
        if !plan.delete.is_empty() {
            if let Some(older) = self.older_binary_running().await? {
                plan = self.plan(opts, &state, &live, &packs, &listed, now, false);
                report.deletion_held = Some(older);
            }
        }
        report.marks_withdrawn = plan.withdrawn;
        report.packs_deleted = plan.delete.len();
        report.bytes_freed = plan.delete.iter().map(|id| listed[id]).sum();
        report.packs_repacked = plan.repack.len();
        let pending = plan
            .marks
            .iter()
            .filter(|m| m.deleted_at.is_none())
            .map(|m| (m.marked_at, m.size))
            .chain(plan.new_marks.iter().map(|(_, size)| (now, *size)));
        (report.bytes_pending, report.reclaimable_at) = self.reclaimable(pending);
        let consolidate =
            !plan.delete.is_empty() || !plan.repack.is_empty() || index_names.len() > 1;
        if opts.dry_run {
            report.packs_marked = plan.new_marks.len() + plan.repack.len();
            report.indexes_replaced = if consolidate { index_names.len() } else { 0 };
            return Ok(report);
        }

        // 1. Live blobs of mostly-garbage packs into new packs; the old packs are marked below.
        let mut keep = plan.keep;
        let mut new_marks = plan.new_marks;
        let written = self.repack(&plan.repack).await?;
        report.packs_written = written.len();
        keep.extend(written);
        new_marks.extend(plan.repack.iter().map(|(id, _)| (*id, listed[id])));
        report.packs_marked = new_marks.len();

        // 2. One index naming every pack kept (marked ones included: they still exist).
        let new_index = if consolidate {
            Some(self.write_index(keep).await?)
        } else {
            None
        };

        // 3. The new garbage state. A new mark is stamped just before the write, and the write
        // must finish within the skew: deletion waits margin + 2 × skew after the stamp, so at
        // least the margin passes between the mark becoming visible and the deletion.
        let mut marks = plan.marks;
        let base = marks.len();
        let mut written = None;
        for attempt in 0..3 {
            marks.truncate(base);
            let stamp = Started::now(&*self.clock);
            let at = self.clock.now();
            marks.extend(new_marks.iter().map(|(pack, size)| Mark {
                pack: *pack,
                marked_at: at,
                size: *size,
                deleted_at: None,
            }));
            marks.sort_by_key(|m| m.pack);
            let next = GarbageState {
                // A later attempt is newer: its later stamps are the ones maintenance keeps.
                generation: state.generation + 1 + attempt,
                marks: marks.clone(),
                last_run: Some(LastRun {
                    at: now,
                    host: crate::hostname(),
                    snapshots,
                    packs_marked: new_marks.len(),
                    marks_withdrawn: report.marks_withdrawn,
                    packs_deleted: plan.delete.len(),
                    bytes_freed: report.bytes_freed,
                    indexes_replaced: if consolidate { index_names.len() } else { 0 },
                }),
            };
            let name = crate::garbage::write(&*self.backend, &self.keys, &next).await?;
            if new_marks.is_empty() || stamp.elapsed(&*self.clock) < gc.skew() {
                written = Some(name);
                break;
            }
            tracing::warn!(
                "writing the garbage state took longer than the skew; stamping its marks again"
            );
        }
        let Some(written) = written else {
            return Err(Error::backend(
                "garbage/",
                "writing the garbage state kept taking longer than the repository's skew; \
                 nothing deleted",
            ));
        };

        // 4. Deletions, only while the maintenance lock is provably still ours.
        if let Some(l) = lock {
            l.refresh().await?;
        }
        if consolidate {
            for name in index_names
                .iter()
                .filter(|n| Some(*n) != new_index.as_ref())
            {
                self.backend.delete(name).await?;
                report.indexes_replaced += 1;
            }
        }
        for id in &plan.delete {
            self.backend.delete(&pack_name(id)).await?;
        }
        for name in garbage.names().iter().filter(|n| **n != written) {
            self.backend.delete(name).await?;
        }
        Ok(report)
    }

    /// A live lock taken by a binary that predates marks (its backup could reuse a marked
    /// blob), described.
    async fn older_binary_running(&self) -> Result<Option<String>> {
        Ok(
            crate::lock::live_locks(&*self.backend, &self.keys, &*self.clock, None)
                .await?
                .into_iter()
                .find(|l| !l.knows_marks && !l.maintenance)
                .map(|l| {
                    format!(
                        "{} was taken by an older secretsnap, which does not know marks",
                        l.describe()
                    )
                }),
        )
    }

    /// Bytes of marks not deleted yet (marked at, size), and when the earliest may be deleted.
    fn reclaimable(
        &self,
        pending: impl Iterator<Item = (DateTime<Utc>, u64)>,
    ) -> (u64, Option<DateTime<Utc>>) {
        let wait = chrono::Duration::from_std(self.config.gc.delete_after()).unwrap_or_default();
        pending.fold((0, None), |(bytes, first), (at, size)| {
            let due = at + wait;
            (
                bytes + size,
                Some(first.map_or(due, |f: DateTime<Utc>| f.min(due))),
            )
        })
    }

    /// Decides, from what was read, what this run keeps, repacks, marks, withdraws and deletes.
    /// A pack is *needed* when it is the keeper of a blob some snapshot references: of the
    /// listed packs holding that blob, an unmarked one before a marked one, then the lowest id
    /// (so a repacked pack's old copy, or a blob two backups stored at once, is kept once).
    #[allow(clippy::too_many_arguments)]
    fn plan(
        &self,
        opts: &MaintainOptions,
        state: &GarbageState,
        live: &HashSet<Id>,
        packs: &HashMap<Id, Vec<BlobEntry>>,
        listed: &HashMap<Id, u64>,
        now: DateTime<Utc>,
        may_delete: bool,
    ) -> Plan {
        let gc = self.config.gc;
        let aged = |at: DateTime<Utc>, wait: Duration| {
            now.signed_duration_since(at)
                .to_std()
                .is_ok_and(|age| age >= wait)
        };
        let marked: HashMap<Id, &Mark> = state.marks.iter().map(|m| (m.pack, m)).collect();
        let mut keeper: HashMap<Id, (bool, Id)> = HashMap::new();
        for (pack, entries) in packs.iter().filter(|(p, _)| listed.contains_key(*p)) {
            let rank = (marked.contains_key(pack), *pack);
            for e in entries.iter().filter(|e| live.contains(&e.id)) {
                keeper
                    .entry(e.id)
                    .and_modify(|k| *k = (*k).min(rank))
                    .or_insert(rank);
            }
        }
        let mut plan = Plan::default();
        // Marks of packs that are gone stay as tombstones until they are old enough to forget.
        for m in &state.marks {
            if !listed.contains_key(&m.pack) && !aged(m.marked_at, gc.forget_after()) {
                plan.marks.push(Mark {
                    deleted_at: m.deleted_at.or(Some(now)),
                    ..m.clone()
                });
            }
        }
        let mut ids: Vec<Id> = listed.keys().copied().collect();
        ids.sort();
        for id in ids {
            let entries = packs.get(&id);
            let needed = entries.is_some_and(|es| {
                es.iter()
                    .any(|e| keeper.get(&e.id).map(|k| k.1) == Some(id))
            });
            match (marked.get(&id), needed) {
                (Some(_), true) => {
                    plan.withdrawn += 1;
                    self.keep_or_repack(opts, id, entries, live, listed, &mut plan);
                }
                (Some(m), false) => {
                    if may_delete && aged(m.marked_at, gc.delete_after()) {
                        plan.delete.push(id);
                        plan.marks.push(Mark {
                            deleted_at: Some(now),
                            ..(*m).clone()
                        });
                    } else {
                        plan.marks.push(Mark {
                            deleted_at: None,
                            ..(*m).clone()
                        });
                        if let Some(es) = entries {
                            plan.keep.push((id, es.clone()));
                        }
                    }
                }
                (None, true) => self.keep_or_repack(opts, id, entries, live, listed, &mut plan),
                (None, false) => {
                    plan.new_marks.push((id, listed[&id]));
                    if let Some(es) = entries {
                        plan.keep.push((id, es.clone()));
                    }
                }
            }
        }
        plan
    }

    /// A pack some snapshot needs: kept, or (mostly garbage) its live blobs repacked and the
    /// pack itself marked once they are copied.
    fn keep_or_repack(
        &self,
        opts: &MaintainOptions,
        id: Id,
        entries: Option<&Vec<BlobEntry>>,
        live: &HashSet<Id>,
        listed: &HashMap<Id, u64>,
        plan: &mut Plan,
    ) {
        let Some(entries) = entries else { return };
        let (used, unused): (Vec<BlobEntry>, Vec<BlobEntry>) =
            entries.iter().partition(|e| live.contains(&e.id));
        let garbage: u64 = unused.iter().map(|e| e.length as u64).sum();
        let total = listed[&id].max(1);
        // The old pack stays indexed until deleted (readers may still use it).
        plan.keep.push((id, entries.clone()));
        if garbage as f64 / total as f64 > opts.repack_threshold {
            plan.repack.push((id, used));
        }
    }
}

/// Where maintenance stands, from the garbage state alone (one listing, one read).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MaintenanceStatus {
    /// The last maintenance run that wrote its state (none before the first).
    pub last_run: Option<LastRun>,
    pub packs_pending: usize,
    /// Bytes held by marked packs not deleted yet.
    pub bytes_pending: u64,
    /// When the earliest of them may be deleted by a maintenance run.
    pub reclaimable_at: Option<DateTime<Utc>>,
}

impl Repository {
    /// The last maintenance run and what waits for deletion.
    pub async fn maintenance_status(&self) -> Result<MaintenanceStatus> {
        let state = crate::garbage::read(&*self.backend, &self.keys)
            .await?
            .newest();
        let (bytes_pending, reclaimable_at) =
            self.reclaimable(state.pending().map(|m| (m.marked_at, m.size)));
        Ok(MaintenanceStatus {
            packs_pending: state.pending().count(),
            bytes_pending,
            reclaimable_at,
            last_run: state.last_run,
        })
    }
}
