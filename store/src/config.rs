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
    /// Margins of lock-free maintenance (`maintain.rs`); repositories made before it have none
    /// in their `config` and get the defaults.
    #[serde(default)]
    pub gc: GcParams,
}

/// The two times lock-free maintenance relies on. Fixed when the repository is made, so every
/// agent and every maintenance run of one repository agree on them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct GcParams {
    /// A backup that has run this long refuses to commit; a marked pack is deleted no sooner
    /// than this (plus twice the skew) after it was marked.
    pub margin_secs: u64,
    /// Clock difference between hosts tolerated, and the longest a mark's write may take.
    pub skew_secs: u64,
}

impl Default for GcParams {
    fn default() -> Self {
        GcParams {
            margin_secs: 6 * 3600,
            skew_secs: crate::lock::MAX_SKEW.as_secs(),
        }
    }
}

impl GcParams {
    pub fn margin(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.margin_secs)
    }
    pub fn skew(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.skew_secs)
    }
    /// How long after its mark a pack may be deleted: margin + skew between hosts + the
    /// longest a mark's write may take.
    pub fn delete_after(&self) -> std::time::Duration {
        self.margin() + 2 * self.skew()
    }
    /// How long a mark stays after its pack is deleted, so an index a stopped backup wrote
    /// late cannot make its blobs look reusable (see docs/repository-format.md).
    pub fn forget_after(&self) -> std::time::Duration {
        2 * self.delete_after()
    }
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
            gc: GcParams::default(),
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
        if c.gc.margin_secs == 0
            || c.gc.margin_secs > 30 * 24 * 3600
            || c.gc.skew_secs == 0
            || c.gc.skew_secs > 3600
        {
            return Err(Error::damaged("config", "maintenance margins out of range"));
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
