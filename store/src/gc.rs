//! Deleting snapshots (`forget`) and reclaiming space (`prune`).
//!
//! `forget` removes snapshot headers only; it needs no lock, because blobs stay until prune.
//! `prune` takes the exclusive lock (so no backup can be deduplicating against what it deletes),
//! computes the blobs still reachable from every snapshot, repacks packs that are mostly garbage,
//! and then writes in crash-safe order: new packs → one new index → delete old indexes → delete
//! packs. A crash at any point leaves only duplicates or unreferenced packs, never a dangling
//! reference. It refuses to run when any snapshot or index is unreadable (it could not know what
//! is still needed).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use serde::Serialize;

use crate::crypto::Kind;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::IndexFile;
use crate::lock::{LockGuard, LockKind};
use crate::pack::{BlobEntry, PackBuilder};
use crate::repo::{pack_name, Repository};

/// What prune did, or would do with `dry_run`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub snapshots: usize,
    pub blobs_live: usize,
    pub blobs_removed: usize,
    pub packs_deleted: usize,
    pub packs_repacked: usize,
    pub packs_written: usize,
    pub bytes_freed: u64,
    pub indexes_replaced: usize,
}

/// Prune tuning.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub dry_run: bool,
    /// Repack a pack when more than this fraction of its bytes is garbage.
    pub repack_threshold: f64,
    /// How long to wait, retrying with backoff, while another process holds a lock.
    pub wait_lock: std::time::Duration,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            dry_run: false,
            repack_threshold: 0.25,
            wait_lock: std::time::Duration::ZERO,
        }
    }
}

impl Repository {
    /// Deletes snapshot headers. Their data stays until `prune`.
    pub async fn forget(&self, ids: &[Id]) -> Result<()> {
        for id in ids {
            self.backend.delete(&format!("snapshots/{id}")).await?;
        }
        Ok(())
    }

    /// Blobs reachable from every snapshot; fails if any snapshot cannot be read completely.
    pub(crate) async fn live_blobs(&self) -> Result<(usize, HashSet<Id>)> {
        let list = self.snapshots().await?;
        if let Some((name, why)) = list.damaged.first() {
            return Err(Error::Invalid(format!(
                "refusing to prune: snapshot {name} is unreadable ({why}); run check"
            )));
        }
        let mut live = HashSet::new();
        let mut read = HashSet::new();
        for s in &list.snapshots {
            live.extend(s.header.trees.iter().copied());
            for tree in &s.header.trees {
                // Unchanged runs of entries make the same tree blob in every snapshot: each is
                // read once, however many snapshots share it.
                if read.insert(*tree) {
                    for e in self.tree(tree).await? {
                        live.extend(e.chunks);
                    }
                }
            }
        }
        Ok((list.snapshots.len(), live))
    }

    /// Reclaims space held by blobs no snapshot references.
    pub async fn prune(&self, opts: &PruneOptions) -> Result<PruneReport> {
        let lock = self
            .reclaim_lock(LockKind::Exclusive, "prune", opts.dry_run, opts.wait_lock)
            .await?;
        let result = self.prune_locked(opts, lock.as_ref()).await;
        self.reclaim_done(lock, result, opts.dry_run).await
    }

    /// The lock a reclaiming command holds (none for a dry run), after which it clears lock
    /// objects that are stale for this host.
    pub(crate) async fn reclaim_lock(
        &self,
        kind: LockKind,
        purpose: &str,
        dry_run: bool,
        wait: std::time::Duration,
    ) -> Result<Option<LockGuard>> {
        if dry_run {
            return Ok(None);
        }
        let l = self.lock_waiting(kind, purpose, wait).await?;
        match crate::lock::remove_stale(&*self.backend, &self.keys, &*self.clock).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(locks = n, "removed stale lock objects"),
            Err(e) => tracing::warn!(error = %e, "could not remove stale lock objects"),
        }
        Ok(Some(l))
    }

    /// Releases a reclaiming command's lock and, after a real run, reloads the index it changed.
    pub(crate) async fn reclaim_done<T>(
        &self,
        lock: Option<LockGuard>,
        result: Result<T>,
        dry_run: bool,
    ) -> Result<T> {
        if let Some(l) = lock {
            l.release().await?;
        }
        let report = result?;
        if !dry_run {
            self.load_index().await?;
        }
        Ok(report)
    }

    async fn prune_locked(
        &self,
        opts: &PruneOptions,
        lock: Option<&LockGuard>,
    ) -> Result<PruneReport> {
        let mut report = PruneReport {
            dry_run: opts.dry_run,
            ..Default::default()
        };
        self.load_index().await?;
        let (n, live) = self.live_blobs().await?;
        report.snapshots = n;
        let index_names = self.list_names("index/").await?;
        let mut packs: HashMap<Id, Vec<BlobEntry>> = HashMap::new();
        for name in &index_names {
            for (pack, entries) in self
                .read_index(name)
                .await
                .map_err(|e| Error::Invalid(format!("refusing to prune: {e}")))?
                .packs
            {
                packs.entry(pack).or_insert(entries);
            }
        }
        let listed = self.list_packs().await?;
        let mut keep: Vec<(Id, Vec<BlobEntry>)> = Vec::new();
        let mut delete: Vec<Id> = Vec::new();
        let mut repack: Vec<(Id, Vec<BlobEntry>)> = Vec::new();
        let mut kept_blobs: HashSet<Id> = HashSet::new();
        let mut ids: Vec<Id> = packs.keys().copied().collect();
        ids.sort();
        for id in ids {
            let entries = &packs[&id];
            if !listed.contains_key(&id) {
                continue; // missing pack: nothing to reclaim; check reports it
            }
            let (used, unused): (Vec<BlobEntry>, Vec<BlobEntry>) = entries
                .iter()
                .partition(|e| live.contains(&e.id) && !kept_blobs.contains(&e.id));
            let garbage: u64 = unused.iter().map(|e| e.length as u64).sum();
            let total: u64 = entries.iter().map(|e| e.length as u64).sum::<u64>().max(1);
            report.blobs_removed += unused.len();
            if used.is_empty() {
                delete.push(id);
            } else if garbage as f64 / total as f64 > opts.repack_threshold {
                kept_blobs.extend(used.iter().map(|e| e.id));
                repack.push((id, used));
                delete.push(id);
            } else {
                kept_blobs.extend(used.iter().map(|e| e.id));
                keep.push((id, entries.clone()));
            }
        }
        for (id, size) in &listed {
            if !packs.contains_key(id) {
                delete.push(*id);
                report.bytes_freed += size;
            }
        }
        report.blobs_live = kept_blobs.len();
        report.packs_deleted = delete.len();
        report.packs_repacked = repack.len();
        report.bytes_freed += delete
            .iter()
            .filter(|id| packs.contains_key(id))
            .map(|id| listed[id])
            .sum::<u64>();
        if opts.dry_run {
            report.indexes_replaced = if delete.is_empty() {
                0
            } else {
                index_names.len()
            };
            return Ok(report);
        }
        if delete.is_empty() {
            return Ok(report);
        }
        // 1. Repack live blobs.
        let written = self.repack(&repack).await?;
        report.packs_written = written.len();
        keep.extend(written);
        // 2. One index naming everything kept.
        let new_index = self.write_index(keep).await?;
        // 3. Old indexes, then 4. packs: only while the exclusive lock is provably still ours
        // (a prune that was suspended past its lock's trust window must not delete anything).
        if let Some(l) = lock {
            l.refresh().await?;
        }
        for name in index_names.iter().filter(|n| **n != new_index) {
            self.backend.delete(name).await?;
            report.indexes_replaced += 1;
        }
        for id in &delete {
            self.backend.delete(&pack_name(id)).await?;
        }
        Ok(report)
    }

    /// Copies the given live blobs of each pack, still sealed, into new packs (each old pack's
    /// header is authenticated first); the new packs with their entries.
    pub(crate) async fn repack(
        &self,
        packs: &[(Id, Vec<BlobEntry>)],
    ) -> Result<Vec<(Id, Vec<BlobEntry>)>> {
        let mut written = Vec::new();
        let mut builder = PackBuilder::new();
        for (id, used) in packs {
            let bytes = self.backend.get(&pack_name(id)).await?;
            crate::pack::read_header(&self.keys, id, &bytes)?;
            for e in used {
                let sealed = &bytes[e.offset as usize..(e.offset + e.length) as usize];
                builder.add_sealed(e.kind, e.id, sealed, e.raw_length)?;
                if builder.len() >= self.config.pack_size as usize {
                    written.push(self.upload(std::mem::take(&mut builder)).await?);
                }
            }
        }
        if !builder.is_empty() {
            written.push(self.upload(builder).await?);
        }
        Ok(written)
    }

    /// Writes one index object naming `packs`; its name.
    pub(crate) async fn write_index(&self, packs: Vec<(Id, Vec<BlobEntry>)>) -> Result<String> {
        let plain = IndexFile { packs }.encode();
        let id = self.keys.object_id(Kind::Index, &plain);
        let name = format!("index/{id}");
        self.backend
            .put_if_absent(&name, Bytes::from(self.keys.seal(Kind::Index, &id, &plain)))
            .await?;
        Ok(name)
    }

    pub(crate) async fn upload(&self, builder: PackBuilder) -> Result<(Id, Vec<BlobEntry>)> {
        let pack = builder.finish(&self.keys);
        self.backend
            .put_if_absent(&pack_name(&pack.id), Bytes::from(pack.bytes))
            .await?;
        Ok((pack.id, pack.entries))
    }
}
