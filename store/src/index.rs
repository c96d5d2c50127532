//! Index objects: which pack holds which blob. Written by each backup after its packs and before
//! its snapshot; readers trust only blobs an index names. Several indexes may name the same blob
//! (concurrent backups, interrupted prunes); any of them is correct.

use std::collections::{HashMap, HashSet};

use crate::codec::{Reader, Writer};
use crate::error::Result;
use crate::id::Id;
use crate::pack::{read_entry, write_entry, BlobEntry, ENTRY_LEN};

const MAGIC: &[u8; 4] = b"SIx1";

/// Contents of one `index/<id>` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFile {
    pub packs: Vec<(Id, Vec<BlobEntry>)>,
}

impl IndexFile {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.0.extend_from_slice(MAGIC);
        w.u32(self.packs.len() as u32);
        for (pack, entries) in &self.packs {
            w.id(pack);
            w.u32(entries.len() as u32);
            for e in entries {
                write_entry(&mut w, e);
            }
        }
        w.0
    }

    /// Parses an index plaintext (fuzzed).
    pub fn parse(bytes: &[u8]) -> Result<IndexFile> {
        let mut r = Reader::new(bytes, "index");
        r.magic(MAGIC)?;
        let n = r.count(36)?;
        let mut packs = Vec::with_capacity(n);
        for _ in 0..n {
            let pack = r.id()?;
            let m = r.count(ENTRY_LEN)?;
            let mut entries = Vec::with_capacity(m);
            for _ in 0..m {
                entries.push(read_entry(&mut r)?);
            }
            packs.push((pack, entries));
        }
        r.finish()?;
        Ok(IndexFile { packs })
    }

    pub fn blob_count(&self) -> usize {
        self.packs.iter().map(|(_, e)| e.len()).sum()
    }
}

/// Where a blob can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: Id,
    pub entry: BlobEntry,
}

/// The in-memory union of all indexes.
#[derive(Debug, Default)]
pub struct MemIndex {
    blobs: HashMap<Id, BlobLocation>,
    /// Further packs of blobs stored more than once (repacked by maintenance, or stored by two
    /// backups at once): a backup that must not reuse the first may reuse another.
    more: HashMap<Id, Vec<BlobLocation>>,
}

impl MemIndex {
    pub fn insert(&mut self, pack: Id, entry: BlobEntry) {
        let loc = BlobLocation { pack, entry };
        match self.blobs.entry(entry.id) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(loc);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                if o.get().pack != pack {
                    let more = self.more.entry(entry.id).or_default();
                    if !more.iter().any(|l| l.pack == pack) {
                        more.push(loc);
                    }
                }
            }
        }
    }
    /// A location of `id` in a pack not in `avoid` (the packs maintenance has marked).
    pub fn get_outside(&self, id: &Id, avoid: &HashSet<Id>) -> Option<&BlobLocation> {
        let first = self.blobs.get(id)?;
        if !avoid.contains(&first.pack) {
            return Some(first);
        }
        self.more
            .get(id)
            .and_then(|m| m.iter().find(|l| !avoid.contains(&l.pack)))
    }
    pub fn add_file(&mut self, file: &IndexFile) {
        for (pack, entries) in &file.packs {
            for e in entries {
                self.insert(*pack, *e);
            }
        }
    }
    pub fn get(&self, id: &Id) -> Option<&BlobLocation> {
        self.blobs.get(id)
    }
    pub fn contains(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }
    pub fn len(&self) -> usize {
        self.blobs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &BlobLocation> {
        self.blobs.values()
    }
}
