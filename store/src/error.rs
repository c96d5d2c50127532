//! The store's one public error type: every failure a caller can act on has its own variant, and
//! no variant ever carries plaintext (only object names, kinds and reasons).

use crate::id::Id;

/// Errors of the snapshot store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wrong passphrase: no key file of this repository opens with it")]
    WrongPassword,
    #[error("no repository at {0} (no config object); run `init` first")]
    NotARepository(String),
    #[error("a repository already exists at {0}")]
    AlreadyInitialized(String),
    #[error("object {0} not found")]
    NotFound(String),
    #[error("object {0} already exists")]
    AlreadyExists(String),
    #[error("object {object} is damaged: {reason}")]
    Damaged { object: String, reason: String },
    #[error("blob {0} is not in any index of this repository")]
    UnknownBlob(Id),
    #[error("repository is locked: {0}")]
    Locked(String),
    #[error("the repository lock was lost ({0}); stopped without committing")]
    LockLost(String),
    #[error(
        "{count} blob(s) this snapshot needs are no longer in the repository (first: {first}); \
     stopped without committing"
    )]
    Vanished { count: usize, first: Id },
    #[error(
        "this backup has run for {elapsed_secs} s, longer than the repository's maintenance \
     margin ({margin_secs} s): data it would reuse may be reclaimed by now; stopped without \
     committing (run it again)"
    )]
    TooLong { elapsed_secs: u64, margin_secs: u64 },
    #[error("unsupported repository format version {0}")]
    UnsupportedVersion(u32),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("backend error on {object}: {reason}")]
    Backend { object: String, reason: String },
    #[error("cache error: {0}")]
    Cache(#[from] rusqlite::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn damaged(object: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Damaged {
            object: object.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn backend(object: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Backend {
            object: object.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result alias used across the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;
