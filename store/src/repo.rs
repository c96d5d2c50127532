//! `Repository`: opening and creating a repository, key management, the in-memory index, snapshot
//! listing and blob reads. Writing lives in `writer.rs`, verification in `check.rs`, deletion in
//! `gc.rs`.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::cache::{Cache, KnownItem};
use crate::config::RepoConfig;
use crate::crypto::{Keys, Kind, MasterKey};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{BlobLocation, IndexFile, MemIndex};
use crate::keyfile::{KdfParams, KeyFile};
use crate::snapshot::{Entry, SnapshotHeader};

/// How to open or create a repository.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Directory of the SQLite cache; `None` keeps the cache in memory.
    pub cache_dir: Option<PathBuf>,
    /// Argon2id parameters for key files written by this handle (init, add key).
    pub kdf: Option<KdfParams>,
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
    pub(crate) index: RwLock<MemIndex>,
    pub(crate) damaged_indexes: std::sync::Mutex<Vec<(String, String)>>,
    pub(crate) cache: Cache,
}

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
        let config = RepoConfig::new();
        let repo_id = config.repo_id()?;
        let master = MasterKey::generate();
        let kdf = opts.kdf.unwrap_or_default();
        let kf = KeyFile::wrap(&master, &repo_id, passphrase, kdf, "initial")?;
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
        for o in backend.list("keys/").await? {
            let bytes = backend.get(&o.name).await?;
            let Ok(kf) = KeyFile::parse(&bytes) else {
                tracing::warn!(key = %o.name, "skipping an unreadable key file");
                continue;
            };
            match kf.unwrap_key(&repo_id, passphrase) {
                Ok(master) => {
                    let kdf = opts.kdf.unwrap_or(kf.params);
                    return Self::assemble(backend, config, master, o.name, kdf, &opts).await;
                }
                Err(Error::WrongPassword) => continue,
                Err(e) => tracing::warn!(key = %o.name, error = %e, "skipping key file"),
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
            index: RwLock::new(MemIndex::default()),
            damaged_indexes: Default::default(),
            cache,
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

    /// Brings the in-memory index up to date with `index/` (through the cache).
    pub async fn load_index(&self) -> Result<()> {
        let listed = self.list_names("index/").await?;
        let cached = self.cache.index_files()?;
        if cached.iter().any(|c| !listed.contains(c)) {
            self.cache.clear_index()?;
        }
        let cached = self.cache.index_files()?;
        let mut damaged = Vec::new();
        for name in listed.iter().filter(|n| !cached.contains(n)) {
            match self.read_index(name).await {
                Ok(file) => self.cache.add_index(name, &file.packs)?,
                Err(e) => {
                    tracing::warn!(index = %name, error = %e, "index object is unreadable; its blobs are unknown");
                    damaged.push((name.clone(), e.to_string()));
                }
            }
        }
        let mut mem = MemIndex::default();
        for (pack, entry) in self.cache.all_blobs()? {
            mem.insert(pack, entry);
        }
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = mem;
        *self
            .damaged_indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = damaged;
        Ok(())
    }

    /// Reads and authenticates one index object.
    pub(crate) async fn read_index(&self, name: &str) -> Result<IndexFile> {
        let id = name
            .strip_prefix("index/")
            .and_then(Id::from_hex)
            .ok_or_else(|| Error::damaged(name, "name is not an id"))?;
        let bytes = self.backend.get(name).await?;
        let plain = self.keys.open_verified(Kind::Index, &id, &bytes)?;
        IndexFile::parse(&plain).map_err(|e| Error::damaged(name, e.to_string()))
    }

    /// Whether the repository holds blob `id`.
    pub fn has_blob(&self, id: &Id) -> bool {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    pub(crate) fn locate(&self, id: &Id) -> Option<BlobLocation> {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
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
        let name = pack_name(&loc.pack);
        let start = loc.entry.offset as u64;
        let bytes = self
            .backend
            .get_range(&name, start..start + loc.entry.length as u64)
            .await?;
        self.keys
            .open_verified(kind, id, &bytes)
            .map_err(|e| match e {
                Error::Damaged { reason, .. } => {
                    Error::damaged(name, format!("blob {}: {reason}", id.short()))
                }
                other => other,
            })
    }

    /// The content of an entry, reassembled from its chunks (zeroized on drop).
    pub async fn read_content(&self, entry: &Entry) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(Vec::with_capacity(entry.size as usize));
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
        let names = self.list_names("snapshots/").await?;
        self.cache.retain_snapshots(&names)?;
        let mut list = SnapshotList::default();
        for name in names {
            match self.read_snapshot_object(&name).await {
                Ok(info) => list.snapshots.push(info),
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
        let sealed = match self.cache.snapshot(name)? {
            Some(s) => s,
            None => {
                let b = self.backend.get(name).await?.to_vec();
                self.cache.put_snapshot(name, &b)?;
                b
            }
        };
        let plain = self
            .keys
            .open_verified(Kind::Snapshot, &id, &sealed)
            .map_err(|e| Error::damaged(name, e.to_string()))?;
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
            let plain = self.read_blob(Kind::Tree, t).await?;
            out.extend(
                crate::snapshot::parse_tree(&plain)
                    .map_err(|e| Error::damaged(format!("tree {t}"), e.to_string()))?,
            );
        }
        Ok(out)
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
            match self.entries(&info.header).await {
                Ok(entries) => self.cache.add_items(
                    &name,
                    entries
                        .iter()
                        .filter_map(|e| e.item.as_ref().map(|k| (k, e.size, e.chunks.as_slice()))),
                )?,
                Err(e) => {
                    tracing::warn!(snapshot = %info.id.short(), error = %e, "cannot use snapshot for incremental backup")
                }
            }
        }
        Ok(list)
    }

    /// The stored content of a source item version, if the repository still holds all of it.
    pub fn known_item(&self, item_key: &str) -> Result<Option<KnownItem>> {
        let key = self.keys.item_id(item_key);
        Ok(self
            .cache
            .item(&key)?
            .filter(|k| k.chunks.iter().all(|c| self.has_blob(c))))
    }

    /// Key files of this repository.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        for o in self.backend.list("keys/").await? {
            let kf = KeyFile::parse(&self.backend.get(&o.name).await?)?;
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
