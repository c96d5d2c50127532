//! Pack files: many small sealed blobs in one object, so object storage holds a few large objects
//! rather than one per secret.
//!
//! Layout: `blob₀ ‖ blob₁ ‖ … ‖ sealed header ‖ u32 LE header length`. Each blob is sealed on its
//! own (kind + chunk id in its associated data) so one blob can be read with a ranged GET. The
//! header lists `(kind, id, offset, length, raw_length)` and is sealed as `PackHeader` under the
//! pack id, which is the keyed hash of the `(kind, id)` list: packs are content-addressed too.

use crate::codec::{Reader, Writer};
use crate::crypto::{Keys, Kind};
use crate::error::{Error, Result};
use crate::id::Id;

const HEADER_MAGIC: &[u8; 4] = b"SPk1";

/// Where one blob lives inside a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobEntry {
    pub kind: Kind,
    pub id: Id,
    pub offset: u32,
    pub length: u32,
    /// Plaintext length (before padding).
    pub raw_length: u32,
}

/// Serialized size of one entry.
pub(crate) const ENTRY_LEN: usize = 1 + 32 + 4 + 4 + 4;

pub(crate) fn write_entry(w: &mut Writer, e: &BlobEntry) {
    w.u8(e.kind as u8);
    w.id(&e.id);
    w.u32(e.offset);
    w.u32(e.length);
    w.u32(e.raw_length);
}

pub(crate) fn read_entry(r: &mut Reader<'_>) -> Result<BlobEntry> {
    let kind = r.u8()?;
    let kind = match Kind::from_u8(kind) {
        Some(k @ (Kind::Data | Kind::Tree)) => k,
        _ => {
            return Err(Error::Invalid(format!(
                "blob entry: kind {kind} is not a blob kind"
            )))
        }
    };
    let e = BlobEntry {
        kind,
        id: r.id()?,
        offset: r.u32()?,
        length: r.u32()?,
        raw_length: r.u32()?,
    };
    if (e.length as usize) < crate::crypto::SEAL_OVERHEAD
        || e.offset.checked_add(e.length).is_none()
    {
        return Err(Error::Invalid(
            "blob entry: impossible offset/length".into(),
        ));
    }
    Ok(e)
}

/// Encodes a pack header plaintext.
pub fn encode_header(entries: &[BlobEntry]) -> Vec<u8> {
    let mut w = Writer::new();
    w.0.extend_from_slice(HEADER_MAGIC);
    w.u32(entries.len() as u32);
    for e in entries {
        write_entry(&mut w, e);
    }
    w.0
}

/// Parses a pack header plaintext (fuzzed). Entries must tile the blob area without overlap.
pub fn parse_header(bytes: &[u8]) -> Result<Vec<BlobEntry>> {
    let mut r = Reader::new(bytes, "pack header");
    r.magic(HEADER_MAGIC)?;
    let n = r.count(ENTRY_LEN)?;
    let mut out = Vec::with_capacity(n);
    let mut expected_offset = 0u32;
    for _ in 0..n {
        let e = read_entry(&mut r)?;
        if e.offset != expected_offset {
            return Err(Error::Invalid(
                "pack header: blobs do not follow each other".into(),
            ));
        }
        expected_offset = e.offset + e.length;
        out.push(e);
    }
    r.finish()?;
    Ok(out)
}

/// Accumulates sealed blobs until the pack is full.
pub struct PackBuilder {
    buf: Vec<u8>,
    entries: Vec<BlobEntry>,
}

/// A finished pack ready to upload.
pub struct FinishedPack {
    pub id: Id,
    pub bytes: Vec<u8>,
    pub entries: Vec<BlobEntry>,
}

impl PackBuilder {
    pub fn new() -> Self {
        PackBuilder {
            buf: Vec::new(),
            entries: Vec::new(),
        }
    }
    /// A builder whose buffer holds `blobs` sealed blobs of these plaintext lengths and the
    /// header without growing (a doubling buffer would hold up to twice the pack).
    pub fn for_blobs(lengths: impl Iterator<Item = usize>) -> Self {
        Self::for_blobs_in(Vec::new(), lengths)
    }
    /// `for_blobs`, writing into `buf` (emptied, then grown to fit if it must be).
    pub fn for_blobs_in(mut buf: Vec<u8>, lengths: impl Iterator<Item = usize>) -> Self {
        let (bytes, count) = Self::sealed_size(lengths);
        buf.clear();
        buf.reserve_exact(bytes);
        PackBuilder {
            buf,
            entries: Vec::with_capacity(count),
        }
    }
    /// The size of a pack of sealed blobs of these plaintext lengths, header included, and
    /// their count.
    pub fn sealed_size(lengths: impl Iterator<Item = usize>) -> (usize, usize) {
        let (mut bytes, mut count) = (0, 0);
        for len in lengths {
            bytes += crate::crypto::sealed_len(len);
            count += 1;
        }
        (
            bytes + crate::crypto::sealed_len(count * ENTRY_LEN + 8) + 4,
            count,
        )
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Seals `plaintext` as blob `(kind, id)` and appends it.
    pub fn add(&mut self, keys: &Keys, kind: Kind, id: Id, plaintext: &[u8]) -> Result<()> {
        let raw = u32::try_from(plaintext.len())
            .map_err(|_| Error::Invalid(format!("blob {} is larger than 4 GiB", id.short())))?;
        let sealed = keys.seal(kind, &id, plaintext);
        self.add_sealed(kind, id, &sealed, raw)
    }
    /// Appends an already sealed blob (used by prune when repacking). Fails rather than wrap
    /// when the pack would pass the 4 GiB its u32 offsets can address (writers flush long before).
    pub fn add_sealed(&mut self, kind: Kind, id: Id, sealed: &[u8], raw_length: u32) -> Result<()> {
        let too_big = || Error::Invalid("pack would exceed 4 GiB; flush it first".into());
        let offset = u32::try_from(self.buf.len()).map_err(|_| too_big())?;
        let length = u32::try_from(sealed.len()).map_err(|_| too_big())?;
        offset.checked_add(length).ok_or_else(too_big)?;
        self.buf.extend_from_slice(sealed);
        self.entries.push(BlobEntry {
            kind,
            id,
            offset,
            length,
            raw_length,
        });
        Ok(())
    }
    /// Seals the header and returns the pack.
    pub fn finish(mut self, keys: &Keys) -> FinishedPack {
        let id = keys.pack_id(self.entries.iter().map(|e| (e.kind, &e.id)));
        let header = keys.seal(Kind::PackHeader, &id, &encode_header(&self.entries));
        self.buf.extend_from_slice(&header);
        self.buf
            .extend_from_slice(&(header.len() as u32).to_le_bytes());
        FinishedPack {
            id,
            bytes: self.buf,
            entries: self.entries,
        }
    }
}

impl Default for PackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads and authenticates the header of a whole pack held in memory.
pub fn read_header(keys: &Keys, pack_id: &Id, pack: &[u8]) -> Result<Vec<BlobEntry>> {
    let what = || format!("pack {pack_id}");
    if pack.len() < 4 {
        return Err(Error::damaged(what(), "shorter than its trailer"));
    }
    let hlen = u32::from_le_bytes(pack[pack.len() - 4..].try_into().expect("4 bytes")) as usize;
    if hlen + 4 > pack.len() {
        return Err(Error::damaged(what(), "header length exceeds the pack"));
    }
    let start = pack.len() - 4 - hlen;
    let plain = keys.open(Kind::PackHeader, pack_id, &pack[start..pack.len() - 4])?;
    let entries = parse_header(&plain).map_err(|e| Error::damaged(what(), e.to_string()))?;
    if entries
        .last()
        .map(|e| (e.offset + e.length) as usize)
        .unwrap_or(0)
        != start
    {
        return Err(Error::damaged(
            what(),
            "header does not describe the blob area",
        ));
    }
    if keys.pack_id(entries.iter().map(|e| (e.kind, &e.id))) != *pack_id {
        return Err(Error::damaged(
            what(),
            "pack id does not match its contents",
        ));
    }
    Ok(entries)
}
