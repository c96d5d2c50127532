//! `Repository`: opening and creating a repository, key management, the in-memory index, snapshot
//! listing and blob reads. Writing lives in `writer.rs`, verification in `check.rs`, deletion in
//! `gc.rs`.
//!
//! Why over 600 lines: every path here reads or changes the in-memory index and the key under
//! the same `RwLock`s, and the cache-versus-repository fallbacks (damaged cached copy → read the
//! repository's) sit next to the reads they protect; split apart, those invariants would be
//! spread over files that each hold half of a lock discipline.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::cache::{Cache, KnownItem};
use crate::codec::{Reader, Writer};
use crate::config::RepoConfig;
use crate::crypto::{Keys, Kind, MasterKey};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{BlobLocation, IndexFile, MemIndex};
use crate::keyfile::{KdfParams, KeyFile, MAX_KEY_FILE};
use crate::lock::{Clock, LockGuard, LockKind, SystemClock};
use crate::snapshot::{Entry, SnapshotHeader};

/// How to open or create a repository.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Directory of the SQLite cache; `None` keeps the cache in memory.
    pub cache_dir: Option<PathBuf>,
    /// Argon2id parameters for key files written by this handle (init, add key).
    pub kdf: Option<KdfParams>,
    /// The clock lock decisions use; `None` is the system clock (tests inject a jumping one).
    pub clock: Option<Arc<dyn Clock>>,
    /// Maintenance margins of a repository `init` makes (default 6 h and 5 min).
    pub gc: Option<crate::config::GcParams>,
}

/// A key file as listed to users.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub current: bool,
    pub created: chrono::DateTime<chrono::Utc>,
    pub host: String,
    pub label: String,
}

/// A listed snapshot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotInfo {
    pub id: Id,
    #[serde(flatten)]
    pub header: SnapshotHeader,
}

/// Result of listing snapshots: the readable ones and those that failed to read, by object.
#[derive(Debug, Default)]
pub struct SnapshotList {
    pub snapshots: Vec<SnapshotInfo>,
    pub damaged: Vec<(String, String)>,
}

/// An open repository.
pub struct Repository {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) config: RepoConfig,
    pub(crate) keys: Arc<Keys>,
    master: MasterKey,
    key_name: String,
    kdf: KdfParams,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) index: RwLock<LoadedIndex>,
    pub(crate) damaged_indexes: std::sync::Mutex<Vec<(String, String)>>,
    pub(crate) cache: Cache,
    /// Pack buffers reused by this repository's writers (`buffers.rs`).
    pub(crate) buffers: Arc<crate::buffers::BufferPool>,
}

/// The in-memory index and the index objects it was built from.
#[derive(Default)]
pub(crate) struct LoadedIndex {
    pub mem: MemIndex,
    names: HashSet<String>,
    /// Packs maintenance has marked (as of the last `load_marks`): their blobs are not reused.
    marked: HashSet<Id>,
}

/// Plaintext of a cached item row: content size, then chunk ids.
fn encode_item(size: u64, meta: &[u8], chunks: &[Id]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(size);
    w.bytes(meta);
    for c in chunks {
        w.id(c);
    }
    w.0
}

fn decode_item(plain: &[u8]) -> Result<KnownItem> {
    let mut r = Reader::new(plain, "cache item");
    let size = r.u64()?;
    let meta = r.bytes()?.to_vec();
    let rest = plain.len() - 12 - meta.len();
    if !rest.is_multiple_of(32) {
        return Err(Error::Invalid("cache item: bad length".into()));
    }
    let mut chunks = Vec::with_capacity(rest / 32);
    while chunks.len() < chunks.capacity() {
        chunks.push(r.id()?);
    }
    r.finish()?;
    Ok(KnownItem { size, chunks, meta })
}

/// Largest snapshot header read (a header lists tree ids, not entries).
const MAX_SNAPSHOT_OBJECT: u64 = 64 * 1024 * 1024;
/// Content buffers are reserved up to this size; larger content grows as chunks arrive, so a
/// recorded size never becomes an allocation by itself.
const MAX_RESERVE: u64 = 1024 * 1024;

pub(crate) fn pack_name(id: &Id) -> String {
    let h = id.to_hex();
    format!("data/{}/{}", &h[..2], h)
}

pub(crate) fn pack_id_from_name(name: &str) -> Option<Id> {
    name.strip_prefix("data/")
        .and_then(|r| r.split('/').nth(1))
        .and_then(Id::from_hex)
}

impl Repository {
    /// Creates a repository; fails if one exists there.
    pub async fn init(
        backend: Arc<dyn Backend>,
        passphrase: &[u8],
        opts: OpenOptions,
    ) -> Result<Repository> {
        if backend.get("config").await.is_ok() {
            return Err(Error::AlreadyInitialized(backend.location()));
        }
        let mut config = RepoConfig::new();
        if let Some(gc) = opts.gc {
            if gc.margin_secs == 0 || gc.skew_secs == 0 {
                return Err(Error::Invalid(
                    "the maintenance margin and skew must be at least one second".into(),
                ));
            }
            config.gc = gc;
        }
        let repo_id = config.repo_id()?;
        let master = MasterKey::generate();
        let kdf = opts.kdf.unwrap_or_default();
        let kf = KeyFile::wrap(&master, &repo_id, passphrase, kdf, "initial")?;
        backend.secure().await?;
        let key_name = format!("keys/{}", Id::random().to_hex());
        let cfg = serde_json::to_vec_pretty(&config).expect("config serializes");
        if !backend.put_if_absent("config", Bytes::from(cfg)).await? {
            return Err(Error::AlreadyInitialized(backend.location()));
        }
        backend
            .put_if_absent(
                &key_name,
                Bytes::from(serde_json::to_vec_pretty(&kf).expect("key file serializes")),
            )
            .await?;
        Self::assemble(backend, config, master, key_name, kdf, &opts).await
    }

    /// Opens a repository with a passphrase (tries every key file).
    pub async fn open(
        backend: Arc<dyn Backend>,
        passphrase: &[u8],
        opts: OpenOptions,
    ) -> Result<Repository> {
        let cfg = match backend.get("config").await {
            Ok(b) => b,
            Err(Error::NotFound(_)) => return Err(Error::NotARepository(backend.location())),
            Err(e) => return Err(e),
        };
        let config = RepoConfig::parse(&cfg)?;
        let repo_id = config.repo_id()?;
        match backend.secure().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                location = %backend.location(),
                entries = n,
                "repository files were readable by other local users; made them private (0700/0600)"
            ),
            Err(e) => tracing::warn!(error = %e, "could not make the repository private"),
        }
        let mut candidates = Vec::new();
        for o in backend.list("keys/").await? {
            if o.size > MAX_KEY_FILE as u64 {
                tracing::warn!(key = %o.name, "skipping an oversized key file");
                continue;
            }
            let bytes = backend.get(&o.name).await?;
            match KeyFile::parse(&bytes) {
                Ok(kf) => candidates.push((o.name, kf)),
                Err(e) => tracing::warn!(key = %o.name, error = %e, "skipping a key file"),
            }
        }
        // Cheapest first: a planted costly key file delays only passphrases no cheaper key opens.
        candidates.sort_by_key(|(_, kf)| kf.params.work());
        for (name, kf) in candidates {
            match kf.unwrap_key(&repo_id, passphrase) {
                Ok(master) => {
                    let kdf = opts.kdf.unwrap_or(kf.params);
                    return Self::assemble(backend, config, master, name, kdf, &opts).await;
                }
                Err(Error::WrongPassword) => continue,
                Err(e) => tracing::warn!(key = %name, error = %e, "skipping key file"),
            }
        }
        Err(Error::WrongPassword)
    }

    async fn assemble(
        backend: Arc<dyn Backend>,
        config: RepoConfig,
        master: MasterKey,
        key_name: String,
        kdf: KdfParams,
        opts: &OpenOptions,
    ) -> Result<Repository> {
        let repo_id = config.repo_id()?;
        let cache = Cache::open(opts.cache_dir.as_deref(), &config.id)?;
        let repo = Repository {
            keys: Arc::new(Keys::new(&master, repo_id)),
            backend,
            config,
            master,
            key_name,
            kdf,
            clock: opts.clock.clone().unwrap_or_else(|| Arc::new(SystemClock)),
            index: RwLock::new(LoadedIndex::default()),
            damaged_indexes: Default::default(),
            cache,
            buffers: Arc::new(crate::buffers::BufferPool::new(
                crate::writer::POOLED_BUFFERS,
            )),
        };
        repo.load_index().await?;
        Ok(repo)
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }
    pub fn config(&self) -> &RepoConfig {
        &self.config
    }
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Names of the objects under `prefix`.
    pub(crate) async fn list_names(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .backend
            .list(prefix)
            .await?
            .into_iter()
            .map(|o| o.name)
            .collect())
    }

    /// Every pack in `data/` with its size.
    pub(crate) async fn list_packs(&self) -> Result<std::collections::HashMap<Id, u64>> {
        Ok(self
            .backend
            .list("data/")
            .await?
            .into_iter()
            .filter_map(|o| pack_id_from_name(&o.name).map(|id| (id, o.size)))
            .collect())
    }

    /// Takes a lock of `kind` on the repository.
    pub async fn lock(&self, kind: LockKind, purpose: &str) -> Result<LockGuard> {
        crate::lock::acquire(
            self.backend.clone(),
            self.keys.clone(),
            self.clock.clone(),
            kind,
            purpose,
        )
        .await
    }

    /// `lock`, retried with backoff (1 s doubling to 30 s) for up to `wait` while another
    /// process holds a conflicting lock; then `Error::Locked` naming the holders.
    pub async fn lock_waiting(
        &self,
        kind: LockKind,
        purpose: &str,
        wait: std::time::Duration,
    ) -> Result<LockGuard> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut delay = std::time::Duration::from_secs(1);
        loop {
            match self.lock(kind, purpose).await {
                Err(Error::Locked(who)) if tokio::time::Instant::now() < deadline => {
                    tracing::info!(holders = %who, "repository is locked; waiting");
                    let left = deadline - tokio::time::Instant::now();
                    tokio::time::sleep(delay.min(left)).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(30));
                }
                other => return other,
            }
        }
    }

    /// Brings the in-memory index up to date with `index/`: index objects not loaded yet are
    /// read (from the cache when it holds an authentic copy); if any loaded one vanished (a prune
    /// replaced it), the index is rebuilt from the listed ones only.
    pub async fn load_index(&self) -> Result<()> {
        // An index listed and then deleted before it was read was replaced by maintenance's
        // consolidated one, which the next listing names.
        for _ in 0..4 {
            if self.load_index_once().await? {
                return Ok(());
            }
        }
        Err(Error::backend(
            "index/",
            "indexes kept being replaced while being read; try again",
        ))
    }

    /// One listing's worth of `load_index`; `false` when a listed index vanished before it was
    /// read (nothing is changed then).
    async fn load_index_once(&self) -> Result<bool> {
        let listed: HashSet<String> = self.list_names("index/").await?.into_iter().collect();
        for name in self.cache.index_names()? {
            if !listed.contains(&name) {
                self.cache.remove_index_object(&name)?;
            }
        }
        let rebuild = {
            let cur = self.index.read().unwrap_or_else(|p| p.into_inner());
            cur.names.iter().any(|n| !listed.contains(n))
        };
        let wanted: Vec<&String> = if rebuild {
            listed.iter().collect()
        } else {
            let cur = self.index.read().unwrap_or_else(|p| p.into_inner());
            listed.iter().filter(|n| !cur.names.contains(*n)).collect()
        };
        let mut files = Vec::new();
        let mut damaged = Vec::new();
        for name in wanted {
            match self.index_file(name).await {
                Ok(file) => files.push((name.clone(), file)),
                Err(Error::NotFound(_)) => return Ok(false),
                Err(e) => {
                    tracing::warn!(index = %name, error = %e, "index object is unreadable; its \
                     blobs are unknown");
                    damaged.push((name.clone(), e.to_string()));
                }
            }
        }
        {
            let mut cur = self.index.write().unwrap_or_else(|p| p.into_inner());
            if rebuild {
                cur.mem = MemIndex::default();
                cur.names.clear();
            }
            for (name, file) in files {
                cur.mem.add_file(&file);
                cur.names.insert(name);
            }
        }
        *self
            .damaged_indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = damaged;
        Ok(true)
    }

    /// One index object: the cache's copy if it authenticates (else dropped), or the backend's.
    async fn index_file(&self, name: &str) -> Result<IndexFile> {
        if let Some(sealed) = self.cache.index_object(name)? {
            match self.open_index(name, &sealed) {
                Ok(file) => return Ok(file),
                Err(e) => {
                    tracing::warn!(index = %name, error = %e, "cached index copy is damaged; \
                     reading the repository's");
                    self.cache.remove_index_object(name)?;
                }
            }
        }
        let bytes = self.backend.get(name).await?;
        let file = self.open_index(name, &bytes)?;
        self.cache.put_index_object(name, &bytes)?;
        Ok(file)
    }

    fn open_index(&self, name: &str, sealed: &[u8]) -> Result<IndexFile> {
        let id = name
            .strip_prefix("index/")
            .and_then(Id::from_hex)
            .ok_or_else(|| Error::damaged(name, "name is not an id"))?;
        let plain = self.keys.open_verified(Kind::Index, &id, sealed)?;
        IndexFile::parse(&plain).map_err(|e| Error::damaged(name, e.to_string()))
    }

    /// Records an index object this handle wrote (it joins the in-memory index and the cache).
    pub(crate) fn add_written_index(&self, name: &str, sealed: &[u8], file: &IndexFile) {
        let _ = self.cache.put_index_object(name, sealed);
        let mut cur = self.index.write().unwrap_or_else(|p| p.into_inner());
        cur.mem.add_file(file);
        cur.names.insert(name.to_string());
    }

    /// Reads and authenticates one index object.
    pub(crate) async fn read_index(&self, name: &str) -> Result<IndexFile> {
        let bytes = self.backend.get(name).await?;
        self.open_index(name, &bytes)
    }

    /// Reads maintenance's marks (`garbage.rs`): blobs only in marked packs stop being
    /// [`reusable`](Self::reusable). A writer calls this after noting its start.
    pub(crate) async fn load_marks(&self) -> Result<()> {
        let marked = crate::garbage::read(&*self.backend, &self.keys)
            .await?
            .marked();
        self.index.write().unwrap_or_else(|p| p.into_inner()).marked = marked;
        Ok(())
    }

    /// Whether a backup may reference blob `id` without storing it again: it is indexed in a
    /// pack maintenance has not marked.
    pub fn reusable(&self, id: &Id) -> bool {
        let cur = self.index.read().unwrap_or_else(|p| p.into_inner());
        cur.mem.get_outside(id, &cur.marked).is_some()
    }

    /// Whether the repository holds blob `id` (marked packs included: they are not deleted
    /// before every backup that could have reused them has stopped or committed).
    pub fn has_blob(&self, id: &Id) -> bool {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .mem
            .contains(id)
    }

    pub(crate) fn locate(&self, id: &Id) -> Option<BlobLocation> {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .mem
            .get(id)
            .copied()
    }

    /// Reads, decrypts and verifies one blob.
    pub async fn read_blob(&self, kind: Kind, id: &Id) -> Result<Zeroizing<Vec<u8>>> {
        let loc = match self.locate(id) {
            Some(l) => l,
            None => {
                // Another process may have committed since we loaded the index.
                self.load_index().await?;
                self.locate(id).ok_or(Error::UnknownBlob(*id))?
            }
        };
        let (name, bytes) = match self.read_located(&loc).await {
            // Maintenance deleted that copy (its blobs were repacked): read where the
            // current indexes say.
            Err(Error::NotFound(_)) => {
                self.load_index().await?;
                match self.locate(id) {
                    Some(other) if other.pack != loc.pack => self.read_located(&other).await?,
                    _ => return Err(Error::NotFound(pack_name(&loc.pack))),
                }
            }
            other => other?,
        };
        self.keys
            .open_verified(kind, id, &bytes)
            .map_err(|e| match e {
                Error::Damaged { reason, .. } => {
                    Error::damaged(name, format!("blob {}: {reason}", id.short()))
                }
                other => other,
            })
    }

    async fn read_located(&self, loc: &BlobLocation) -> Result<(String, Bytes)> {
        let name = pack_name(&loc.pack);
        let start = loc.entry.offset as u64;
        let bytes = self
            .backend
            .get_range(&name, start..start + loc.entry.length as u64)
            .await?;
        Ok((name, bytes))
    }

    /// The content of an entry, reassembled from its chunks (zeroized on drop).
    pub async fn read_content(&self, entry: &Entry) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(Vec::with_capacity(entry.size.min(MAX_RESERVE) as usize));
        for c in &entry.chunks {
            out.extend_from_slice(&self.read_blob(Kind::Data, c).await?);
        }
        if out.len() as u64 != entry.size {
            return Err(Error::damaged(
                format!("entry {}", entry.path),
                "content size differs from the recorded size",
            ));
        }
        Ok(out)
    }

    /// Every readable snapshot header (sorted by time), plus the ones that failed to read.
    pub async fn snapshots(&self) -> Result<SnapshotList> {
        let objects = self.backend.list("snapshots/").await?;
        let names: Vec<String> = objects.iter().map(|o| o.name.clone()).collect();
        self.cache.retain_snapshots(&names)?;
        let mut list = SnapshotList::default();
        for o in objects {
            let name = o.name;
            if o.size > MAX_SNAPSHOT_OBJECT {
                list.damaged
                    .push((name, "larger than any snapshot header".into()));
                continue;
            }
            match self.read_snapshot_object(&name).await {
                Ok(info) => list.snapshots.push(info),
                // Forgotten by another process since the listing: gone, not damaged.
                Err(Error::NotFound(_)) => {}
                Err(e) => list.damaged.push((name, e.to_string())),
            }
        }
        list.snapshots
            .sort_by(|a, b| a.header.time.cmp(&b.header.time).then(a.id.cmp(&b.id)));
        Ok(list)
    }

    async fn read_snapshot_object(&self, name: &str) -> Result<SnapshotInfo> {
        let id = name
            .strip_prefix("snapshots/")
            .and_then(Id::from_hex)
            .ok_or_else(|| Error::damaged(name, "name is not an id"))?;
        let cached = self.cache.snapshot(name)?.and_then(|sealed| {
            match self.keys.open_verified(Kind::Snapshot, &id, &sealed) {
                Ok(plain) => Some(plain),
                Err(e) => {
                    tracing::warn!(snapshot = %name, error = %e, "cached snapshot copy is damaged; \
                     reading the repository's");
                    let _ = self.cache.remove_snapshot(name);
                    None
                }
            }
        });
        let plain = match cached {
            Some(plain) => plain,
            None => {
                let b = self.backend.get(name).await?.to_vec();
                let plain = self
                    .keys
                    .open_verified(Kind::Snapshot, &id, &b)
                    .map_err(|e| Error::damaged(name, e.to_string()))?;
                self.cache.put_snapshot(name, &b)?;
                plain
            }
        };
        let header =
            SnapshotHeader::parse(&plain).map_err(|e| Error::damaged(name, e.to_string()))?;
        Ok(SnapshotInfo { id, header })
    }

    /// One snapshot by id.
    pub async fn snapshot(&self, id: &Id) -> Result<SnapshotInfo> {
        self.read_snapshot_object(&format!("snapshots/{id}")).await
    }

    /// Resolves a full id or a unique prefix of one.
    pub async fn resolve_snapshot(&self, prefix: &str) -> Result<Id> {
        let prefix = prefix.to_ascii_lowercase();
        let matches: Vec<Id> = self
            .backend
            .list("snapshots/")
            .await?
            .iter()
            .filter_map(|o| o.name.strip_prefix("snapshots/").and_then(Id::from_hex))
            .filter(|id| id.to_hex().starts_with(&prefix))
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(Error::NotFound(format!("snapshot {prefix}"))),
            _ => Err(Error::Invalid(format!(
                "snapshot id prefix {prefix} is ambiguous ({} matches)",
                matches.len()
            ))),
        }
    }

    /// All entries of a snapshot, in path order.
    pub async fn entries(&self, header: &SnapshotHeader) -> Result<Vec<Entry>> {
        let mut out = Vec::with_capacity(header.stats.entries as usize);
        for t in &header.trees {
            out.extend(self.tree(t).await?);
        }
        Ok(out)
    }

    /// The entries of one tree blob (in path order; a snapshot's trees follow each other in
    /// path order too), for readers that take a snapshot a tree at a time.
    pub async fn tree(&self, id: &Id) -> Result<Vec<Entry>> {
        let plain = self.read_blob(Kind::Tree, id).await?;
        crate::snapshot::parse_tree(&plain)
            .map_err(|e| Error::damaged(format!("tree {id}"), e.to_string()))
    }

    /// Makes `known_item` answer for every snapshot (reads trees of snapshots not seen before);
    /// returns the snapshot list it read, so callers need not list again.
    pub async fn prepare_incremental(&self) -> Result<SnapshotList> {
        let done = self.cache.item_snapshots()?;
        let list = self.snapshots().await?;
        for info in &list.snapshots {
            let name = format!("snapshots/{}", info.id);
            if done.contains(&name) {
                continue;
            }
            match self.cache_items(&info.header).await? {
                Ok(()) => self.cache.items_done(&name)?,
                Err(e) => {
                    tracing::warn!(snapshot = %info.id.short(), error = %e, "cannot use snapshot \
                     for incremental backup")
                }
            }
        }
        Ok(list)
    }

    /// Caches the item rows of one snapshot, a tree at a time (memory stays one tree's worth).
    /// The inner error is an unreadable tree (that snapshot is skipped, as before); the outer
    /// one a cache failure (fatal, as before).
    async fn cache_items(&self, header: &SnapshotHeader) -> Result<Result<()>> {
        for t in &header.trees {
            let entries = match self.tree(t).await {
                Ok(entries) => entries,
                Err(e) => return Ok(Err(e)),
            };
            self.cache.add_items(entries.iter().filter_map(|e| {
                e.item.map(|k| {
                    let plain = encode_item(e.size, &e.meta, &e.chunks);
                    (k, self.keys.seal(Kind::CacheItem, &k, &plain))
                })
            }))?;
        }
        Ok(Ok(()))
    }

    /// The stored content of a source item version, if the repository still holds all of it.
    /// A cache row that does not authenticate is not believed: every item row is dropped, to
    /// be rebuilt from the snapshots by the next `prepare_incremental`.
    pub fn known_item(&self, item_key: &str) -> Result<Option<KnownItem>> {
        let key = self.keys.item_id(item_key);
        let Some(sealed) = self.cache.item(&key)? else {
            return Ok(None);
        };
        let item = match self
            .keys
            .open(Kind::CacheItem, &key, &sealed)
            .and_then(|plain| decode_item(&plain))
        {
            Ok(item) => item,
            Err(e) => {
                tracing::warn!(error = %e, "cached item row is damaged; forgetting cached items");
                self.cache.clear_items()?;
                return Ok(None);
            }
        };
        Ok(Some(item).filter(|k| k.chunks.iter().all(|c| self.reusable(c))))
    }

    /// Key files of this repository.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        for o in self.backend.list("keys/").await? {
            let kf = match self
                .backend
                .get(&o.name)
                .await
                .and_then(|b| KeyFile::parse(&b))
            {
                Ok(kf) => kf,
                Err(e) => {
                    tracing::warn!(key = %o.name, error = %e, "skipping a key file");
                    continue;
                }
            };
            out.push(KeyInfo {
                id: o.name.trim_start_matches("keys/").to_string(),
                current: o.name == self.key_name,
                created: kf.created,
                host: kf.host,
                label: kf.label,
            });
        }
        Ok(out)
    }

    /// Adds a passphrase; returns the new key's id.
    pub async fn add_key(&self, passphrase: &[u8], label: &str) -> Result<String> {
        let kf = KeyFile::wrap(
            &self.master,
            &self.keys.repo_id(),
            passphrase,
            self.kdf,
            label,
        )?;
        let id = Id::random().to_hex();
        self.backend
            .put_if_absent(
                &format!("keys/{id}"),
                Bytes::from(serde_json::to_vec_pretty(&kf).expect("serializes")),
            )
            .await?;
        Ok(id)
    }

    /// Removes a key file (never the one this handle was opened with, so one always remains).
    pub async fn remove_key(&self, id: &str) -> Result<()> {
        let name = format!("keys/{id}");
        if name == self.key_name {
            return Err(Error::Invalid(
                "refusing to remove the key in use; open with another key first".into(),
            ));
        }
        if !self
            .backend
            .list("keys/")
            .await?
            .iter()
            .any(|o| o.name == name)
        {
            return Err(Error::NotFound(name));
        }
        self.backend.delete(&name).await
    }

    /// Replaces the passphrase of the key in use: adds a new key file, then removes the old one.
    pub async fn change_passphrase(&mut self, new_passphrase: &[u8]) -> Result<String> {
        let id = self.add_key(new_passphrase, "changed").await?;
        let old = std::mem::replace(&mut self.key_name, format!("keys/{id}"));
        self.backend.delete(&old).await?;
        Ok(id)
    }
}
