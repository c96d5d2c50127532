//! The marks of lock-free maintenance (`garbage/`): which packs no snapshot needs, since when,
//! and which of them are already deleted. Why an object of its own: backups must learn which
//! packs are marked (they never reuse a blob of one) without waiting for maintenance, and
//! maintenance must remember a mark across runs to know when its margin has passed.
//!
//! The whole state is one sealed object, replaced by each maintenance run: a new object with the
//! next generation is written, then the older ones are deleted. A crash in between leaves two;
//! backups take the union of every listed object (a pack marked in any of them is not reused,
//! the safe side) and maintenance the newest generation. A mark whose pack is deleted stays as a
//! tombstone for [`GcParams::forget_after`](crate::config::GcParams::forget_after), so an index a
//! stopped backup wrote late cannot make the deleted pack's blobs look reusable.

use std::collections::HashSet;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::crypto::{Keys, Kind};
use crate::error::{Error, Result};
use crate::id::Id;

/// Garbage objects larger than this are not read (64 MiB: about 400 000 marks).
const MAX_GARBAGE_OBJECT: u64 = 64 * 1024 * 1024;
/// Listings retried when an object vanished between a listing and its read.
const RELISTS: usize = 5;

/// One marked pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub pack: Id,
    /// When it was marked, by the marking host's clock, no earlier than the mark's write began.
    pub marked_at: DateTime<Utc>,
    /// Its size when marked (what deleting it reclaims).
    pub size: u64,
    /// Set once the pack is deleted; the mark then stays as a tombstone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What the last maintenance run did (for `status` and the metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    pub at: DateTime<Utc>,
    pub host: String,
    pub snapshots: usize,
    pub packs_marked: usize,
    pub marks_withdrawn: usize,
    pub packs_deleted: usize,
    pub bytes_freed: u64,
    pub indexes_replaced: usize,
}

/// Contents of one `garbage/<id>` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarbageState {
    pub generation: u64,
    pub marks: Vec<Mark>,
    #[serde(default)]
    pub last_run: Option<LastRun>,
}

impl GarbageState {
    /// Packs marked and not deleted yet.
    pub fn pending(&self) -> impl Iterator<Item = &Mark> {
        self.marks.iter().filter(|m| m.deleted_at.is_none())
    }
}

/// Every listed garbage object, read.
#[derive(Debug, Default, Clone)]
pub struct Garbage {
    pub objects: Vec<(String, GarbageState)>,
}

impl Garbage {
    /// The state maintenance continues from: the newest generation (leftovers of a crash are
    /// older ones).
    pub fn newest(&self) -> GarbageState {
        self.objects
            .iter()
            .max_by_key(|(name, s)| (s.generation, name.clone()))
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    /// Every pack marked in any object, deleted or not: what a backup must not reuse.
    pub fn marked(&self) -> HashSet<Id> {
        self.objects
            .iter()
            .flat_map(|(_, s)| s.marks.iter().map(|m| m.pack))
            .collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.objects.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// Lists and reads every garbage object. An object deleted between the listing and its read
/// (maintenance replaced it) makes the listing start again, so a reader never misses the
/// replacement; an object that does not authenticate or parse fails the read, naming it.
pub async fn read(backend: &dyn Backend, keys: &Keys) -> Result<Garbage> {
    'list: for _ in 0..RELISTS {
        let mut out = Garbage::default();
        for o in backend.list("garbage/").await? {
            if o.size > MAX_GARBAGE_OBJECT {
                return Err(Error::damaged(&o.name, "larger than any garbage object"));
            }
            let id = o
                .name
                .strip_prefix("garbage/")
                .and_then(Id::from_hex)
                .ok_or_else(|| Error::damaged(&o.name, "name is not an id"))?;
            let bytes = match backend.get(&o.name).await {
                Ok(b) => b,
                Err(Error::NotFound(_)) => continue 'list,
                Err(e) => return Err(e),
            };
            let plain = keys
                .open_verified(Kind::Garbage, &id, &bytes)
                .map_err(|e| Error::damaged(&o.name, e.to_string()))?;
            let state: GarbageState = serde_json::from_slice(&plain)
                .map_err(|e| Error::damaged(&o.name, format!("not a garbage state: {e}")))?;
            out.objects.push((o.name, state));
        }
        return Ok(out);
    }
    Err(Error::backend(
        "garbage/",
        "garbage objects kept changing while being read; try again",
    ))
}

/// Writes a state as a new object; its name.
pub async fn write(backend: &dyn Backend, keys: &Keys, state: &GarbageState) -> Result<String> {
    let plain = serde_json::to_vec(state).expect("garbage state serializes");
    let id = keys.object_id(Kind::Garbage, &plain);
    let name = format!("garbage/{id}");
    backend
        .put_if_absent(&name, Bytes::from(keys.seal(Kind::Garbage, &id, &plain)))
        .await?;
    Ok(name)
}
