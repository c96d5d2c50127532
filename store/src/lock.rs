//! Repository locks with expiry and liveness: backups hold a shared lock, `prune --exclusive` an
//! exclusive one, lock-free maintenance a maintenance lock that only keeps a second maintenance
//! (and an exclusive prune) out.
//!
//! Why locks rather than lock-free two-phase deletion: a backup that deduplicates against a blob
//! must be sure the blob survives until its snapshot commits, however long the backup runs. With a
//! grace period that only holds if no backup outlives the grace period; a refreshed lock states it
//! directly.
//!
//! Protocol: write our lock object, then list the others; on conflict, delete ours and fail with
//! `Error::Locked` naming the holders (both sides can back off; neither proceeds unsafely).
//! A lock is rewritten every [`REFRESH`]. Others treat it as stale once its recorded time is
//! [`STALE`] old by *their* clock, or at once when it names a process of this very machine (same
//! host, boot and pid namespace) that no longer exists.
//!
//! Liveness, the holder's side: a lock only protects while others still see it as live. The
//! holder measures the time since its last successful write on two clocks (monotonic, which stops
//! while a host is suspended, and wall, which may jump) and takes the larger. Once that reaches
//! [`TRUST`] = `STALE - MAX_SKEW`, or the lock object is found gone, the lock is *lost* for good:
//! a later refresh does not resurrect it (another process may already have acted on its absence),
//! and every [`LockGuard::check`] fails with `Error::LockLost`. So hosts whose clocks differ by up
//! to [`MAX_SKEW`] never disagree on whether a lock is live.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::crypto::{Keys, Kind};
use crate::error::{Error, Result};
use crate::id::Id;

/// How often a held lock is rewritten.
pub const REFRESH: Duration = Duration::from_secs(5 * 60);
/// Age after which others ignore a lock.
pub const STALE: Duration = Duration::from_secs(30 * 60);
/// Clock difference between hosts sharing a repository that lock decisions tolerate.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// Time since its last successful write after which a holder no longer trusts its lock.
pub const TRUST: Duration = Duration::from_secs(STALE.as_secs() - MAX_SKEW.as_secs());
/// Wait before retrying a failed refresh.
const RETRY: Duration = Duration::from_secs(30);
/// Lock objects larger than this are not read (a planted object must not cost memory).
const MAX_LOCK_OBJECT: u64 = 64 * 1024;

/// Time as lock decisions see it; tests inject one that jumps (a suspended host, a skewed clock).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Wall-clock time, as written into lock objects.
    fn now(&self) -> DateTime<Utc>;
    /// Time since an arbitrary origin that never goes back.
    fn monotonic(&self) -> Duration;
}

/// The machine's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn monotonic(&self) -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }
}

/// A start time on both clocks: elapsed time is the larger of the two readings (the monotonic
/// clock stops while a host is suspended, the wall clock may jump).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    wall: DateTime<Utc>,
    mono: Duration,
}

impl Started {
    pub(crate) fn now(clock: &dyn Clock) -> Started {
        let mono = clock.monotonic();
        Started {
            wall: clock.now(),
            mono,
        }
    }

    pub(crate) fn elapsed(&self, clock: &dyn Clock) -> Duration {
        let mono = clock.monotonic().saturating_sub(self.mono);
        let wall = clock
            .now()
            .signed_duration_since(self.wall)
            .to_std()
            .unwrap_or_default();
        mono.max(wall)
    }
}

/// Contents of a lock object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub host: String,
    pub pid: u32,
    pub exclusive: bool,
    pub purpose: String,
    pub time: DateTime<Utc>,
    /// Kernel boot id and pid namespace: with the host name, they say whether `pid` can be
    /// looked up here (a dead holder on this machine is stale at once).
    #[serde(default)]
    pub boot_id: Option<String>,
    #[serde(default)]
    pub pid_ns: Option<String>,
    /// A maintenance lock: one maintenance at a time; backups ignore it.
    #[serde(default)]
    pub maintenance: bool,
    /// Written by a binary that knows maintenance's marks. A live shared lock without it is an
    /// older binary's backup, which could reuse a marked blob: maintenance deletes nothing then.
    #[serde(default)]
    pub knows_marks: bool,
}

/// What a lock excludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Backups and checks: excluded only by an exclusive lock.
    Shared,
    /// `prune --exclusive`: excludes every other lock.
    Exclusive,
    /// Lock-free maintenance: excludes another maintenance and an exclusive lock, not backups.
    Maintenance,
}

impl LockInfo {
    fn new(kind: LockKind, purpose: &str, time: DateTime<Utc>) -> Self {
        LockInfo {
            host: crate::hostname(),
            pid: std::process::id(),
            exclusive: kind == LockKind::Exclusive,
            purpose: purpose.to_string(),
            time,
            boot_id: boot_id(),
            pid_ns: pid_namespace(),
            maintenance: kind == LockKind::Maintenance,
            knows_marks: true,
        }
    }

    /// Whether a lock of `kind` cannot be taken while this one is live.
    pub fn conflicts_with(&self, kind: LockKind) -> bool {
        match kind {
            LockKind::Exclusive => true,
            LockKind::Shared => self.exclusive,
            LockKind::Maintenance => self.exclusive || self.maintenance,
        }
    }

    /// Whether others must ignore this lock at `now`.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        let age = now.signed_duration_since(self.time);
        if age.to_std().is_ok_and(|a| a >= STALE) {
            return true;
        }
        let here = self.boot_id.is_some()
            && self.boot_id == boot_id()
            && self.pid_ns.is_some()
            && self.pid_ns == pid_namespace()
            && self.host == crate::hostname();
        here && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    /// One line for messages: kind, holder and age.
    pub fn describe(&self) -> String {
        format!(
            "{} lock by {} (pid {}, {}, since {})",
            if self.exclusive {
                "exclusive"
            } else if self.maintenance {
                "maintenance"
            } else {
                "shared"
            },
            self.host,
            self.pid,
            self.purpose,
            self.time.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.display().to_string())
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

/// Reads one lock object; `None` when it is gone, too large, or not ours to read.
async fn read_lock(backend: &dyn Backend, keys: &Keys, name: &str) -> Result<Option<LockInfo>> {
    let Some(id) = name.strip_prefix("locks/").and_then(Id::from_hex) else {
        return Ok(None);
    };
    let bytes = match backend.get(name).await {
        Ok(b) => b,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Ok(plain) = keys.open(Kind::Lock, &id, &bytes) else {
        tracing::warn!(lock = %name, "ignoring a lock object that does not decrypt");
        return Ok(None);
    };
    Ok(serde_json::from_slice::<LockInfo>(&plain).ok())
}

/// Every lock object but `own`, read, with its name.
async fn other_locks(
    backend: &dyn Backend,
    keys: &Keys,
    own: Option<&str>,
) -> Result<Vec<(String, LockInfo)>> {
    let mut out = Vec::new();
    for o in backend.list("locks/").await? {
        if Some(o.name.as_str()) == own {
            continue;
        }
        if o.size > MAX_LOCK_OBJECT {
            tracing::warn!(lock = %o.name, size = o.size, "ignoring an oversized lock object");
            continue;
        }
        if let Some(info) = read_lock(backend, keys, &o.name).await? {
            out.push((o.name, info));
        }
    }
    Ok(out)
}

/// Reads every live lock except `own`.
pub async fn live_locks(
    backend: &dyn Backend,
    keys: &Keys,
    clock: &dyn Clock,
    own: Option<&str>,
) -> Result<Vec<LockInfo>> {
    let now = clock.now();
    Ok(other_locks(backend, keys, own)
        .await?
        .into_iter()
        .map(|(_, info)| info)
        .filter(|info| !info.is_stale(now))
        .collect())
}

/// Deletes lock objects that are stale for this host (only the exclusive holder calls this; a
/// holder that was merely slow finds its lock gone and stops, which is safe).
pub async fn remove_stale(backend: &dyn Backend, keys: &Keys, clock: &dyn Clock) -> Result<usize> {
    let now = clock.now();
    let mut n = 0;
    for (name, info) in other_locks(backend, keys, None).await? {
        if info.is_stale(now) {
            backend.delete(&name).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// What the holder knows about its lock.
#[derive(Debug)]
struct Held {
    name: String,
    /// Just before the last successful write.
    since: Started,
    lost: Option<String>,
}

/// A held lock; release it with `release`, or it expires.
pub struct LockGuard {
    holder: Arc<Holder>,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

/// Takes a lock of `kind`.
pub async fn acquire(
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    clock: Arc<dyn Clock>,
    kind: LockKind,
    purpose: &str,
) -> Result<LockGuard> {
    let since = Started::now(&*clock);
    let info = LockInfo::new(kind, purpose, since.wall);
    let name = write_lock(&*backend, &keys, &info).await?;
    let others = match live_locks(&*backend, &keys, &*clock, Some(&name)).await {
        Ok(o) => o,
        Err(e) => {
            let _ = backend.delete(&name).await;
            return Err(e);
        }
    };
    let conflicts: Vec<String> = others
        .iter()
        .filter(|o| o.conflicts_with(kind))
        .map(LockInfo::describe)
        .collect();
    if !conflicts.is_empty() {
        backend.delete(&name).await?;
        return Err(Error::Locked(conflicts.join("; ")));
    }
    let held = Mutex::new(Held {
        name,
        since,
        lost: None,
    });
    let holder = Arc::new(Holder {
        backend,
        keys,
        clock,
        info,
        held,
        gate: tokio::sync::Mutex::new(()),
    });
    Ok(LockGuard {
        refresher: Some(tokio::spawn(holder.clone().refresh_loop())),
        holder,
    })
}

/// The holder's side of a lock, shared by the guard and its background refresher.
struct Holder {
    backend: Arc<dyn Backend>,
    keys: Arc<Keys>,
    clock: Arc<dyn Clock>,
    info: LockInfo,
    held: Mutex<Held>,
    /// One refresh at a time (the background one and a commit's must not race: the second
    /// would find the object the first just replaced gone, and call the lock lost).
    gate: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Holder {
    /// Time since the last successful write.
    fn elapsed(&self, held: &Held) -> Duration {
        held.since.elapsed(&*self.clock)
    }

    fn check(&self) -> Result<()> {
        let mut held = lock(&self.held);
        if held.lost.is_none() {
            let elapsed = self.elapsed(&held);
            if elapsed >= TRUST {
                held.lost = Some(format!(
                    "{} was last confirmed {} s ago; others may treat it as stale after {} s",
                    held.name,
                    elapsed.as_secs(),
                    TRUST.as_secs()
                ));
            }
        }
        match &held.lost {
            Some(why) => Err(Error::LockLost(why.clone())),
            None => Ok(()),
        }
    }

    fn lose(&self, why: String) -> Error {
        let mut held = lock(&self.held);
        Error::LockLost(held.lost.get_or_insert(why).clone())
    }

    /// Confirms the lock object is still there and still trusted, then rewrites it.
    async fn once(&self) -> Result<()> {
        let _one = self.gate.lock().await;
        self.check()?;
        let name = lock(&self.held).name.clone();
        match self.backend.get(&name).await {
            Ok(_) => {}
            Err(Error::NotFound(_)) => {
                return Err(self.lose(format!("{name} was removed by another process")))
            }
            Err(e) => return Err(e),
        }
        let since = Started::now(&*self.clock);
        let fresh = LockInfo {
            time: since.wall,
            ..self.info.clone()
        };
        let new = write_lock(&*self.backend, &self.keys, &fresh).await?;
        // The object was there when we looked; it must still be trusted now that the new one is
        // written, or the new one came too late to count.
        if let Err(e) = self.check() {
            let _ = self.backend.delete(&new).await;
            return Err(e);
        }
        let old = {
            let mut held = lock(&self.held);
            held.since = since;
            std::mem::replace(&mut held.name, new)
        };
        let _ = self.backend.delete(&old).await;
        Ok(())
    }
}

impl Holder {
    async fn refresh_loop(self: Arc<Self>) {
        let mut wait = REFRESH;
        loop {
            tokio::time::sleep(wait).await;
            match self.once().await {
                Ok(()) => wait = REFRESH,
                Err(Error::LockLost(why)) => {
                    tracing::error!(reason = %why, "repository lock lost");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not refresh the repository lock; retrying");
                    wait = RETRY;
                }
            }
        }
    }
}

impl LockGuard {
    /// Fails with `Error::LockLost` once the lock can no longer be trusted (no I/O).
    pub fn check(&self) -> Result<()> {
        self.holder.check()
    }

    /// Confirms the lock object still exists and rewrites it, so a commit that follows has the
    /// whole trust window ahead of it. Fails with `Error::LockLost` when the lock was lost.
    pub async fn refresh(&self) -> Result<()> {
        self.holder.once().await
    }

    /// The lock object's current name.
    pub fn name(&self) -> String {
        lock(&self.holder.held).name.clone()
    }

    /// Stops refreshing and deletes the lock object.
    pub async fn release(mut self) -> Result<()> {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        let name = self.name();
        self.holder.backend.delete(&name).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
            let name = self.name();
            let backend = self.holder.backend.clone();
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                h.spawn(async move {
                    let _ = backend.delete(&name).await;
                });
            }
        }
    }
}
