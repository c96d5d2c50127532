//! The key hierarchy and authenticated encryption of every object.
//!
//! One random 32-byte master key per repository; every purpose gets its own subkey derived with
//! `blake3::derive_key` (distinct context strings), so the key that names chunks never encrypts and
//! the key that encrypts never names. Objects are sealed with XChaCha20-Poly1305 under a random
//! 24-byte nonce; the associated data binds the repository id, the object kind and the object id,
//! so a ciphertext cannot be replayed under another name, kind or repository.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::id::Id;
use crate::padding;

/// Magic prefix of every sealed object ("secretsnap sealed, format 1").
pub const SEAL_MAGIC: &[u8; 4] = b"SSe1";
/// Bytes a seal adds around the padded plaintext: magic, nonce, Poly1305 tag.
pub const SEAL_OVERHEAD: usize = 4 + 24 + 16;

/// What an object is; part of the associated data of its encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// Content bytes of a record.
    Data = 1,
    /// A chunk of a snapshot's entry list.
    Tree = 2,
    /// The header at the end of a pack.
    PackHeader = 3,
    Index = 4,
    Snapshot = 5,
    Lock = 6,
    /// A row of the local cache (never stored in the repository).
    CacheItem = 7,
    /// The marks of lock-free maintenance (`garbage/`).
    Garbage = 8,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Data,
            2 => Kind::Tree,
            3 => Kind::PackHeader,
            4 => Kind::Index,
            5 => Kind::Snapshot,
            6 => Kind::Lock,
            7 => Kind::CacheItem,
            8 => Kind::Garbage,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Data => "data",
            Kind::Tree => "tree",
            Kind::PackHeader => "pack-header",
            Kind::Index => "index",
            Kind::Snapshot => "snapshot",
            Kind::Lock => "lock",
            Kind::CacheItem => "cache-item",
            Kind::Garbage => "garbage",
        }
    }
}

/// The repository master key (zeroized on drop).
#[derive(Clone)]
pub struct MasterKey(pub(crate) Zeroizing<[u8; 32]>);

impl MasterKey {
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        MasterKey(k)
    }
}

/// Subkeys derived from the master key, one per purpose.
pub struct Keys {
    repo_id: [u8; 16],
    cipher: XChaCha20Poly1305,
    chunk_id: Zeroizing<[u8; 32]>,
    object_id: Zeroizing<[u8; 32]>,
    pack_id: Zeroizing<[u8; 32]>,
    item_id: Zeroizing<[u8; 32]>,
}

fn derive(context: &str, master: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(blake3::derive_key(context, master))
}

impl Keys {
    pub fn new(master: &MasterKey, repo_id: [u8; 16]) -> Self {
        let mut enc = derive("secretsnap 2026-11 object encryption", &master.0);
        let cipher = XChaCha20Poly1305::new(enc.as_ref().into());
        enc.zeroize();
        Keys {
            repo_id,
            cipher,
            chunk_id: derive("secretsnap 2026-11 chunk id", &master.0),
            object_id: derive("secretsnap 2026-11 object id", &master.0),
            pack_id: derive("secretsnap 2026-11 pack id", &master.0),
            item_id: derive("secretsnap 2026-11 source item id", &master.0),
        }
    }

    pub fn repo_id(&self) -> [u8; 16] {
        self.repo_id
    }

    /// Id of a chunk of content or of a tree: keyed BLAKE3 of its plaintext.
    pub fn blob_id(&self, kind: Kind, plaintext: &[u8]) -> Id {
        let mut h = blake3::Hasher::new_keyed(&self.chunk_id);
        if kind != Kind::Data {
            h.update(&[kind as u8]);
        }
        h.update(plaintext);
        Id(*h.finalize().as_bytes())
    }

    /// Id of a metadata object (index, snapshot): keyed BLAKE3 of kind and plaintext.
    pub fn object_id(&self, kind: Kind, plaintext: &[u8]) -> Id {
        let mut h = blake3::Hasher::new_keyed(&self.object_id);
        h.update(&[kind as u8]);
        h.update(plaintext);
        Id(*h.finalize().as_bytes())
    }

    /// Id of a pack: keyed BLAKE3 of the (kind, id) list it holds.
    pub fn pack_id<'a>(&self, blobs: impl Iterator<Item = (Kind, &'a Id)>) -> Id {
        let mut h = blake3::Hasher::new_keyed(&self.pack_id);
        for (kind, id) in blobs {
            h.update(&[kind as u8]);
            h.update(&id.0);
        }
        Id(*h.finalize().as_bytes())
    }

    /// Keyed id of a source item version (e.g. a secret version): lets a backup skip reading a
    /// value it already holds without ever writing the item's identity in clear.
    pub fn item_id(&self, item_key: &str) -> Id {
        Id(*blake3::keyed_hash(&self.item_id, item_key.as_bytes()).as_bytes())
    }

    fn aad(&self, kind: Kind, id: &Id) -> [u8; 4 + 16 + 1 + 32] {
        let mut aad = [0u8; 53];
        aad[..4].copy_from_slice(SEAL_MAGIC);
        aad[4..20].copy_from_slice(&self.repo_id);
        aad[20] = kind as u8;
        aad[21..].copy_from_slice(&id.0);
        aad
    }

    /// Pads and encrypts `plaintext` as object `(kind, id)`.
    pub fn seal(&self, kind: Kind, id: &Id, plaintext: &[u8]) -> Vec<u8> {
        let padded = padding::pad(plaintext);
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = self.aad(kind, id);
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &padded,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + ct.len());
        out.extend_from_slice(SEAL_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts object `(kind, id)`; fails (never returns garbage) when any byte, the name, the
    /// kind or the repository differ from what was sealed.
    pub fn open(&self, kind: Kind, id: &Id, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let what = || format!("{} {}", kind.name(), id);
        if sealed.len() < SEAL_OVERHEAD || &sealed[..4] != SEAL_MAGIC {
            return Err(Error::damaged(
                what(),
                "not a sealed object (bad magic or too short)",
            ));
        }
        let aad = self.aad(kind, id);
        let padded = Zeroizing::new(
            self.cipher
                .decrypt(
                    XNonce::from_slice(&sealed[4..28]),
                    Payload {
                        msg: &sealed[28..],
                        aad: &aad,
                    },
                )
                .map_err(|_| {
                    Error::damaged(
                        what(),
                        "authentication failed (modified bytes or wrong name)",
                    )
                })?,
        );
        let range = padding::unpad(&padded).map_err(|e| Error::damaged(what(), e.to_string()))?;
        Ok(Zeroizing::new(padded[range].to_vec()))
    }

    /// Opens and checks that the plaintext still hashes to its id (content addressing).
    pub fn open_verified(&self, kind: Kind, id: &Id, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let plain = self.open(kind, id, sealed)?;
        let actual = match kind {
            Kind::Data | Kind::Tree => self.blob_id(kind, &plain),
            _ => self.object_id(kind, &plain),
        };
        if &actual != id {
            return Err(Error::damaged(
                format!("{} {}", kind.name(), id),
                "content does not match its id",
            ));
        }
        Ok(plain)
    }
}

/// Size of a sealed object whose plaintext is `len` bytes.
pub fn sealed_len(len: usize) -> usize {
    SEAL_OVERHEAD + padding::padme(len + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_binds_kind_id_and_repo() {
        let mk = MasterKey::generate();
        let keys = Keys::new(&mk, [7; 16]);
        let other_repo = Keys::new(&mk, [8; 16]);
        let id = keys.blob_id(Kind::Data, b"hello");
        let sealed = keys.seal(Kind::Data, &id, b"hello");
        assert_eq!(sealed.len(), sealed_len(5));
        assert_eq!(
            &keys.open_verified(Kind::Data, &id, &sealed).unwrap()[..],
            b"hello"
        );
        assert!(keys.open(Kind::Tree, &id, &sealed).is_err());
        assert!(keys.open(Kind::Data, &Id([0; 32]), &sealed).is_err());
        assert!(other_repo.open(Kind::Data, &id, &sealed).is_err());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(keys.open(Kind::Data, &id, &flipped).is_err());
    }

    #[test]
    fn ids_are_keyed() {
        let a = Keys::new(&MasterKey::generate(), [0; 16]);
        let b = Keys::new(&MasterKey::generate(), [0; 16]);
        assert_ne!(a.blob_id(Kind::Data, b"x"), b.blob_id(Kind::Data, b"x"));
        assert_ne!(
            a.blob_id(Kind::Data, b"x").0,
            *blake3::hash(b"x").as_bytes()
        );
    }
}
