//! `check`: verifies the repository from its objects alone (never the cache). Structure: config,
//! keys, every index and snapshot authenticates and parses, every referenced pack exists and its
//! header agrees with the index, every tree and chunk a snapshot needs is indexed. With read-data
//! (all packs or a subset), every blob is decrypted and its keyed id recomputed. Damage is named
//! by object; unreferenced data and crash debris are warnings, not errors.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::crypto::Kind;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::pack::{parse_header, BlobEntry};
use crate::repo::{pack_name, Repository};

/// Which packs `--read-data` reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Subset {
    All,
    /// Part `n` of `m` (1-based), by the first byte of the pack id: parts cover the repository.
    Part {
        n: u32,
        m: u32,
    },
    /// A random percentage of packs.
    Percent(f64),
}

impl std::str::FromStr for Subset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subset> {
        let bad = || {
            Error::Invalid(format!(
                "read-data subset {s:?}: use n/m (e.g. 1/5) or a percentage (e.g. 10%)"
            ))
        };
        if s.is_empty() || s == "all" {
            return Ok(Subset::All);
        }
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.parse().map_err(|_| bad())?;
            return if (0.0..=100.0).contains(&p) {
                Ok(Subset::Percent(p))
            } else {
                Err(bad())
            };
        }
        let (n, m) = s.split_once('/').ok_or_else(bad)?;
        let (n, m): (u32, u32) = (n.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m == 0 || n == 0 || n > m || m > 256 {
            return Err(bad());
        }
        Ok(Subset::Part { n, m })
    }
}

impl Subset {
    fn selects(&self, pack: &Id) -> bool {
        match self {
            Subset::All => true,
            Subset::Part { n, m } => (pack.0[0] as u32 % m) + 1 == *n,
            Subset::Percent(p) => rand::random::<f64>() * 100.0 < *p,
        }
    }
}

/// One finding.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub object: String,
    pub problem: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub snapshots: usize,
    pub indexes: usize,
    pub packs: usize,
    pub blobs: usize,
    pub packs_read: usize,
    pub blobs_verified: usize,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
    fn error(&mut self, object: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(Problem {
            object: object.into(),
            problem: problem.into(),
        });
    }
    fn warn(&mut self, object: impl Into<String>, problem: impl Into<String>) {
        self.warnings.push(Problem {
            object: object.into(),
            problem: problem.into(),
        });
    }
}

fn describe(e: &Error) -> String {
    match e {
        Error::Damaged { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

impl Repository {
    /// Verifies the repository; `read_data` also decrypts every blob of the selected packs.
    /// Holds a shared lock, so a prune cannot delete what it is reading (which `check` would
    /// otherwise report as damage).
    pub async fn check(&self, read_data: Option<Subset>) -> Result<CheckReport> {
        let lock = self.lock(crate::lock::LockKind::Shared, "check").await?;
        let result = self.check_locked(read_data).await;
        let _ = lock.release().await;
        result
    }

    async fn check_locked(&self, read_data: Option<Subset>) -> Result<CheckReport> {
        let mut r = CheckReport::default();
        for o in self.backend.list("keys/").await? {
            if let Err(e) = crate::keyfile::KeyFile::parse(&self.backend.get(&o.name).await?) {
                r.error(&o.name, describe(&e));
            }
        }
        // Snapshots are listed before indexes: a backup writes its index before its snapshot,
        // so every snapshot listed here has its index in the listing below, whatever another
        // agent commits meanwhile (one committed later is simply not checked this time).
        let snapshots = self.backend.list("snapshots/").await?;
        // Indexes, straight from the repository.
        let mut packs: HashMap<Id, Vec<BlobEntry>> = HashMap::new();
        // An index that vanishes between the listing and its read was replaced by maintenance's
        // consolidated one (written first): list again.
        let mut relists = 0;
        'list: loop {
            packs.clear();
            let mut problems = Vec::new();
            let listing = self.backend.list("index/").await?;
            for o in &listing {
                match self.read_index(&o.name).await {
                    Ok(file) => {
                        for (pack, entries) in file.packs {
                            packs.entry(pack).or_insert(entries);
                        }
                    }
                    Err(Error::NotFound(_)) if relists < 5 => {
                        relists += 1;
                        continue 'list;
                    }
                    Err(e) => problems.push((o.name.clone(), describe(&e))),
                }
            }
            r.indexes = listing.len();
            for (name, problem) in problems {
                r.error(name, problem);
            }
            break;
        }
        // Packs: existence and header agreement.
        let listed = self.list_packs().await?;
        r.packs = listed.len();
        // Read after the packs are listed: a pack maintenance deleted before that listing is
        // marked in what is read here (a deleted pack's mark stays as a tombstone).
        let marked = match crate::garbage::read(&*self.backend, &self.keys).await {
            Ok(g) => g.marked(),
            Err(e) => {
                r.error("garbage/", describe(&e));
                HashSet::new()
            }
        };
        // An index may still name a pack maintenance deleted (an index it has not replaced
        // yet): those blobs are not in the repository, and nothing else is wrong.
        packs.retain(|id, _| listed.contains_key(id) || !marked.contains(id));
        let indexed: HashSet<Id> = packs.values().flatten().map(|e| e.id).collect();
        r.blobs = indexed.len();
        let mut ids: Vec<&Id> = packs.keys().collect();
        ids.sort();
        for id in ids {
            let name = pack_name(id);
            let Some(&size) = listed.get(id) else {
                r.error(&name, "pack named by an index is missing");
                continue;
            };
            match self.pack_header(id, size).await {
                Ok(h) if h == packs[id] => {}
                // Deleted by maintenance since the listing: it was marked.
                Err(Error::NotFound(_)) if marked.contains(id) => {}
                Ok(_) => r.error(&name, "pack header disagrees with the index"),
                Err(e) => r.error(&name, describe(&e)),
            }
        }
        for id in listed.keys().filter(|id| !packs.contains_key(id)) {
            r.warn(
                pack_name(id),
                "unreferenced pack (left by an interrupted backup or prune; prune reclaims it)",
            );
        }
        // Snapshots and what they reference.
        let mut seen_trees = HashSet::new();
        for o in snapshots {
            let Some(id) = o.name.strip_prefix("snapshots/").and_then(Id::from_hex) else {
                r.error(&o.name, "name is not a snapshot id");
                continue;
            };
            let header = match self.backend.get(&o.name).await.and_then(|b| {
                let plain = self.keys.open_verified(Kind::Snapshot, &id, &b)?;
                crate::snapshot::SnapshotHeader::parse(&plain)
            }) {
                Ok(h) => h,
                // Forgotten by a retention since the listing: nothing left to check.
                Err(Error::NotFound(_)) => continue,
                Err(e) => {
                    r.error(&o.name, describe(&e));
                    continue;
                }
            };
            r.snapshots += 1;
            for t in &header.trees {
                if !indexed.contains(t) {
                    r.error(&o.name, format!("tree {} is not in any index", t.short()));
                    continue;
                }
                if !seen_trees.insert(*t) {
                    continue;
                }
                let entries = match self
                    .read_blob(Kind::Tree, t)
                    .await
                    .and_then(|p| crate::snapshot::parse_tree(&p))
                {
                    Ok(es) => es,
                    Err(e) => {
                        r.error(&o.name, format!("tree {}: {}", t.short(), describe(&e)));
                        continue;
                    }
                };
                for e in &entries {
                    if let Some(c) = e.chunks.iter().find(|c| !indexed.contains(c)) {
                        r.error(
                            &o.name,
                            format!(
                                "entry {:?}: chunk {} is not in any index",
                                e.path,
                                c.short()
                            ),
                        );
                    }
                }
            }
        }
        // Data.
        if let Some(subset) = read_data {
            let mut ids: Vec<&Id> = packs
                .keys()
                .filter(|id| listed.contains_key(id) && subset.selects(id))
                .collect();
            ids.sort();
            for id in ids {
                r.packs_read += 1;
                let name = pack_name(id);
                let bytes = match self.backend.get(&name).await {
                    Ok(b) => b,
                    Err(Error::NotFound(_)) if marked.contains(id) => continue,
                    Err(e) => {
                        r.error(&name, describe(&e));
                        continue;
                    }
                };
                let entries = match crate::pack::read_header(&self.keys, id, &bytes) {
                    Ok(h) => h,
                    Err(e) => {
                        r.error(&name, describe(&e));
                        packs[id].clone()
                    }
                };
                for e in entries {
                    let end = e.offset as usize + e.length as usize;
                    let res = if end <= bytes.len() {
                        self.keys
                            .open_verified(e.kind, &e.id, &bytes[e.offset as usize..end])
                            .map(|_| ())
                    } else {
                        Err(Error::damaged(&name, "blob beyond the end of the pack"))
                    };
                    match res {
                        Ok(()) => r.blobs_verified += 1,
                        Err(err) => r.error(
                            &name,
                            format!(
                                "{} blob {}: {}",
                                e.kind.name(),
                                e.id.short(),
                                describe(&err)
                            ),
                        ),
                    }
                }
            }
        }
        for l in self.backend.leftovers().await? {
            r.warn(
                l,
                "temporary file left by an interrupted write (safe to delete)",
            );
        }
        Ok(r)
    }

    /// Reads a pack's header with two ranged reads (trailer, then header).
    pub(crate) async fn pack_header(&self, id: &Id, size: u64) -> Result<Vec<BlobEntry>> {
        let name = pack_name(id);
        if size < 4 {
            return Err(Error::damaged(&name, "shorter than its trailer"));
        }
        let t = self.backend.get_range(&name, size - 4..size).await?;
        let hlen = u32::from_le_bytes(
            t[..]
                .try_into()
                .map_err(|_| Error::damaged(&name, "short trailer"))?,
        ) as u64;
        if hlen + 4 > size {
            return Err(Error::damaged(&name, "header length exceeds the pack"));
        }
        let sealed = self
            .backend
            .get_range(&name, size - 4 - hlen..size - 4)
            .await?;
        let plain = self.keys.open(Kind::PackHeader, id, &sealed)?;
        let entries = parse_header(&plain).map_err(|e| Error::damaged(&name, e.to_string()))?;
        if self.keys.pack_id(entries.iter().map(|e| (e.kind, &e.id))) != *id {
            return Err(Error::damaged(&name, "pack id does not match its contents"));
        }
        Ok(entries)
    }
}
