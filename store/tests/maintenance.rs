//! Lock-free maintenance as a state machine: every interleaving of a backup (start, blob reuse,
//! commit), a forget, maintenance runs (mark, withdraw, delete) on hosts whose clocks differ by
//! the repository's skew, time passing, and a kill at each step of a maintenance run or of the
//! backup, on a repository held in memory with injected clocks. After every step a fresh handle
//! checks the invariant: every committed snapshot reads back whole and equal, and `check
//! --read-data` finds nothing wrong. Why exhaustive rather than sampled: the failure this rules
//! out (a snapshot pointing at a deleted blob) needs one exact order of events.

mod common;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use secretsnap_store::backend::{Backend, ObjectInfo};
use secretsnap_store::config::GcParams;
use secretsnap_store::{
    Clock, Error, MaintainOptions, OpenOptions, Repository, Result, SnapshotMeta, Subset,
};

const MARGIN: u64 = 60;
const SKEW: u64 = 5;
/// Time passing at a `Tick`: three of them pass margin + 2 × skew, two do not pass the margin.
const TICK: Duration = Duration::from_secs(25);

/// Objects shared by every actor, copied whole to start each scenario from the same state.
#[derive(Debug, Default)]
struct Store(Mutex<BTreeMap<String, Bytes>>);

/// One actor's view of the store: after `kill_after` writes or deletions it is dead (every
/// later call fails, as a killed process does nothing more).
#[derive(Debug)]
struct Actor {
    store: Arc<Store>,
    kill_after: Mutex<Option<usize>>,
}

impl Actor {
    fn backend(store: &Arc<Store>, kill_after: Option<usize>) -> Arc<dyn Backend> {
        Arc::new(Actor {
            store: store.clone(),
            kill_after: Mutex::new(kill_after),
        })
    }
    fn mutate(&self) -> Result<()> {
        let mut k = self.kill_after.lock().unwrap();
        match *k {
            Some(0) => Err(Error::Backend {
                object: "-".into(),
                reason: "killed".into(),
            }),
            Some(n) => {
                *k = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }
    fn alive(&self) -> Result<()> {
        match *self.kill_after.lock().unwrap() {
            Some(0) => Err(Error::Backend {
                object: "-".into(),
                reason: "killed".into(),
            }),
            _ => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Backend for Actor {
    fn location(&self) -> String {
        "memory".into()
    }
    async fn get(&self, name: &str) -> Result<Bytes> {
        self.alive()?;
        let map = self.store.0.lock().unwrap();
        map.get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(name.into()))
    }
    async fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes> {
        let b = self.get(name).await?;
        Ok(b.slice(range.start as usize..range.end as usize))
    }
    async fn put_if_absent(&self, name: &str, bytes: Bytes) -> Result<bool> {
        self.mutate()?;
        let mut map = self.store.0.lock().unwrap();
        if map.contains_key(name) {
            return Ok(false);
        }
        map.insert(name.into(), bytes);
        Ok(true)
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.alive()?;
        let map = self.store.0.lock().unwrap();
        Ok(map
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo {
                name: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }
    async fn delete(&self, name: &str) -> Result<()> {
        self.mutate()?;
        self.store.0.lock().unwrap().remove(name);
        Ok(())
    }
}

/// Shared fake time; each host reads it with its own offset.
#[derive(Debug)]
struct Host {
    elapsed: Arc<Mutex<Duration>>,
    /// Wall-clock offset of this host, seconds (± the skew).
    offset: i64,
}

impl Clock for Host {
    fn now(&self) -> DateTime<Utc> {
        let base: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        base + chrono::Duration::from_std(*self.elapsed.lock().unwrap()).unwrap()
            + chrono::Duration::seconds(self.offset)
    }
    fn monotonic(&self) -> Duration {
        *self.elapsed.lock().unwrap()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    BackupStart,
    /// The backup adds its records: one whose content the forgotten snapshot held (reused when
    /// its pack is not marked), one new.
    BackupAdd,
    BackupCommit,
    Forget,
    Maintain(usize),
    Tick,
}

fn meta(source: &str) -> SnapshotMeta {
    SnapshotMeta {
        source: source.into(),
        ..Default::default()
    }
}

fn options(clock: Arc<dyn Clock>) -> OpenOptions {
    OpenOptions {
        clock: Some(clock),
        gc: Some(GcParams {
            margin_secs: MARGIN,
            skew_secs: SKEW,
        }),
        ..common::opts(None)
    }
}

const OLD: &[u8] = b"content only the forgotten snapshot holds, reused by the backup";
const KEPT: &[u8] = b"content of a snapshot nobody forgets";
const NEW: &[u8] = b"content the backup brings";

/// The starting repository: snapshot `old` (OLD), snapshot `kept` (KEPT), in their own packs.
async fn base() -> (Arc<Store>, String) {
    let store = Arc::new(Store::default());
    let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    let clock: Arc<dyn Clock> = Arc::new(Host { elapsed, offset: 0 });
    let repo = Repository::init(Actor::backend(&store, None), common::PW, options(clock))
        .await
        .unwrap();
    let mut w = repo.writer().await.unwrap();
    w.add("a", b"m", None, OLD).await.unwrap();
    let (old, _) = w.commit(meta("old")).await.unwrap();
    let mut w = repo.writer().await.unwrap();
    w.add("b", b"m", None, KEPT).await.unwrap();
    w.commit(meta("kept")).await.unwrap();
    (store, old.to_hex())
}

/// What every committed snapshot must read back as.
fn expected(source: &str) -> Vec<(String, Vec<u8>)> {
    let one = |p: &str, c: &[u8]| (p.to_string(), c.to_vec());
    match source {
        "old" => vec![one("a", OLD)],
        "kept" => vec![one("b", KEPT)],
        "backup" => vec![one("a", OLD), one("c", NEW)],
        other => match other.strip_prefix("extra-") {
            Some(i) => vec![one(&format!("n{i}"), format!("new {i}").as_bytes())],
            None => panic!("unexpected snapshot {other}"),
        },
    }
}

/// The invariant, through a fresh handle: every snapshot reads back equal, check finds nothing.
async fn invariant(store: &Arc<Store>, clock: Arc<dyn Clock>, story: &str) {
    let repo = Repository::open(Actor::backend(store, None), common::PW, options(clock))
        .await
        .unwrap();
    let list = repo.snapshots().await.unwrap();
    assert!(list.damaged.is_empty(), "{story}: {:?}", list.damaged);
    for s in &list.snapshots {
        let entries = repo.entries(&s.header).await.unwrap_or_else(|e| {
            panic!(
                "{story}: snapshot {} lost its tree: {e}",
                s.header.meta.source
            )
        });
        let got: Vec<(String, Vec<u8>)> = {
            let mut out = Vec::new();
            for e in &entries {
                let content = repo.read_content(e).await.unwrap_or_else(|err| {
                    panic!("{story}: {} {}: {err}", s.header.meta.source, e.path)
                });
                out.push((e.path.clone(), content.to_vec()));
            }
            out
        };
        assert_eq!(got, expected(&s.header.meta.source), "{story}");
    }
    let report = repo.check(Some(Subset::All)).await.unwrap();
    assert!(report.ok(), "{story}: {:?}", report.errors);
}

/// Runs one scenario; returns whether the backup committed and how many packs were deleted.
async fn scenario(
    events: &[Event],
    skew_sign: i64,
    kill_maintenance: Option<(usize, usize)>,
    kill_backup: Option<usize>,
) -> (bool, usize) {
    let (store0, old) = base_cached().await;
    let store = Arc::new(Store(Mutex::new(store0.0.lock().unwrap().clone())));
    let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    let host = |offset: i64| -> Arc<dyn Clock> {
        Arc::new(Host {
            elapsed: elapsed.clone(),
            offset,
        })
    };
    let story = format!(
        "{events:?} skew {skew_sign:+} kill maintenance {kill_maintenance:?} backup {kill_backup:?}"
    );
    let backup_actor = Arc::new(Actor {
        store: store.clone(),
        kill_after: Mutex::new(None),
    });
    let backup_repo = Repository::open(backup_actor.clone(), common::PW, options(host(0)))
        .await
        .unwrap();
    // Killed after this many writes of the backup itself (opening writes nothing that counts).
    *backup_actor.kill_after.lock().unwrap() = kill_backup;
    let mut writer = None;
    let mut committed = false;
    let mut deleted = 0;
    let mut backup_dead = false;
    for event in events {
        match event {
            Event::BackupStart => match backup_repo.writer().await {
                Ok(w) => writer = Some(w),
                Err(_) => backup_dead = true,
            },
            Event::BackupAdd => {
                if let Some(w) = writer.as_mut() {
                    let a = w.add("a", b"m", None, OLD).await;
                    let c = w.add("c", b"m", None, NEW).await;
                    if a.is_err() || c.is_err() {
                        writer = None;
                        backup_dead = true;
                    }
                }
            }
            Event::BackupCommit => {
                if let Some(w) = writer.take() {
                    match w.commit(meta("backup")).await {
                        Ok(_) => committed = true,
                        Err(Error::TooLong { .. }) => {}
                        Err(_) if kill_backup.is_some() => backup_dead = true,
                        Err(e) => panic!("{story}: commit failed: {e}"),
                    }
                }
            }
            Event::Forget => {
                let repo =
                    Repository::open(Actor::backend(&store, None), common::PW, options(host(0)))
                        .await
                        .unwrap();
                repo.forget(&[secretsnap_store::Id::from_hex(&old).unwrap()])
                    .await
                    .unwrap();
            }
            Event::Maintain(i) => {
                // Maintenance hosts alternate between the two ends of the skew.
                let offset = if i % 2 == 0 { skew_sign } else { -skew_sign } * SKEW as i64;
                let kill = kill_maintenance.and_then(|(run, k)| (run == *i).then_some(k));
                let repo = Repository::open(
                    Actor::backend(&store, kill),
                    common::PW,
                    options(host(offset)),
                )
                .await;
                let Ok(repo) = repo else {
                    assert!(kill.is_some(), "{story}: open failed");
                    continue;
                };
                match repo.maintain(&MaintainOptions::default()).await {
                    Ok(r) => deleted += r.packs_deleted,
                    Err(e) => {
                        assert!(kill.is_some(), "{story}: maintenance failed: {e}");
                        // A killed process's lock is stale at once for its own machine; here
                        // every actor shares one pid, so the test clears it.
                        drop_maintenance_locks(&store, &backup_repo).await;
                    }
                }
            }
            Event::Tick => *elapsed.lock().unwrap() += TICK,
        }
        invariant(&store, host(0), &format!("{story} after {event:?}")).await;
    }
    let _ = backup_dead;
    (committed, deleted)
}

/// Deletes every lock object but those of the backup still running.
async fn drop_maintenance_locks(store: &Arc<Store>, repo: &Repository) {
    let keys = repo.keys();
    let names: Vec<String> = store
        .0
        .lock()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("locks/"))
        .cloned()
        .collect();
    for name in names {
        let id = secretsnap_store::Id::from_hex(name.strip_prefix("locks/").unwrap()).unwrap();
        let bytes = store.0.lock().unwrap().get(&name).cloned().unwrap();
        let plain = keys
            .open(secretsnap_store::crypto::Kind::Lock, &id, &bytes)
            .unwrap();
        let info: secretsnap_store::lock::LockInfo = serde_json::from_slice(&plain).unwrap();
        if info.maintenance {
            store.0.lock().unwrap().remove(&name);
        }
    }
}

static BASE: tokio::sync::OnceCell<(Arc<Store>, String)> = tokio::sync::OnceCell::const_new();

async fn base_cached() -> (Arc<Store>, String) {
    BASE.get_or_init(base).await.clone()
}

/// Every ordering of `events` (as a multiset) in which the backup's steps keep their order.
fn orderings(events: &[Event]) -> Vec<Vec<Event>> {
    fn go(left: &mut Vec<Event>, cur: &mut Vec<Event>, out: &mut Vec<Vec<Event>>) {
        if left.is_empty() {
            out.push(cur.clone());
            return;
        }
        let mut tried: Vec<Event> = Vec::new();
        for i in 0..left.len() {
            let e = left[i];
            if tried.contains(&e) {
                continue;
            }
            let ready = match e {
                Event::BackupAdd => cur.contains(&Event::BackupStart),
                Event::BackupCommit => cur.contains(&Event::BackupAdd),
                Event::Maintain(1) => cur.contains(&Event::Maintain(0)),
                _ => true,
            };
            if !ready {
                continue;
            }
            tried.push(e);
            left.remove(i);
            cur.push(e);
            go(left, cur, out);
            cur.pop();
            left.insert(i, e);
        }
    }
    let mut out = Vec::new();
    go(&mut events.to_vec(), &mut Vec::new(), &mut out);
    out
}

const STORY: [Event; 9] = [
    Event::BackupStart,
    Event::BackupAdd,
    Event::BackupCommit,
    Event::Forget,
    Event::Maintain(0),
    Event::Maintain(1),
    Event::Tick,
    Event::Tick,
    Event::Tick,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_interleaving_of_backup_forget_and_maintenance_loses_a_blob() {
    let all = orderings(&STORY);
    assert_eq!(all.len(), 362_880 / (6 * 2 * 6));
    let (mut committed, mut refused, mut deletions) = (0, 0, 0);
    for (n, events) in all.iter().enumerate() {
        let skew = if n % 2 == 0 { 1 } else { -1 };
        let (c, d) = scenario(events, skew, None, None).await;
        if c {
            committed += 1
        } else {
            refused += 1
        }
        deletions += d;
    }
    // The interleavings reached every outcome: backups committed, backups refused for running
    // past the margin, and packs really deleted.
    assert!(
        committed > 0 && refused > 0 && deletions > 0,
        "{committed} {refused} {deletions}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_at_any_step_of_maintenance_or_backup_loses_nothing() {
    let all = orderings(&STORY);
    let mut killed_runs = 0;
    for (n, events) in all.iter().enumerate().filter(|(n, _)| n % 23 == 0) {
        let skew = if n % 2 == 0 { 1 } else { -1 };
        for run in 0..2 {
            for k in 0..12 {
                scenario(events, skew, Some((run, k)), None).await;
                killed_runs += 1;
            }
        }
        for k in 0..6 {
            scenario(events, skew, None, Some(k)).await;
            killed_runs += 1;
        }
    }
    assert!(killed_runs > 100);
}

/// A lock from a binary that predates marks (no `knows_marks`), on another host.
async fn plant_old_lock(store: &Arc<Store>, repo: &Repository, clock: &dyn Clock) {
    let info = serde_json::json!({
        "host": "an-older-agent", "pid": 1, "exclusive": false, "purpose": "backup",
        "time": clock.now(),
    });
    let id = secretsnap_store::Id::random();
    let sealed = repo.keys().seal(
        secretsnap_store::crypto::Kind::Lock,
        &id,
        &serde_json::to_vec(&info).unwrap(),
    );
    store
        .0
        .lock()
        .unwrap()
        .insert(format!("locks/{id}"), sealed.into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_consolidates_indexes_and_holds_deletion_while_an_older_binary_backs_up() {
    let (store0, old) = base_cached().await;
    let store = Arc::new(Store(Mutex::new(store0.0.lock().unwrap().clone())));
    let elapsed = Arc::new(Mutex::new(Duration::ZERO));
    let clock: Arc<dyn Clock> = Arc::new(Host {
        elapsed: elapsed.clone(),
        offset: 0,
    });
    let repo = Repository::open(
        Actor::backend(&store, None),
        common::PW,
        options(clock.clone()),
    )
    .await
    .unwrap();
    let indexes = || {
        store
            .0
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("index/"))
            .count()
    };
    for i in 0..3 {
        let mut w = repo.writer().await.unwrap();
        w.add(&format!("n{i}"), b"m", None, format!("new {i}").as_bytes())
            .await
            .unwrap();
        w.commit(meta(&format!("extra-{i}"))).await.unwrap();
    }
    assert_eq!(indexes(), 5, "one index per backup");
    repo.forget(&[secretsnap_store::Id::from_hex(&old).unwrap()])
        .await
        .unwrap();
    let first = repo.maintain(&MaintainOptions::default()).await.unwrap();
    assert!(first.packs_marked > 0, "{first:?}");
    assert_eq!(first.indexes_replaced, 5);
    assert_eq!(
        indexes(),
        1,
        "a fresh agent reads one index after maintenance"
    );
    // An older binary's backup is running when the marks come due: nothing is deleted.
    plant_old_lock(&store, &repo, &*clock).await;
    *elapsed.lock().unwrap() += Duration::from_secs(MARGIN + 2 * SKEW);
    let held = repo.maintain(&MaintainOptions::default()).await.unwrap();
    assert_eq!(held.packs_deleted, 0, "{held:?}");
    assert!(held
        .deletion_held
        .as_deref()
        .unwrap()
        .contains("older secretsnap"));
    // Once it is gone, the next run deletes.
    store
        .0
        .lock()
        .unwrap()
        .retain(|k, _| !k.starts_with("locks/"));
    let done = repo.maintain(&MaintainOptions::default()).await.unwrap();
    assert_eq!(done.packs_deleted, first.packs_marked, "{done:?}");
    assert!(done.bytes_freed > 0);
    let status = repo.maintenance_status().await.unwrap();
    assert_eq!(status.bytes_pending, 0);
    assert_eq!(status.last_run.unwrap().packs_deleted, done.packs_deleted);
    invariant(&store, clock, "after deletion").await;
}
