//! The crate's one error type: bad plugin configuration, a manifest that does not hold together,
//! or the stdio transport failing.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The host's config map is not usable (names the key).
    #[error("config: {0}")]
    Config(String),
    /// plugin.toml or a generated manifest is inconsistent.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The connector could not be opened.
    #[error(transparent)]
    Connector(#[from] secretsnap_core::Error),
    /// The gRPC-over-stdio transport failed for a reason other than the host going away.
    #[error("transport: {0}")]
    Transport(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
