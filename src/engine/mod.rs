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
pub use records::{secrets_from_entries, RECORD_FORMAT, SECRET_RECORD, VERSION_DIR};
pub use restore::{apply, load_secrets, restore_snapshot};
pub use select::SnapshotFilter;
pub use value::read_value;

/// `opts`, knowing every provider this binary links (unless the caller listed them): a secret
/// moving between providers is adapted with its origin's conventions.
fn knowing_origins(
    opts: &secretsnap_core::RestoreOptions,
) -> std::borrow::Cow<'_, secretsnap_core::RestoreOptions> {
    if opts.origins.is_empty() {
        let mut known = opts.clone();
        known.origins = crate::locations::origins();
        std::borrow::Cow::Owned(known)
    } else {
        std::borrow::Cow::Borrowed(opts)
    }
}

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
    #[error(
        "snapshot {snapshot} holds records of format {format}; this secretsnap reads formats up \
         to {}: read it with a newer release",
        records::RECORD_FORMAT
    )]
    NewerFormat { snapshot: String, format: u32 },
}

/// What kind of failure an engine (or store) error is, for callers that act on it (exit codes,
/// retries) without matching on the variants of the crates below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The repository stayed locked by another process.
    Locked,
    /// No key file opens with the passphrase.
    WrongPassword,
    /// Stored bytes failed their check (a damaged object, blob or record).
    Damaged,
    /// A snapshot, secret or version named by the caller does not exist, or is ambiguous.
    Selection,
    /// The provider refused or failed.
    Provider,
    /// Written by a newer release in a format this one does not read.
    Unsupported,
    /// Anything else (I/O, the backend, the cache, bad arguments).
    Other,
}

impl ErrorKind {
    /// The kind of a store error.
    pub fn of_store(e: &secretsnap_store::Error) -> ErrorKind {
        use secretsnap_store::Error as S;
        match e {
            S::Locked(_) => ErrorKind::Locked,
            S::WrongPassword => ErrorKind::WrongPassword,
            S::Damaged { .. } | S::UnknownBlob(_) | S::Vanished { .. } => ErrorKind::Damaged,
            _ => ErrorKind::Other,
        }
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(e) => ErrorKind::of_store(e),
            Error::Connector(_) => ErrorKind::Provider,
            Error::Snapshot(_) => ErrorKind::Damaged,
            Error::Selection(_) => ErrorKind::Selection,
            Error::NewerFormat { .. } => ErrorKind::Unsupported,
        }
    }
}
