//! Integrity under interleavings, with real files: a backup whose lock aged past its trust window
//! (a suspended host) or whose lock object vanished never commits, even when a prune ran in the
//! meantime; clock skew up to `MAX_SKEW` is tolerated; a planted key file with absurd Argon2
//! costs does not stall `open`; a tampered or foreign cache is rebuilt, not believed; a
//! repository created with loose permissions is made private on open.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secretsnap_store::backend::{Backend, LocalBackend};
use secretsnap_store::lock::{MAX_SKEW, STALE, TRUST};
use secretsnap_store::{
    Clock, Error, OpenOptions, PruneOptions, Repository, SnapshotMeta, Subset, SystemClock,
};

/// A clock that can be pushed forward: wall only (a suspended host: the monotonic clock stops)
/// or both.
#[derive(Debug, Default)]
struct JumpClock {
    wall: Mutex<Duration>,
    mono: Mutex<Duration>,
}

impl JumpClock {
    fn suspend(&self, d: Duration) {
        *self.wall.lock().unwrap() += d;
    }
    fn advance(&self, d: Duration) {
        *self.wall.lock().unwrap() += d;
        *self.mono.lock().unwrap() += d;
    }
}

impl Clock for JumpClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + chrono::Duration::from_std(*self.wall.lock().unwrap()).unwrap()
    }
    fn monotonic(&self) -> Duration {
        SystemClock.monotonic() + *self.mono.lock().unwrap()
    }
}

fn opts_with(clock: Arc<dyn Clock>, cache: Option<&std::path::Path>) -> OpenOptions {
    OpenOptions {
        clock: Some(clock),
        ..common::opts(cache)
    }
}

async fn open(backend: &Arc<dyn Backend>, clock: Arc<dyn Clock>) -> Repository {
    Repository::open(backend.clone(), common::PW, opts_with(clock, None))
        .await
        .unwrap()
}

fn meta() -> SnapshotMeta {
    common::meta("test://integrity")
}

/// S1 holds `shared` data; returns its id.
async fn first_snapshot(repo: &Repository) -> secretsnap_store::Id {
    let mut w = repo.writer().await.unwrap();
    w.add("s1/a", b"m", Some("item-a"), &vec![7u8; 40_000])
        .await
        .unwrap();
    w.commit(meta()).await.unwrap().0
}

async fn all_readable(repo: &Repository) {
    let list = repo.snapshots().await.unwrap();
    assert!(list.damaged.is_empty(), "{:?}", list.damaged);
    for s in &list.snapshots {
        for e in repo.entries(&s.header).await.unwrap() {
            repo.read_content(&e).await.unwrap();
        }
    }
    let report = repo.check(Some(Subset::All)).await.unwrap();
    assert!(report.ok(), "{:?}", report.errors);
}

#[tokio::test]
async fn a_backup_suspended_past_its_lock_never_commits_even_after_a_prune() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    let s1 = first_snapshot(&repo).await;

    let host_a = Arc::new(JumpClock::default());
    let a = open(&backend, host_a.clone()).await;
    let mut w = a.writer().await.unwrap();
    a.prepare_incremental().await.unwrap();
    let known = a.known_item("item-a").unwrap().expect("S1's item is known");
    w.add_known("s2/a", b"m", Some("item-a"), &known).unwrap();

    // Host A sleeps 31 minutes (only its wall clock moves); host B, 31 minutes later, forgets
    // S1 and prunes: A's lock is stale to B, so B deletes the blobs A is about to reference.
    host_a.suspend(Duration::from_secs(31 * 60));
    let host_b = Arc::new(JumpClock::default());
    host_b.advance(Duration::from_secs(31 * 60));
    let b = open(&backend, host_b).await;
    b.forget(&[s1]).await.unwrap();
    let pruned = b.prune(&PruneOptions::default()).await.unwrap();
    assert!(pruned.packs_deleted > 0, "{pruned:?}");

    assert!(matches!(w.check_lock(), Err(Error::LockLost(_))));
    match w.commit(meta()).await {
        Err(Error::LockLost(why)) => assert!(why.contains("last confirmed"), "{why}"),
        other => panic!("a backup past its lock's trust window must not commit: {other:?}"),
    }
    let fresh = open(&backend, Arc::new(SystemClock)).await;
    assert!(fresh.snapshots().await.unwrap().snapshots.is_empty());
    all_readable(&fresh).await;
}

#[tokio::test]
async fn a_backup_whose_lock_object_vanished_never_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    let s1 = first_snapshot(&repo).await;

    let a = open(&backend, Arc::new(SystemClock)).await;
    let mut w = a.writer().await.unwrap();
    a.prepare_incremental().await.unwrap();
    let known = a.known_item("item-a").unwrap().unwrap();
    w.add_known("s2/a", b"m", Some("item-a"), &known).unwrap();
    w.add("s2/b", b"m", None, b"new value").await.unwrap();

    // Someone removes the lock object (an operator, a buggy tool): a prune then runs freely.
    for o in backend.list("locks/").await.unwrap() {
        backend.delete(&o.name).await.unwrap();
    }
    let b = open(&backend, Arc::new(SystemClock)).await;
    b.forget(&[s1]).await.unwrap();
    b.prune(&PruneOptions::default()).await.unwrap();

    match w.commit(meta()).await {
        Err(Error::LockLost(why)) => assert!(why.contains("removed"), "{why}"),
        other => panic!("a backup whose lock vanished must not commit: {other:?}"),
    }
    assert!(backend.list("locks/").await.unwrap().is_empty());
    let fresh = open(&backend, Arc::new(SystemClock)).await;
    assert!(fresh.snapshots().await.unwrap().snapshots.is_empty());
    all_readable(&fresh).await;
}

#[tokio::test]
async fn a_commit_that_finds_its_blobs_gone_refuses() {
    // Defence in depth: even with a live lock, blobs that left every index are caught at commit.
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    first_snapshot(&repo).await;
    let a = open(&backend, Arc::new(SystemClock)).await;
    let mut w = a.writer().await.unwrap();
    a.prepare_incremental().await.unwrap();
    let known = a.known_item("item-a").unwrap().unwrap();
    w.add_known("s2/a", b"m", Some("item-a"), &known).unwrap();
    for o in backend.list("index/").await.unwrap() {
        backend.delete(&o.name).await.unwrap();
    }
    match w.commit(meta()).await {
        Err(Error::Vanished { count, .. }) => assert!(count >= 1),
        other => panic!("expected Vanished, got {other:?}"),
    }
    assert_eq!(backend.list("snapshots/").await.unwrap().len(), 1);
}

#[tokio::test]
async fn clock_skew_within_max_skew_is_tolerated_and_the_trust_window_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, _) = common::local_repo(dir.path()).await;
    let host_a = Arc::new(JumpClock::default());
    let a = open(&backend, host_a.clone()).await;
    let mut w = a.writer().await.unwrap();
    w.add("x", b"m", None, b"v").await.unwrap();

    // A is one minute short of its trust window; B's clock runs MAX_SKEW - 1 min ahead.
    let almost = TRUST - Duration::from_secs(60);
    host_a.advance(almost);
    let host_b = Arc::new(JumpClock::default());
    host_b.advance(almost + MAX_SKEW - Duration::from_secs(60));
    assert!(almost + MAX_SKEW - Duration::from_secs(60) < STALE);
    let b = open(&backend, host_b).await;
    match b.prune(&PruneOptions::default()).await {
        Err(Error::Locked(who)) => assert!(who.contains("backup"), "{who}"),
        other => panic!("a lock inside the window must hold for a skewed host: {other:?}"),
    }
    // The commit refreshes the lock first, so it has the whole window again.
    w.check_lock().unwrap();
    let (id, _) = w.commit(meta()).await.unwrap();
    assert!(a.snapshot(&id).await.is_ok());

    // A second writer crossing TRUST by a second is lost, however the clocks moved.
    let mut w = a.writer().await.unwrap();
    host_a.advance(TRUST + Duration::from_secs(1));
    assert!(matches!(
        w.add("y", b"m", None, b"v").await,
        Err(Error::LockLost(_))
    ));
}

#[tokio::test]
async fn locks_of_dead_local_processes_are_stale_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    // A lock that names a pid that cannot exist on this machine, written as this host would.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let w = repo.writer().await.unwrap();
    let name = w_lock_name(&backend).await;
    let bytes = backend.get(&name).await.unwrap();
    let id = secretsnap_store::Id::from_hex(name.strip_prefix("locks/").unwrap()).unwrap();
    let plain = repo
        .keys()
        .open(secretsnap_store::crypto::Kind::Lock, &id, &bytes)
        .unwrap();
    let mut info: secretsnap_store::lock::LockInfo = serde_json::from_slice(&plain).unwrap();
    drop(w);
    tokio::time::sleep(Duration::from_millis(100)).await;
    info.pid = dead;
    info.exclusive = true;
    let planted = secretsnap_store::Id::random();
    let sealed = repo.keys().seal(
        secretsnap_store::crypto::Kind::Lock,
        &planted,
        &serde_json::to_vec(&info).unwrap(),
    );
    backend
        .put_if_absent(&format!("locks/{planted}"), sealed.into())
        .await
        .unwrap();
    // A dead exclusive holder blocks nobody, and prune clears its object.
    let w = repo.writer().await.unwrap();
    drop(w);
    repo.prune(&PruneOptions::default()).await.unwrap();
    assert!(backend.list("locks/").await.unwrap().is_empty());
}

async fn w_lock_name(backend: &Arc<dyn Backend>) -> String {
    backend.list("locks/").await.unwrap()[0].name.clone()
}

#[tokio::test]
async fn an_absurd_key_file_does_not_stall_open() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, _) = common::local_repo(dir.path()).await;
    let good = backend.list("keys/").await.unwrap()[0].name.clone();
    let mut kf: serde_json::Value =
        serde_json::from_slice(&backend.get(&good).await.unwrap()).unwrap();
    for (m, t) in [(u32::MAX, 1), (1024, u32::MAX), (u32::MAX, u32::MAX)] {
        kf["params"]["m_cost"] = m.into();
        kf["params"]["t_cost"] = t.into();
        let name = format!("keys/{}", secretsnap_store::Id::random());
        backend
            .put_if_absent(&name, serde_json::to_vec(&kf).unwrap().into())
            .await
            .unwrap();
    }
    backend
        .put_if_absent(
            &format!("keys/{}", secretsnap_store::Id::random()),
            vec![b'{'; 200_000].into(),
        )
        .await
        .unwrap();
    let start = std::time::Instant::now();
    let repo = Repository::open(backend.clone(), common::PW, common::opts(None))
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        repo.list_keys().await.unwrap().len(),
        1,
        "bad key files are skipped"
    );
    assert!(matches!(
        Repository::open(backend, b"wrong", common::opts(None)).await,
        Err(Error::WrongPassword)
    ));
}

#[tokio::test]
async fn a_tampered_or_foreign_cache_is_rebuilt_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path().join("repo")));
    let repo = Repository::init(backend.clone(), common::PW, common::opts(Some(&cache)))
        .await
        .unwrap();
    let mut w = repo.writer().await.unwrap();
    w.add("a", b"m", Some("item-a"), &vec![3u8; 10_000])
        .await
        .unwrap();
    w.commit(meta()).await.unwrap();
    repo.prepare_incremental().await.unwrap();
    assert!(repo.known_item("item-a").unwrap().is_some());
    drop(repo);

    let db = common::files(&cache)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "sqlite"))
        .unwrap();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        // No column could hold a plaintext length: rows are names and sealed bytes only.
        let cols: Vec<String> = c
            .prepare(
                "SELECT name FROM pragma_table_info('items') UNION ALL SELECT name FROM \
             pragma_table_info('index_objects')",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(cols, ["key", "sealed", "name", "sealed"]);
        // Flip a byte of every sealed row, and plant an item row claiming absurd content.
        c.execute_batch(
            "UPDATE items SET sealed = zeroblob(length(sealed));
             UPDATE index_objects SET sealed = zeroblob(length(sealed));
             UPDATE snapshots SET sealed = zeroblob(length(sealed));",
        )
        .unwrap();
    }
    let repo = Repository::open(backend.clone(), common::PW, common::opts(Some(&cache)))
        .await
        .unwrap();
    all_readable(&repo).await;
    assert!(
        repo.known_item("item-a").unwrap().is_none(),
        "a damaged item row is not believed"
    );
    repo.prepare_incremental().await.unwrap();
    assert!(
        repo.known_item("item-a").unwrap().is_some(),
        "and it is rebuilt from the snapshots"
    );
    drop(repo);

    // Not a database at all, and a cache of the old schema with plaintext lengths.
    std::fs::write(&db, vec![0x55u8; 4096]).unwrap();
    let repo = Repository::open(backend.clone(), common::PW, common::opts(Some(&cache)))
        .await
        .unwrap();
    all_readable(&repo).await;
    drop(repo);
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA user_version = 0;
             CREATE TABLE blobs (id BLOB PRIMARY KEY, kind INTEGER, pack BLOB, off INTEGER, len INTEGER, raw INTEGER);
             INSERT INTO blobs VALUES (x'00', 1, x'00', -5, -1, 9223372036854775807);",
        )
        .unwrap();
    }
    let repo = Repository::open(backend.clone(), common::PW, common::opts(Some(&cache)))
        .await
        .unwrap();
    all_readable(&repo).await;
    let c = rusqlite::Connection::open(&db).unwrap();
    let blobs: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'blobs'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(blobs, 0, "the old schema's table is gone");
}

#[tokio::test]
async fn loose_repository_and_cache_files_are_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let root = dir.path().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(&root));
    let repo = Repository::init(backend.clone(), common::PW, common::opts(Some(&cache)))
        .await
        .unwrap();
    let mut w = repo.writer().await.unwrap();
    w.add("a", b"m", None, b"v").await.unwrap();
    w.commit(meta()).await.unwrap();
    drop(repo);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let check_all = |what: &str| {
        for base in [&root, &cache] {
            assert_eq!(mode(base), 0o700, "{what}: {}", base.display());
            for f in common::files(base) {
                assert_eq!(mode(&f), 0o600, "{what}: {}", f.display());
                assert_eq!(mode(f.parent().unwrap()), 0o700, "{what}: {}", f.display());
            }
        }
    };
    check_all("new repository");
    // An older repository left readable by everyone is tightened when opened.
    for f in common::files(&root)
        .into_iter()
        .chain(common::files(&cache))
    {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(f.parent().unwrap(), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    let repo = Repository::open(backend, common::PW, common::opts(Some(&cache)))
        .await
        .unwrap();
    drop(repo);
    check_all("reopened repository");
}
