//! secretsnap-store: a content-addressed, encrypted, deduplicated snapshot repository.
//!
//! It stores snapshots of *records* (a path, opaque metadata bytes, content bytes) and knows
//! nothing about secrets. The byte-level format is documented in `docs/repository-format.md`, the
//! attacker model in `docs/threat-model.md`. Entry points: [`Repository::init`] /
//! [`Repository::open`] on a [`backend::Backend`] from [`backend::open_url`], then
//! [`Repository::writer`] to write a snapshot, [`Repository::snapshots`], [`Repository::entries`]
//! and [`Repository::read_content`] to read, [`Repository::check`], [`Repository::forget`] and
//! [`Repository::prune`] to maintain.

pub mod backend;
mod blocking;
mod buffers;
mod cache;
pub mod check;
pub mod chunker;
mod codec;
pub mod config;
pub mod crypto;
mod error;
pub mod garbage;
pub mod gc;
pub mod id;
pub mod index;
pub mod keyfile;
pub mod lock;
pub mod maintain;
pub mod pack;
pub mod padding;
pub mod private;
mod repo;
pub mod snapshot;
mod spill;
mod writer;

pub use cache::KnownItem;
pub use check::{CheckReport, Problem, Subset};
pub use error::{Error, Result};
pub use gc::{PruneOptions, PruneReport};
pub use id::Id;
pub use keyfile::KdfParams;
pub use lock::{Clock, LockKind, SystemClock};
pub use maintain::{MaintainOptions, MaintainReport, MaintenanceStatus};
pub use repo::{KeyInfo, OpenOptions, Repository, SnapshotInfo, SnapshotList};
pub use snapshot::{Entry, Failure, SnapshotHeader, SnapshotMeta, SnapshotStats};
pub use writer::SnapshotWriter;

/// This machine's host name, for snapshot and lock metadata.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
