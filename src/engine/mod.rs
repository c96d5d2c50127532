//! The engine: backup (a `Source` into a snapshot), restore (a snapshot through a `Destination`)
//! and the mapping between secrets and store records. The store never parses what we put in it;
//! this module is the only place that knows how a secret becomes records.

mod backup;
mod records;
mod restore;

pub use backup::{backup, BackupOptions, BackupReport};
pub use records::{secrets_from_entries, SECRET_RECORD, VERSION_DIR};
pub use restore::{load_secrets, restore_snapshot};

/// Engine errors: the store's, a connector's, or an unreadable snapshot record.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] secretsnap_store::Error),
    #[error(transparent)]
    Connector(#[from] secretsnap_core::Error),
    #[error("snapshot records: {0}")]
    Snapshot(String),
}
