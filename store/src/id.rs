//! Object and blob identifiers: 32-byte keyed BLAKE3 digests, printed as lower-case hex.
//! There is deliberately no constructor from unkeyed content: ids come from `crypto::Keys`.

use std::fmt;

/// A 32-byte identifier (keyed BLAKE3 output).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub [u8; 32]);

impl Id {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    /// The first 8 hex characters, for human output.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Id> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Id(out))
    }
    /// A fresh random id (for lock objects, which are not content-addressed).
    pub fn random() -> Id {
        use rand::RngCore;
        let mut out = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut out);
        Id(out)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.short())
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        let s = String::deserialize(d)?;
        Id::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("invalid id: expected 64 hex digits"))
    }
}
