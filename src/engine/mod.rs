//! The engine: backup (a `Source` into a snapshot), restore (a snapshot through a `Destination`),
//! clone (a source straight into a destination), drift (a live source against a snapshot,
//! metadata only), drill (a verified restore into a scratch target, then cleaned up), what a snapshot holds (`inventory`: ls, diff),
//! `cat` (`value`), snapshot selection (`select`) and the mapping between secrets and store
//! records. The store never parses what we put in it; `records` is the only place that knows how a
//! secret becomes records.

mod backup;
mod clone;
mod drift;
pub mod drill;
pub mod inventory;
mod progress;
mod records;
mod restore;
pub mod retention;
pub mod select;
mod value;

pub use backup::{backup, BackupOptions, BackupReport};
pub use clone::{clone, CloneReport};
pub use drift::{drift, DriftReport};
pub use drill::{drill, DrillOptions, DrillReport};
pub use progress::{Progress, Silent};
pub use records::{secrets_from_entries, SECRET_RECORD, VERSION_DIR};
pub use restore::{apply, load_secrets, restore_snapshot};
pub use select::SnapshotFilter;
pub use value::read_value;

/// Engine errors: the store's, a connector's, an unreadable snapshot record, or a selection
/// (snapshot, secret, version) that names nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] secretsnap_store::Error),
    #[error(transparent)]
    Connector(#[from] secretsnap_core::Error),
    #[error("snapshot records: {0}")]
    Snapshot(String),
    #[error("{0}")]
    Selection(String),
}
