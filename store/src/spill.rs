//! A snapshot's entries, sorted by path with bounded memory. A backup adds records in the order
//! its source answers, but trees are cut from the path-sorted list, so every entry used to wait in
//! memory until commit (about 1 KiB per record: a 100 000-secret project held ~200 MiB). Here
//! entries wait in memory up to a budget; then that batch is sorted and written as a *run* of
//! sealed blocks to an anonymous temporary file, and commit merges the runs.
//!
//! Nothing readable touches the disk: each block is a tree encoding sealed with XChaCha20-Poly1305
//! under a key made for this writer alone and never stored (AAD binds run and block number, so
//! blocks cannot be swapped), and the file has no name (it vanishes with the process, even after
//! `kill -9`). Where no temporary file can be made, entries stay in memory, as before.

use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use zeroize::Zeroizing;

use crate::crypto::{Keys, Kind, MasterKey};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::snapshot::{encode_tree, parse_tree, Entry};

/// Entry bytes held in memory before a run is spilled, unless the writer sets another budget.
pub const DEFAULT_BUDGET: usize = 16 << 20;
/// Entries per sealed block of a run (a merge holds one decoded block per run).
const BLOCK_ENTRIES: usize = 256;

/// What an entry costs in memory, roughly (its heap parts and the struct).
fn cost(e: &Entry) -> usize {
    e.path.len() + e.meta.len() + 32 * e.chunks.len() + std::mem::size_of::<Entry>()
}

/// One spilled run: where each of its sealed blocks lies in the file.
struct Run {
    blocks: Vec<(u64, u32)>,
}

/// Entries in arrival order in, path order out.
pub(crate) struct EntrySorter {
    budget: usize,
    mem: Vec<Entry>,
    mem_bytes: usize,
    spill: Option<Spill>,
    /// Set once a temporary file could not be made: everything stays in memory.
    in_memory: bool,
}

/// The temporary file and the key its blocks are sealed with.
struct Spill {
    file: File,
    end: u64,
    keys: Keys,
    runs: Vec<Run>,
}

/// The AAD id of block `block` of run `run`.
fn block_id(run: usize, block: usize) -> Id {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(run as u64).to_le_bytes());
    id[8..16].copy_from_slice(&(block as u64).to_le_bytes());
    Id(id)
}

impl Spill {
    fn new() -> Result<Spill> {
        let mut repo_id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut repo_id);
        Ok(Spill {
            file: tempfile::tempfile()?,
            end: 0,
            keys: Keys::new(&MasterKey::generate(), repo_id),
            runs: Vec::new(),
        })
    }

    /// Writes sorted `entries` as the next run.
    fn write_run(&mut self, entries: &[Entry]) -> Result<()> {
        let run = self.runs.len();
        let mut blocks = Vec::new();
        self.file.seek(SeekFrom::Start(self.end))?;
        for (b, part) in entries.chunks(BLOCK_ENTRIES).enumerate() {
            let plain = Zeroizing::new(encode_tree(part));
            let sealed = self.keys.seal(Kind::Tree, &block_id(run, b), &plain);
            let len = u32::try_from(sealed.len())
                .map_err(|_| Error::Invalid("a spilled block is larger than 4 GiB".into()))?;
            self.file.write_all(&sealed)?;
            blocks.push((self.end, len));
            self.end += u64::from(len);
        }
        self.file.flush()?;
        self.runs.push(Run { blocks });
        Ok(())
    }

    /// Reads and opens block `block` of run `run`.
    fn read_block(&mut self, run: usize, block: usize) -> Result<Vec<Entry>> {
        let (at, len) = self.runs[run].blocks[block];
        let mut sealed = vec![0u8; len as usize];
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(&mut sealed)?;
        let plain = self
            .keys
            .open(Kind::Tree, &block_id(run, block), &sealed)
            .map_err(|_| {
                Error::damaged(
                    "temporary entry file",
                    "a spilled block does not authenticate",
                )
            })?;
        parse_tree(&plain)
    }
}

impl EntrySorter {
    pub fn new(budget: usize) -> Self {
        EntrySorter {
            budget,
            mem: Vec::new(),
            mem_bytes: 0,
            spill: None,
            in_memory: false,
        }
    }

    /// Entry bytes to hold in memory before the next run is spilled (at least 1).
    pub fn set_budget(&mut self, bytes: usize) {
        self.budget = bytes.max(1);
    }

    /// Runs written to the temporary file so far.
    pub fn runs(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| s.runs.len())
    }

    pub fn push(&mut self, e: Entry) -> Result<()> {
        self.mem_bytes += cost(&e);
        self.mem.push(e);
        if self.mem_bytes >= self.budget && !self.in_memory {
            crate::blocking::off_worker(|| self.spill_mem())?;
        }
        Ok(())
    }

    fn spill_mem(&mut self) -> Result<()> {
        if self.spill.is_none() {
            match Spill::new() {
                Ok(s) => self.spill = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "no temporary file for snapshot entries; keeping \
                     them all in memory");
                    self.in_memory = true;
                    return Ok(());
                }
            }
        }
        let spill = self.spill.as_mut().expect("made above");
        self.mem.sort_by(|a, b| a.path.cmp(&b.path));
        spill.write_run(&self.mem)?;
        // Emptied, not replaced: the next batch reuses the allocation instead of growing a new
        // one by doubling and freeing it again (large blocks allocated and freed over and over
        // are what fragments the heap; see buffers.rs).
        self.mem.clear();
        self.mem_bytes = 0;
        Ok(())
    }

    /// Every entry in path order (entries with equal paths in the order they were added).
    pub fn into_sorted(mut self) -> Result<Sorted> {
        self.mem.sort_by(|a, b| a.path.cmp(&b.path));
        let mut sorted = Sorted {
            heap: BinaryHeap::new(),
            cursors: Vec::new(),
            spill: self.spill.take(),
        };
        let runs = sorted.spill.as_ref().map_or(0, |s| s.runs.len());
        for run in 0..runs {
            sorted.cursors.push(Cursor {
                block: 0,
                entries: Vec::new().into_iter(),
            });
            sorted.advance(run)?;
        }
        // The batch still in memory was added last: it is the last run.
        sorted.cursors.push(Cursor {
            block: usize::MAX,
            entries: std::mem::take(&mut self.mem).into_iter(),
        });
        sorted.advance(runs)?;
        Ok(sorted)
    }
}

/// A run being merged: the block it is in and what is left of that block.
struct Cursor {
    block: usize,
    entries: std::vec::IntoIter<Entry>,
}

/// The head entry of one run, ordered so the max-heap yields the smallest path, then the run
/// added first.
struct Head {
    entry: Entry,
    run: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.entry.path.as_str(), other.run).cmp(&(self.entry.path.as_str(), self.run))
    }
}

/// The merge of every run, in path order.
pub(crate) struct Sorted {
    heap: BinaryHeap<Head>,
    cursors: Vec<Cursor>,
    spill: Option<Spill>,
}

impl Sorted {
    /// Puts run `run`'s next entry on the heap (reading its next block when one is used up).
    fn advance(&mut self, run: usize) -> Result<()> {
        let cursor = &mut self.cursors[run];
        let entry = match cursor.entries.next() {
            Some(e) => Some(e),
            None if cursor.block == usize::MAX => None,
            None => {
                let spill = self.spill.as_mut().expect("spilled runs have a file");
                if cursor.block < spill.runs[run].blocks.len() {
                    cursor.entries = spill.read_block(run, cursor.block)?.into_iter();
                    cursor.block += 1;
                    cursor.entries.next()
                } else {
                    cursor.block = usize::MAX;
                    None
                }
            }
        };
        if let Some(entry) = entry {
            self.heap.push(Head { entry, run });
        }
        Ok(())
    }
}

impl Iterator for Sorted {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        let Head { entry, run } = self.heap.pop()?;
        Some(self.advance(run).map(|()| entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, meta: &str) -> Entry {
        Entry {
            path: path.into(),
            meta: meta.as_bytes().to_vec(),
            item: None,
            size: 0,
            chunks: vec![Id([7; 32])],
        }
    }

    #[test]
    fn spilled_runs_merge_into_path_order_and_keep_equal_paths_in_arrival_order() {
        let mut s = EntrySorter::new(4096);
        let mut expected = Vec::new();
        // A permutation of 3 000 paths (7 is coprime with 3 000), one path given twice.
        for i in 0..3000u32 {
            let p = format!("p/{:05}", (i * 7) % 3000);
            let e = entry(&p, &format!("m{i}"));
            expected.push(e.clone());
            s.push(e).unwrap();
        }
        s.push(entry("p/00000", "again")).unwrap();
        expected.push(entry("p/00000", "again"));
        assert!(s.runs() > 10, "the budget must force several runs");
        expected.sort_by(|a, b| a.path.cmp(&b.path));
        let got: Vec<Entry> = s.into_sorted().unwrap().map(Result::unwrap).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn nothing_readable_reaches_the_temporary_file() {
        let mut s = EntrySorter::new(1);
        for i in 0..600 {
            s.push(entry(&format!("MARKER-PATH-{i}"), "MARKER-META"))
                .unwrap();
        }
        let spill = s.spill.as_mut().unwrap();
        let mut raw = Vec::new();
        spill.file.seek(SeekFrom::Start(0)).unwrap();
        spill.file.read_to_end(&mut raw).unwrap();
        assert!(raw.len() > 10_000);
        assert!(!raw.windows(6).any(|w| w == b"MARKER"));
    }

    #[test]
    fn a_flipped_byte_in_the_file_is_an_error_not_an_entry() {
        let mut s = EntrySorter::new(1);
        for i in 0..10 {
            s.push(entry(&format!("p/{i}"), "m")).unwrap();
        }
        let spill = s.spill.as_mut().unwrap();
        spill.file.seek(SeekFrom::Start(40)).unwrap();
        spill.file.write_all(&[0xff]).unwrap();
        let failed = match s.into_sorted() {
            Err(_) => true,
            Ok(sorted) => sorted.into_iter().any(|r| r.is_err()),
        };
        assert!(failed, "a damaged block must fail the merge");
    }
}
