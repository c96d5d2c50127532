//! Key files: the master key wrapped under a passphrase-derived key (Argon2id, parameters stored in
//! the file). Several key files may wrap the same master key, so passphrases can be added, removed
//! and changed without re-encrypting any data.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::MasterKey;
use crate::error::{Error, Result};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// OWASP's first Argon2id recommendation (64 MiB, 3 passes, 1 lane): ~0.2 s on one core.
    fn default() -> Self {
        KdfParams {
            m_cost: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

/// Largest memory cost accepted, in KiB (1 GiB).
pub const MAX_M_COST: u32 = 1024 * 1024;
/// Largest number of passes accepted.
pub const MAX_T_COST: u32 = 16;
/// Largest number of lanes accepted.
pub const MAX_P_COST: u32 = 16;
/// Largest memory × passes accepted (KiB × passes): about 4 s of work on one core.
const MAX_WORK: u64 = 4 * 1024 * 1024;

impl KdfParams {
    /// Refuses parameters that would make opening a repository exhaust memory or hang: a key
    /// file is plaintext JSON anyone with write access to the repository can plant.
    pub fn validate(&self) -> Result<()> {
        let work = self.m_cost as u64 * self.t_cost as u64;
        if self.m_cost > MAX_M_COST
            || self.t_cost > MAX_T_COST
            || self.p_cost > MAX_P_COST
            || work > MAX_WORK
            || self.t_cost == 0
            || self.p_cost == 0
            || self.m_cost < 8 * self.p_cost
        {
            return Err(Error::Invalid(format!(
                "Argon2id parameters out of bounds (m_cost {} KiB, t_cost {}, p_cost {}; at most \
                 {MAX_M_COST} KiB, {MAX_T_COST} passes, {MAX_P_COST} lanes, {MAX_WORK} KiB×passes)",
                self.m_cost, self.t_cost, self.p_cost
            )));
        }
        Ok(())
    }

    /// Memory × passes, to try cheap key files first.
    pub fn work(&self) -> u64 {
        self.m_cost as u64 * self.t_cost as u64
    }

    /// Cheap parameters for tests only (never the default of any command).
    pub fn insecure_fast() -> Self {
        KdfParams {
            m_cost: 256,
            t_cost: 1,
            p_cost: 1,
        }
    }
}

/// Key files larger than this are not read.
pub const MAX_KEY_FILE: usize = 64 * 1024;

/// The on-disk key file (`keys/<id>`), JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub version: u32,
    pub kdf: String,
    pub params: KdfParams,
    /// Base64 salt (16 bytes).
    pub salt: String,
    /// Base64 of nonce (24) ‖ XChaCha20-Poly1305(master key).
    pub wrapped: String,
    pub created: chrono::DateTime<chrono::Utc>,
    pub host: String,
    pub label: String,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn kek(passphrase: &[u8], salt: &[u8], params: KdfParams) -> Result<Zeroizing<[u8; 32]>> {
    params.validate()?;
    let p = Params::new(params.m_cost, params.t_cost, params.p_cost, Some(32))
        .map_err(|e| Error::Invalid(format!("Argon2id parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(passphrase, salt, out.as_mut())
        .map_err(|e| Error::Invalid(format!("Argon2id: {e}")))?;
    Ok(out)
}

fn aad(repo_id: &[u8; 16]) -> Vec<u8> {
    let mut a = b"secretsnap key v1".to_vec();
    a.extend_from_slice(repo_id);
    a
}

impl KeyFile {
    /// Wraps `master` under `passphrase`.
    pub fn wrap(
        master: &MasterKey,
        repo_id: &[u8; 16],
        passphrase: &[u8],
        params: KdfParams,
        label: &str,
    ) -> Result<KeyFile> {
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let k = kek(passphrase, &salt, params)?;
        let cipher = XChaCha20Poly1305::new(k.as_ref().into());
        let aad = aad(repo_id);
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: master.0.as_ref(),
                    aad: &aad,
                },
            )
            .expect("in-memory encryption");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        use base64::Engine;
        Ok(KeyFile {
            version: 1,
            kdf: "argon2id".into(),
            params,
            salt: b64().encode(salt),
            wrapped: b64().encode(blob),
            created: chrono::Utc::now(),
            host: crate::hostname(),
            label: label.to_string(),
        })
    }

    /// Unwraps the master key; `Error::WrongPassword` when the passphrase does not open it.
    pub fn unwrap_key(&self, repo_id: &[u8; 16], passphrase: &[u8]) -> Result<MasterKey> {
        use base64::Engine;
        if self.version != 1 || self.kdf != "argon2id" {
            return Err(Error::UnsupportedVersion(self.version));
        }
        let salt = b64()
            .decode(&self.salt)
            .map_err(|_| Error::Invalid("key file salt is not base64".into()))?;
        let blob = b64()
            .decode(&self.wrapped)
            .map_err(|_| Error::Invalid("key file key is not base64".into()))?;
        if blob.len() != 24 + 32 + 16 || salt.len() < 8 {
            return Err(Error::Invalid(
                "key file has a wrapped key of the wrong size".into(),
            ));
        }
        let k = kek(passphrase, &salt, self.params)?;
        let cipher = XChaCha20Poly1305::new(k.as_ref().into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&blob[..24]),
                    Payload {
                        msg: &blob[24..],
                        aad: &aad(repo_id),
                    },
                )
                .map_err(|_| Error::WrongPassword)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(MasterKey(key))
    }

    /// Parses a key file (fuzzed) and checks its parameters are within bounds.
    pub fn parse(bytes: &[u8]) -> Result<KeyFile> {
        if bytes.len() > MAX_KEY_FILE {
            return Err(Error::Invalid("key file: larger than any key file".into()));
        }
        let kf: KeyFile =
            serde_json::from_slice(bytes).map_err(|e| Error::Invalid(format!("key file: {e}")))?;
        kf.params.validate()?;
        Ok(kf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_and_wrong_password() {
        let mk = MasterKey::generate();
        let kf = KeyFile::wrap(&mk, &[1; 16], b"pw", KdfParams::insecure_fast(), "test").unwrap();
        let parsed = KeyFile::parse(&serde_json::to_vec(&kf).unwrap()).unwrap();
        assert_eq!(*parsed.unwrap_key(&[1; 16], b"pw").unwrap().0, *mk.0);
        assert!(matches!(
            parsed.unwrap_key(&[1; 16], b"nope"),
            Err(Error::WrongPassword)
        ));
        assert!(matches!(
            parsed.unwrap_key(&[2; 16], b"pw"),
            Err(Error::WrongPassword)
        ));
    }

    #[test]
    fn absurd_parameters_are_refused_before_any_work() {
        let mk = MasterKey::generate();
        let kf = KeyFile::wrap(&mk, &[1; 16], b"pw", KdfParams::insecure_fast(), "t").unwrap();
        for (m, t, p) in [
            (u32::MAX, 1, 1),
            (256, u32::MAX, 1),
            (256, 1, u32::MAX),
            (MAX_M_COST, MAX_T_COST, 1),
        ] {
            let mut bad = kf.clone();
            bad.params = KdfParams {
                m_cost: m,
                t_cost: t,
                p_cost: p,
            };
            let start = std::time::Instant::now();
            assert!(KeyFile::parse(&serde_json::to_vec(&bad).unwrap()).is_err());
            assert!(bad.unwrap_key(&[1; 16], b"pw").is_err());
            assert!(start.elapsed() < std::time::Duration::from_secs(1));
        }
        assert!(KdfParams::default().validate().is_ok());
    }
}
