//! Snapshots: a small JSON header (the only commit point of a backup, listed and filtered without
//! touching contents) plus a list of tree blobs holding the entries. Trees are cut at
//! content-defined boundaries (keyed hash of the entry path), so an unchanged run of entries yields
//! the same tree blob in the next snapshot and is stored once.

use serde::{Deserialize, Serialize};

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};
use crate::id::Id;

/// One record of a snapshot: a path, opaque metadata bytes and the chunks of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// Opaque to the store (the engine's JSON); encrypted inside a tree blob.
    pub meta: Vec<u8>,
    /// Keyed id of the source item version this content came from, for incremental backups.
    pub item: Option<Id>,
    /// Content length in bytes.
    pub size: u64,
    pub chunks: Vec<Id>,
}

/// A failed item named in a partial snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    pub item: String,
    pub reason: String,
}

/// Counts and sizes of a snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotStats {
    pub entries: u64,
    /// Sum of entry content sizes.
    pub bytes: u64,
    /// Chunks this snapshot added to the repository.
    pub new_chunks: u64,
    /// Plaintext bytes of those chunks.
    pub new_bytes: u64,
    /// Bytes of packs uploaded by this backup (encrypted, padded).
    pub uploaded_bytes: u64,
    /// Entries whose content was reused from an earlier snapshot without being read.
    pub reused_entries: u64,
}

/// What the caller says about a snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// Source URL, e.g. `scaleway://fr-par/<project>`.
    pub source: String,
    pub environment: Option<String>,
    pub data_classes: Vec<String>,
    pub tags: Vec<String>,
    pub job: Option<String>,
    pub failures: Vec<Failure>,
    pub parent: Option<Id>,
    /// The writer's own version of what its records mean (the store never reads it), so a
    /// reader can refuse records newer than it understands; `None` in snapshots written before
    /// it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<u32>,
}

/// The `snapshots/<id>` object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub version: u32,
    pub time: chrono::DateTime<chrono::Utc>,
    pub host: String,
    #[serde(flatten)]
    pub meta: SnapshotMeta,
    pub partial: bool,
    pub stats: SnapshotStats,
    pub trees: Vec<Id>,
}

impl SnapshotHeader {
    /// Parses a snapshot header plaintext (fuzzed).
    pub fn parse(bytes: &[u8]) -> Result<SnapshotHeader> {
        let h: SnapshotHeader = serde_json::from_slice(bytes)
            .map_err(|e| Error::Invalid(format!("snapshot header: {e}")))?;
        if h.version != 1 {
            return Err(Error::UnsupportedVersion(h.version));
        }
        Ok(h)
    }
}

const TREE_MAGIC: &[u8; 4] = b"STr1";

/// Encodes a tree blob plaintext.
pub fn encode_tree(entries: &[Entry]) -> Vec<u8> {
    let mut w = Writer::new();
    w.0.extend_from_slice(TREE_MAGIC);
    w.u32(entries.len() as u32);
    for e in entries {
        w.bytes(e.path.as_bytes());
        w.bytes(&e.meta);
        match &e.item {
            Some(id) => {
                w.u8(1);
                w.id(id);
            }
            None => w.u8(0),
        }
        w.u64(e.size);
        w.u32(e.chunks.len() as u32);
        for c in &e.chunks {
            w.id(c);
        }
    }
    w.0
}

/// Parses a tree blob plaintext (fuzzed).
pub fn parse_tree(bytes: &[u8]) -> Result<Vec<Entry>> {
    let mut r = Reader::new(bytes, "tree");
    r.magic(TREE_MAGIC)?;
    let n = r.count(4 + 4 + 1 + 8 + 4)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let path = std::str::from_utf8(r.bytes()?)
            .map_err(|_| Error::Invalid("tree: path is not UTF-8".into()))?
            .to_string();
        let meta = r.bytes()?.to_vec();
        let item = match r.u8()? {
            0 => None,
            1 => Some(r.id()?),
            _ => return Err(Error::Invalid("tree: bad item flag".into())),
        };
        let size = r.u64()?;
        let m = r.count(32)?;
        let mut chunks = Vec::with_capacity(m);
        for _ in 0..m {
            chunks.push(r.id()?);
        }
        out.push(Entry {
            path,
            meta,
            item,
            size,
            chunks,
        });
    }
    r.finish()?;
    Ok(out)
}
