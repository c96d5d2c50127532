//! Writing a snapshot: chunk → keyed id → dedup against the index and this session → gather a
//! pack's blobs → seal the pack on a blocking thread and upload it in the background (so sealing
//! one pack overlaps chunking the next, on another core) → at commit, trees → index → snapshot
//! header. Plaintext waiting to be sealed stays in memory, in buffers zeroized when dropped.
//! Entries wait for commit in an `EntrySorter`, in memory up to a budget and beyond it in sealed
//! runs on an anonymous temporary file (`spill.rs`), so memory does not grow with the project.
//! The snapshot header is the only commit point: until it is written, everything uploaded is
//! unreferenced data that `check` reports and `prune` reclaims.
//!
//! Why a snapshot can never point at pruned data: the shared lock is taken *before* the index is
//! (re)loaded, so every "already stored" decision is made under it; every `add` fails once the
//! lock is lost; and the commit refreshes the lock (the object must still be there), re-lists the
//! indexes and checks every blob it references is still named by one, writes the header, and
//! deletes it again if the lock stopped being trusted while the header was being written.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::buffers::BufferPool;
use crate::cache::KnownItem;
use crate::crypto::{Keys, Kind};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::IndexFile;
use crate::lock::{LockGuard, Started};
use crate::pack::{BlobEntry, PackBuilder};
use crate::repo::{pack_name, Repository};
use crate::snapshot::{encode_tree, Entry, SnapshotHeader, SnapshotMeta, SnapshotStats};
use crate::spill::{EntrySorter, DEFAULT_BUDGET};

/// Packs allowed in flight (being sealed or uploaded) while the next pack fills.
const MAX_INFLIGHT: usize = 3;

/// Buffers a repository keeps for reuse: a filling data pack and tree pack, and each pack in
/// flight with its plaintext and its sealed form.
pub(crate) const POOLED_BUFFERS: usize = 2 + 2 * (MAX_INFLIGHT + 1);

/// A pack's blobs gathered before sealing: their plaintext one after another in one pooled
/// buffer (in memory only, zeroized when it goes back to the pool or is dropped).
#[derive(Default)]
struct Pending {
    plain: Zeroizing<Vec<u8>>,
    /// Each blob and where its plaintext ends in `plain`.
    blobs: Vec<(Kind, Id, usize)>,
}

impl Pending {
    /// Appends a blob's plaintext; a buffer too small is swapped for a larger one from `pool`
    /// (never grown in place, which would free an unwiped copy).
    fn add(
        &mut self,
        pool: &BufferPool,
        pack_size: usize,
        kind: Kind,
        id: Id,
        plaintext: &[u8],
    ) -> Result<()> {
        u32::try_from(plaintext.len())
            .map_err(|_| Error::Invalid(format!("blob {} is larger than 4 GiB", id.short())))?;
        let need = self.plain.len() + plaintext.len();
        if need > self.plain.capacity() {
            // Room for a whole pack (the flush comes once it is passed) and the blob after it.
            let mut larger = pool.take(need.max(pack_size + pack_size / 8));
            larger.extend_from_slice(&self.plain);
            pool.give(std::mem::replace(&mut *self.plain, larger));
        }
        self.plain.extend_from_slice(plaintext);
        self.blobs.push((kind, id, self.plain.len()));
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Plaintext bytes gathered.
    fn bytes(&self) -> usize {
        self.plain.len()
    }

    /// Seals every blob and the header into one pack (CPU-bound: run on a blocking thread),
    /// into a pooled buffer sized once; the plaintext buffer goes back to the pool, wiped.
    fn seal(mut self, keys: &Keys, pool: &BufferPool) -> Result<crate::pack::FinishedPack> {
        let lengths = || {
            self.blobs.iter().scan(0, |start, (_, _, end)| {
                let len = end - *start;
                *start = *end;
                Some(len)
            })
        };
        let (size, _) = PackBuilder::sealed_size(lengths());
        let mut pack = PackBuilder::for_blobs_in(pool.take(size), lengths());
        let mut start = 0;
        for (kind, id, end) in &self.blobs {
            pack.add(keys, *kind, *id, &self.plain[start..*end])?;
            start = *end;
        }
        pool.give(std::mem::take(&mut *self.plain));
        Ok(pack.finish(keys))
    }
}

/// What an in-flight pack became: its id, its index entries and its uploaded size.
type Sealed = (Id, Vec<BlobEntry>, u64);
/// Upper bound of entries per tree blob.
const MAX_TREE_ENTRIES: usize = 1024;

/// A snapshot being written. Nothing is visible to readers until `commit`.
pub struct SnapshotWriter<'r> {
    repo: &'r Repository,
    data: Pending,
    trees: Pending,
    session: HashSet<Id>,
    new_index: IndexFile,
    inflight: Vec<JoinHandle<Result<Sealed>>>,
    entries: EntrySorter,
    stats: SnapshotStats,
    lock: Option<LockGuard>,
    /// When this writer started, noted before it read the marks and the index.
    started: Started,
}

impl Repository {
    /// Starts a snapshot: takes a shared lock so prune cannot run underneath it, then reloads
    /// the index under that lock (what was loaded before may already be pruned). Call
    /// `prepare_incremental` and `known_item` only after this.
    pub async fn writer(&self) -> Result<SnapshotWriter<'_>> {
        let lock = self.lock(crate::lock::LockKind::Shared, "backup").await?;
        // The margin runs from before the marks are read: a mark this writer did not see was
        // written after this instant (docs/repository-format.md, "Why a snapshot never points
        // at a deleted blob").
        let started = Started::now(&*self.clock);
        let loaded = match self.load_marks().await {
            Ok(()) => self.load_index().await,
            Err(e) => Err(e),
        };
        if let Err(e) = loaded {
            let _ = lock.release().await;
            return Err(e);
        }
        Ok(SnapshotWriter {
            repo: self,
            data: Pending::default(),
            trees: Pending::default(),
            session: HashSet::new(),
            new_index: IndexFile::default(),
            inflight: Vec::new(),
            entries: EntrySorter::new(DEFAULT_BUDGET),
            stats: SnapshotStats::default(),
            lock: Some(lock),
            started,
        })
    }
}

impl SnapshotWriter<'_> {
    /// Adds a record with its content. `item_key` names the source item version (for example
    /// `scaleway/<secret id>/<revision>/<created_at>`) so later backups can skip reading it.
    pub async fn add(
        &mut self,
        path: &str,
        meta: &[u8],
        item_key: Option<&str>,
        content: &[u8],
    ) -> Result<()> {
        self.check_lock()?;
        let keys = self.repo.keys.clone();
        let mut chunks = Vec::new();
        for range in self.repo.config.chunker.chunks(content) {
            let piece = &content[range];
            let id = keys.blob_id(Kind::Data, piece);
            chunks.push(id);
            if self.repo.reusable(&id) || !self.session.insert(id) {
                continue;
            }
            let pack_size = self.repo.config.pack_size as usize;
            self.data
                .add(&self.repo.buffers, pack_size, Kind::Data, id, piece)?;
            self.stats.new_chunks += 1;
            self.stats.new_bytes += piece.len() as u64;
            if self.data.bytes() >= pack_size {
                self.flush(Kind::Data).await?;
            }
        }
        self.push(path, meta, item_key, content.len() as u64, chunks)
    }

    /// Adds a record whose content the repository already holds (incremental backup).
    pub fn add_known(
        &mut self,
        path: &str,
        meta: &[u8],
        item_key: Option<&str>,
        known: &KnownItem,
    ) -> Result<()> {
        self.stats.reused_entries += 1;
        self.push(path, meta, item_key, known.size, known.chunks.clone())
    }

    /// How many bytes of entries wait in memory before a sorted run of them is sealed to a
    /// temporary file (default 16 MiB). Any budget gives the same snapshot.
    pub fn set_memory_budget(&mut self, bytes: usize) {
        self.entries.set_budget(bytes);
    }

    /// Sorted runs of entries written to the temporary file so far.
    pub fn spilled_runs(&self) -> usize {
        self.entries.runs()
    }

    fn push(
        &mut self,
        path: &str,
        meta: &[u8],
        item_key: Option<&str>,
        size: u64,
        chunks: Vec<Id>,
    ) -> Result<()> {
        self.stats.entries += 1;
        self.stats.bytes += size;
        let item = item_key.map(|k| self.repo.keys.item_id(k));
        self.entries.push(Entry {
            path: path.to_string(),
            meta: meta.to_vec(),
            item,
            size,
            chunks,
        })
    }

    /// Fails once the lock can no longer be trusted, or once this writer has run past the
    /// repository's maintenance margin (no I/O; cheap enough for every record).
    pub fn check_lock(&self) -> Result<()> {
        self.lock.as_ref().map_or(Ok(()), |l| l.check())?;
        self.within_margin()
    }

    /// `Error::TooLong` once this writer has run for the maintenance margin: from then on a
    /// pack it reuses may have been marked and deleted without it noticing.
    fn within_margin(&self) -> Result<()> {
        let margin = self.repo.config.gc.margin();
        let elapsed = self.started.elapsed(&*self.repo.clock);
        if elapsed >= margin {
            return Err(Error::TooLong {
                elapsed_secs: elapsed.as_secs(),
                margin_secs: margin.as_secs(),
            });
        }
        Ok(())
    }

    /// Counts so far.
    pub fn stats(&self) -> &SnapshotStats {
        &self.stats
    }

    async fn flush(&mut self, kind: Kind) -> Result<()> {
        let builder = match kind {
            Kind::Tree => &mut self.trees,
            _ => &mut self.data,
        };
        if builder.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(builder);
        let keys: Arc<Keys> = self.repo.keys.clone();
        let backend = self.repo.backend.clone();
        let pool = self.repo.buffers.clone();
        self.inflight.push(tokio::spawn(async move {
            let sealing = pool.clone();
            let pack = tokio::task::spawn_blocking(move || pending.seal(&keys, &sealing))
                .await
                .map_err(|e| Error::backend("sealing a pack", e))??;
            let bytes = Bytes::from(pack.bytes);
            let len = bytes.len() as u64;
            backend
                .put_if_absent(&pack_name(&pack.id), bytes.clone())
                .await?;
            // Back to the pool unless the backend still holds it (one in memory keeps it).
            if let Ok(buf) = bytes.try_into_mut() {
                pool.give(buf.into());
            }
            Ok((pack.id, pack.entries, len))
        }));
        while self.inflight.len() > MAX_INFLIGHT {
            let first = self.inflight.remove(0);
            self.landed(join(first).await?);
        }
        Ok(())
    }

    /// Records a pack that is sealed and uploaded.
    fn landed(&mut self, (id, entries, len): Sealed) {
        self.new_index.packs.push((id, entries));
        self.stats.uploaded_bytes += len;
    }

    /// Seals one tree blob of `entries` into the tree pack (unless stored already); its id.
    async fn add_tree(&mut self, entries: &[Entry]) -> Result<Id> {
        let plain = encode_tree(entries);
        let id = self.repo.keys.blob_id(Kind::Tree, &plain);
        if !self.repo.reusable(&id) && self.session.insert(id) {
            let pack_size = self.repo.config.pack_size as usize;
            self.trees
                .add(&self.repo.buffers, pack_size, Kind::Tree, id, &plain)?;
            if self.trees.bytes() >= pack_size {
                self.flush(Kind::Tree).await?;
            }
        }
        Ok(id)
    }

    fn tree_boundary(&self, path: &str, count: usize) -> bool {
        count >= MAX_TREE_ENTRIES || self.repo.keys.object_id(Kind::Tree, path.as_bytes()).0[0] < 4
    }

    /// Writes trees, packs, the index and finally the snapshot header (the commit point).
    /// Whatever happens, the lock is released before this returns.
    pub async fn commit(mut self, meta: SnapshotMeta) -> Result<(Id, SnapshotHeader)> {
        let lock = self.lock.take();
        let result = self.commit_under(meta, lock.as_ref()).await;
        if result.is_err() {
            for h in std::mem::take(&mut self.inflight) {
                let _ = join(h).await;
            }
        }
        if let Some(l) = lock {
            let _ = l.release().await;
        }
        result
    }

    async fn commit_under(
        &mut self,
        meta: SnapshotMeta,
        lock: Option<&LockGuard>,
    ) -> Result<(Id, SnapshotHeader)> {
        if let Some(l) = lock {
            l.check()?;
        }
        self.within_margin()?;
        self.flush(Kind::Data).await?;
        let keys = self.repo.keys.clone();
        let mut trees = Vec::new();
        // Every chunk the entries reference, checked against the re-listed indexes below.
        let mut referenced = HashSet::new();
        let mut tree = Vec::new();
        let sorted = std::mem::replace(&mut self.entries, EntrySorter::new(1)).into_sorted()?;
        let mut sorted = sorted.peekable();
        while let Some(entry) = sorted.next() {
            let entry = entry?;
            referenced.extend(entry.chunks.iter().copied());
            let cut = self.tree_boundary(&entry.path, tree.len() + 1);
            tree.push(entry);
            if cut || sorted.peek().is_none() {
                trees.push(self.add_tree(&std::mem::take(&mut tree)).await?);
            }
        }
        self.flush(Kind::Tree).await?;
        for h in std::mem::take(&mut self.inflight) {
            let sealed = join(h).await?;
            self.landed(sealed);
        }
        if !self.new_index.packs.is_empty() {
            let plain = self.new_index.encode();
            let id = keys.object_id(Kind::Index, &plain);
            let name = format!("index/{id}");
            let sealed = keys.seal(Kind::Index, &id, &plain);
            self.within_margin()?;
            self.repo
                .backend
                .put_if_absent(&name, Bytes::from(sealed.clone()))
                .await?;
            if let Err(e) = self.within_margin() {
                // Landed too late: maintenance may have deleted a pack it names already.
                let _ = self.repo.backend.delete(&name).await;
                return Err(e);
            }
            self.repo.add_written_index(&name, &sealed, &self.new_index);
        }
        if let Some(l) = lock {
            l.refresh().await?;
        }
        self.verify_referenced(&trees, &referenced).await?;
        let header = SnapshotHeader {
            version: 1,
            time: chrono::Utc::now(),
            host: crate::hostname(),
            partial: !meta.failures.is_empty(),
            meta,
            stats: self.stats.clone(),
            trees,
        };
        let plain = serde_json::to_vec(&header).expect("header serializes");
        let id = keys.object_id(Kind::Snapshot, &plain);
        let name = format!("snapshots/{id}");
        let sealed = keys.seal(Kind::Snapshot, &id, &plain);
        self.within_margin()?;
        self.repo
            .backend
            .put_if_absent(&name, Bytes::from(sealed.clone()))
            .await?;
        let trusted = lock
            .map_or(Ok(()), |l| l.check())
            .and_then(|()| self.within_margin());
        if let Err(e) = trusted {
            // The header landed after the lock stopped protecting it, or past the margin: a
            // prune or a maintenance run may have missed it. Take it back rather than leave a
            // snapshot that may dangle.
            let _ = self.repo.backend.delete(&name).await;
            return Err(e);
        }
        // Committed; the cache only saves a download later.
        let _ = self.repo.cache.put_snapshot(&name, &sealed);
        Ok((id, header))
    }

    /// Re-lists the indexes (under the refreshed lock) and fails with `Error::Vanished` if any
    /// blob the snapshot references is no longer named by one.
    async fn verify_referenced(&self, trees: &[Id], chunks: &HashSet<Id>) -> Result<()> {
        self.repo.load_index().await?;
        let mut missing = trees
            .iter()
            .chain(chunks.iter())
            .filter(|id| !self.repo.has_blob(id));
        match missing.next() {
            None => Ok(()),
            Some(first) => Err(Error::Vanished {
                count: 1 + missing.collect::<HashSet<_>>().len(),
                first: *first,
            }),
        }
    }

    /// Gives up this snapshot: waits for uploads, releases the lock. Uploaded packs stay as
    /// unreferenced data for prune.
    pub async fn abort(mut self) -> Result<()> {
        for h in std::mem::take(&mut self.inflight) {
            let _ = join(h).await;
        }
        if let Some(lock) = self.lock.take() {
            lock.release().await?;
        }
        Ok(())
    }
}

async fn join(h: JoinHandle<Result<Sealed>>) -> Result<Sealed> {
    h.await.map_err(|e| Error::backend("pack upload", e))?
}
