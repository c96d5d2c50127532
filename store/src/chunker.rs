//! Content-defined chunking with FastCDC (2020).
//!
//! One parameter set serves both workloads. Secret values are 64 B–64 KiB and are replaced whole,
//! never edited in place, so cutting inside them would only add per-chunk overhead (id, nonce, tag,
//! index entry) with no dedup to gain: with `min_size` = 256 KiB every such record is exactly one
//! chunk, deduplicated whole. Larger blobs get ~1 MiB average chunks (restic's choice), which keeps
//! index size near 0.01 % of data and lets an edit in the middle of a large blob cost ~1 MiB.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// FastCDC bounds in bytes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkerParams {
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams {
            min_size: 256 * 1024,
            avg_size: 1024 * 1024,
            max_size: 4 * 1024 * 1024,
        }
    }
}

impl ChunkerParams {
    pub fn validate(&self) -> Result<()> {
        use fastcdc::v2020::{
            AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN,
        };
        let ok = (MINIMUM_MIN..=MINIMUM_MAX).contains(&self.min_size)
            && (AVERAGE_MIN..=AVERAGE_MAX).contains(&self.avg_size)
            && (MAXIMUM_MIN..=MAXIMUM_MAX).contains(&self.max_size)
            && self.min_size <= self.avg_size
            && self.avg_size <= self.max_size;
        if ok {
            Ok(())
        } else {
            Err(Error::damaged(
                "config",
                "chunker parameters out of FastCDC's bounds",
            ))
        }
    }

    /// Byte ranges of the chunks of `data` (one empty range for empty data).
    pub fn chunks(&self, data: &[u8]) -> Vec<std::ops::Range<usize>> {
        if data.len() <= self.min_size as usize {
            return std::iter::once(0..data.len()).collect();
        }
        fastcdc::v2020::FastCDC::new(data, self.min_size, self.avg_size, self.max_size)
            .map(|c| c.offset..c.offset + c.length)
            .collect()
    }
}
