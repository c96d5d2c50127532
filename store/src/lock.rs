//! Repository locks with expiry: backups hold a shared lock, prune holds an exclusive one.
//!
//! Why locks rather than lock-free two-phase deletion: a backup that deduplicates against a blob
//! must be sure the blob survives until its snapshot commits, however long the backup runs. With a
//! grace period that only holds if no backup outlives the grace period; a refreshed lock states it
//! directly. Protocol: write our lock object, then list the others; on conflict, delete ours and
//! fail with `Error::Locked` naming the holders (both sides can back off; neither proceeds unsafely).
//! Locks are refreshed every `REFRESH` and ignored once older than `STALE`, so a crashed process
//! never blocks the repository for long. Lock objects are sealed (they name a host) and are the
//! one kind of object whose name is random rather than content-addressed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::crypto::{Keys, Kind};
use crate::error::{Error, Result};
use crate::id::Id;

/// How often a held lock is rewritten.
pub const REFRESH: Duration = Duration::from_secs(5 * 60);
/// Age after which a lock is ignored.
pub const STALE: Duration = Duration::from_secs(30 * 60);

/// Contents of a lock object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub host: String,
    pub pid: u32,
    pub exclusive: bool,
    pub purpose: String,
    pub time: chrono::DateTime<chrono::Utc>,
}

/// A held lock; release it with `release`, or it expires.
pub struct LockGuard {
    backend: Arc<dyn Backend>,
    current: Arc<std::sync::Mutex<String>>,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

async fn write_lock(backend: &dyn Backend, keys: &Keys, info: &LockInfo) -> Result<String> {
    let id = Id::random();
    let name = format!("locks/{id}");
    let plain = serde_json::to_vec(info).expect("lock info serializes");
    backend
        .put_if_absent(&name, Bytes::from(keys.seal(Kind::Lock, &id, &plain)))
        .await?;
    Ok(name)
}

/// Reads every live lock except `own`.
pub async fn live_locks(
    backend: &dyn Backend,
    keys: &Keys,
    own: Option<&str>,
) -> Result<Vec<LockInfo>> {
    let mut out = Vec::new();
    for o in backend.list("locks/").await? {
        if Some(o.name.as_str()) == own {
            continue;
        }
        let Some(id) = o.name.strip_prefix("locks/").and_then(Id::from_hex) else {
            continue;
        };
        let bytes = match backend.get(&o.name).await {
            Ok(b) => b,
            Err(Error::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let Ok(plain) = keys.open(Kind::Lock, &id, &bytes) else {
            tracing::warn!(lock = %o.name, "ignoring a lock object that does not decrypt");
            continue;
        };
        let Ok(info) = serde_json::from_slice::<LockInfo>(&plain) else {
            continue;
        };
        let age = chrono::Utc::now().signed_duration_since(info.time);
        if age.to_std().map(|a| a < STALE).unwrap_or(true) {
            out.push(info);
        }
    }
    Ok(out)
}

/// Takes a shared (`exclusive = false`) or exclusive lock.
pub async fn acquire(
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    exclusive: bool,
    purpose: &str,
) -> Result<LockGuard> {
    let info = LockInfo {
        host: crate::hostname(),
        pid: std::process::id(),
        exclusive,
        purpose: purpose.to_string(),
        time: chrono::Utc::now(),
    };
    let name = write_lock(&*backend, &keys, &info).await?;
    let others = live_locks(&*backend, &keys, Some(&name)).await?;
    let conflicts: Vec<&LockInfo> = others.iter().filter(|o| exclusive || o.exclusive).collect();
    if !conflicts.is_empty() {
        backend.delete(&name).await?;
        let who: Vec<String> = conflicts
            .iter()
            .map(|o| {
                format!(
                    "{} lock by {} (pid {}, {}, since {})",
                    if o.exclusive { "exclusive" } else { "shared" },
                    o.host,
                    o.pid,
                    o.purpose,
                    o.time.format("%Y-%m-%dT%H:%M:%SZ")
                )
            })
            .collect();
        return Err(Error::Locked(who.join("; ")));
    }
    let current = Arc::new(std::sync::Mutex::new(name));
    let refresher = {
        let (backend, current) = (backend.clone(), current.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                let fresh = LockInfo {
                    time: chrono::Utc::now(),
                    ..info.clone()
                };
                if let Ok(new) = write_lock(&*backend, &keys, &fresh).await {
                    let old = std::mem::replace(
                        &mut *current.lock().unwrap_or_else(|p| p.into_inner()),
                        new,
                    );
                    let _ = backend.delete(&old).await;
                }
            }
        })
    };
    Ok(LockGuard {
        backend,
        current,
        refresher: Some(refresher),
    })
}

impl LockGuard {
    /// Stops refreshing and deletes the lock object.
    pub async fn release(mut self) -> Result<()> {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        let name = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.backend.delete(&name).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
            let name = self
                .current
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let backend = self.backend.clone();
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                h.spawn(async move {
                    let _ = backend.delete(&name).await;
                });
            }
        }
    }
}
