//! The repository's `config` object: the only plaintext object besides key files. It holds nothing
//! secret (format version, repository id, chunker parameters) and must be readable before any key
//! is unlocked, because the repository id is part of every object's associated data.

use serde::{Deserialize, Serialize};

use crate::chunker::ChunkerParams;
use crate::error::{Error, Result};

/// Current format version.
pub const FORMAT_VERSION: u32 = 1;

/// Contents of `config`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoConfig {
    pub version: u32,
    /// 16 random bytes, hex.
    pub id: String,
    pub chunker: ChunkerParams,
    /// Target pack size in bytes.
    pub pack_size: u32,
    pub created: chrono::DateTime<chrono::Utc>,
}

impl RepoConfig {
    pub fn new() -> Self {
        use rand::RngCore;
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        RepoConfig {
            version: FORMAT_VERSION,
            id: hex::encode(id),
            chunker: ChunkerParams::default(),
            pack_size: 8 * 1024 * 1024,
            created: chrono::Utc::now(),
        }
    }

    /// Parses and validates `config` (fuzzed).
    pub fn parse(bytes: &[u8]) -> Result<RepoConfig> {
        let c: RepoConfig = serde_json::from_slice(bytes)
            .map_err(|e| Error::damaged("config", format!("not valid JSON: {e}")))?;
        if c.version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion(c.version));
        }
        c.repo_id()?;
        c.chunker.validate()?;
        if c.pack_size < 64 * 1024 || c.pack_size > 256 * 1024 * 1024 {
            return Err(Error::damaged("config", "pack_size out of range"));
        }
        Ok(c)
    }

    pub fn repo_id(&self) -> Result<[u8; 16]> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(&self.id, &mut id)
            .map_err(|_| Error::damaged("config", "repository id is not 32 hex digits"))?;
        Ok(id)
    }
}

impl Default for RepoConfig {
    fn default() -> Self {
        Self::new()
    }
}
