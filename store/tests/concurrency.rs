//! Concurrency, garbage collection and keys: two backups at once both commit; prune refuses while
//! a backup holds its lock and reclaims exactly the unreferenced data afterwards; passphrases can
//! be added, changed and removed without touching data; a wrong passphrase is a clear error.

mod common;

use std::sync::Arc;

use secretsnap_store::{Error, PruneOptions, Repository, Subset};

#[tokio::test]
async fn two_backups_at_once_both_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, _) = common::local_repo(dir.path()).await;
    let mut tasks = Vec::new();
    for t in 0..2 {
        let backend = backend.clone();
        tasks.push(tokio::spawn(async move {
            let repo = Repository::open(backend, common::PW, common::opts(None))
                .await
                .unwrap();
            let mut w = repo.writer().await.unwrap();
            for i in 0..200 {
                w.add(
                    &format!("t{t}/{i}"),
                    b"m",
                    None,
                    format!("shared {i}").as_bytes(),
                )
                .await
                .unwrap();
                tokio::task::yield_now().await;
            }
            w.commit(common::meta("test://conc")).await.unwrap().0
        }));
    }
    let ids: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let repo = Repository::open(backend, common::PW, common::opts(None))
        .await
        .unwrap();
    assert_eq!(repo.snapshots().await.unwrap().snapshots.len(), 2);
    for id in ids {
        let h = repo.snapshot(&id).await.unwrap().header;
        for e in repo.entries(&h).await.unwrap() {
            let i = e.path.split('/').nth(1).unwrap();
            assert_eq!(
                &repo.read_content(&e).await.unwrap()[..],
                format!("shared {i}").as_bytes()
            );
        }
    }
    assert!(repo.check(Some(Subset::All)).await.unwrap().ok());
}

#[tokio::test]
async fn prune_is_refused_during_a_backup_and_reclaims_after() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    let mut w = repo.writer().await.unwrap();
    w.add("old", b"m", None, &vec![1u8; 50_000]).await.unwrap();
    let (old, _) = w.commit(common::meta("test://gc")).await.unwrap();
    let mut w = repo.writer().await.unwrap();
    w.add("keep", b"m", None, &vec![2u8; 50_000]).await.unwrap();
    let (keep, _) = w.commit(common::meta("test://gc")).await.unwrap();
    repo.forget(&[old]).await.unwrap();

    // A backup in progress (another handle) holds a shared lock: prune must refuse.
    let other = Repository::open(backend.clone(), common::PW, common::opts(None))
        .await
        .unwrap();
    let mut running = other.writer().await.unwrap();
    running
        .add("new", b"m", None, &vec![1u8; 50_000])
        .await
        .unwrap();
    match repo.prune(&PruneOptions::default()).await {
        Err(Error::Locked(who)) => assert!(who.contains("backup"), "{who}"),
        other => panic!("prune during a backup must be refused, got {other:?}"),
    }
    let (new, _) = running.commit(common::meta("test://gc")).await.unwrap();

    let dry = repo
        .prune(&PruneOptions {
            dry_run: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let report = repo.prune(&PruneOptions::default()).await.unwrap();
    assert_eq!(
        dry.packs_deleted, report.packs_deleted,
        "dry run predicts the real run"
    );
    assert!(report.blobs_live >= 2, "{report:?}");
    let fresh = Repository::open(backend, common::PW, common::opts(None))
        .await
        .unwrap();
    assert!(fresh.check(Some(Subset::All)).await.unwrap().ok());
    for id in [keep, new] {
        let h = fresh.snapshot(&id).await.unwrap().header;
        for e in fresh.entries(&h).await.unwrap() {
            fresh.read_content(&e).await.unwrap();
        }
    }
    // The forgotten snapshot's unique data (a 50 000-byte run of 2s is kept, 1s are shared with
    // `new`).
    let again = fresh.prune(&PruneOptions::default()).await.unwrap();
    assert_eq!(
        again.packs_deleted, 0,
        "a second prune finds nothing: {again:?}"
    );
}

#[tokio::test]
async fn keys_add_change_remove_and_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    let mut w = repo.writer().await.unwrap();
    w.add("a", b"m", None, b"v").await.unwrap();
    w.commit(Default::default()).await.unwrap();
    let second = repo.add_key(b"second pass", "ops").await.unwrap();
    assert_eq!(repo.list_keys().await.unwrap().len(), 2);
    let mut via_second = Repository::open(backend.clone(), b"second pass", common::opts(None))
        .await
        .unwrap();
    assert!(via_second
        .list_keys()
        .await
        .unwrap()
        .iter()
        .any(|k| k.id == second && k.current));
    via_second.change_passphrase(b"third pass").await.unwrap();
    assert!(matches!(
        Repository::open(backend.clone(), b"second pass", common::opts(None)).await,
        Err(Error::WrongPassword)
    ));
    let via_third = Repository::open(backend.clone(), b"third pass", common::opts(None))
        .await
        .unwrap();
    let first_id = via_third
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| !k.current)
        .unwrap()
        .id;
    via_third.remove_key(&first_id).await.unwrap();
    assert!(matches!(
        Repository::open(backend.clone(), common::PW, common::opts(None)).await,
        Err(Error::WrongPassword)
    ));
    let current = via_third.list_keys().await.unwrap()[0].id.clone();
    assert!(
        via_third.remove_key(&current).await.is_err(),
        "the key in use cannot be removed"
    );
    assert!(
        via_third.check(Some(Subset::All)).await.unwrap().ok(),
        "data untouched by key changes"
    );
    let msg = Error::WrongPassword.to_string();
    assert!(msg.contains("wrong passphrase"));
    let _ = Arc::clone(&backend);
}

/// Commits a one-entry snapshot through its own handle on `backend`, as another agent would.
async fn commit_elsewhere(backend: Arc<dyn secretsnap_store::backend::Backend>, what: &str) {
    let other = Repository::open(backend, common::PW, common::opts(None))
        .await
        .unwrap();
    let mut w = other.writer().await.unwrap();
    w.add(what, b"m", None, what.as_bytes()).await.unwrap();
    w.commit(common::meta("test://fleet")).await.unwrap();
}

/// A hook that forgets `ids` except the snapshot about to be read, as a retention on another
/// agent would.
fn forget_all_but(
    backend: Arc<dyn secretsnap_store::backend::Backend>,
    ids: Vec<secretsnap_store::Id>,
) -> common::interleave::Hook {
    Box::new(move |name| {
        Box::pin(async move {
            let forgetter = Repository::open(backend, common::PW, common::opts(None))
                .await
                .unwrap();
            let others: Vec<_> = ids
                .into_iter()
                .filter(|id| name != format!("snapshots/{id}"))
                .collect();
            forgetter.forget(&others).await.unwrap();
        })
    })
}

/// Commits one one-entry snapshot per name through `repo`.
async fn commit_each(repo: &Repository, names: &[&str]) -> Vec<secretsnap_store::Id> {
    let mut ids = Vec::new();
    for name in names {
        let mut w = repo.writer().await.unwrap();
        w.add(name, b"m", None, name.as_bytes()).await.unwrap();
        ids.push(w.commit(common::meta("test://fleet")).await.unwrap().0);
    }
    ids
}

/// A check shares the repository with backups and forgets (they take no exclusive lock). Between
/// its listing of indexes and of snapshots another agent commits a snapshot, and while it reads
/// the snapshots a retention forgets one it has listed: neither is damage, and the check must not
/// say so (a scheduler running a check beside its backups failed exactly so).
#[tokio::test]
async fn check_beside_a_backup_and_a_forget_reports_no_damage() {
    use common::interleave::{At, Interleave};
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    let ours = commit_each(&repo, &["a", "b"]).await;
    // Hooks count from here: opening a repository reads and lists too.
    let seen = Arc::new(Interleave::new(backend.clone()));
    let checker = Repository::open(seen.clone(), common::PW, common::opts(None))
        .await
        .unwrap();
    // Whichever listing the check makes first, a commit lands before the other one.
    for (prefix, what) in [("index/", "after-index"), ("snapshots/", "after-snapshots")] {
        let backend = backend.clone();
        seen.at(
            At::AfterList(prefix, 1),
            Box::new(move |_| Box::pin(commit_elsewhere(backend, what))),
        );
    }
    // Reading the first snapshot, the others listed with it are forgotten.
    seen.at(
        At::BeforeGet("snapshots/", 1),
        forget_all_but(backend.clone(), ours),
    );
    let report = checker.check(Some(Subset::All)).await.unwrap();
    assert_eq!(seen.pending(), 0, "every interleaving happened");
    assert!(report.ok(), "{:?}", report.errors);
}

/// Listing snapshots while a retention forgets one of them: the forgotten one is gone, not
/// damaged (`snapshots` feeds prune's refusal, `status` and the scheduler).
#[tokio::test]
async fn snapshots_listed_during_a_forget_are_not_damaged() {
    use common::interleave::{At, Interleave};
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    let ours = commit_each(&repo, &["a", "b", "c"]).await;
    let seen = Arc::new(Interleave::new(backend.clone()));
    let lister = Repository::open(seen.clone(), common::PW, common::opts(None))
        .await
        .unwrap();
    seen.at(
        At::BeforeGet("snapshots/", 1),
        forget_all_but(backend.clone(), ours),
    );
    let list = lister.snapshots().await.unwrap();
    assert_eq!(seen.pending(), 0);
    assert!(list.damaged.is_empty(), "{:?}", list.damaged);
    assert_eq!(list.snapshots.len(), 1);
}

/// A hook that runs a lock-free maintenance on another agent.
fn maintain_elsewhere(
    backend: Arc<dyn secretsnap_store::backend::Backend>,
) -> common::interleave::Hook {
    Box::new(move |_| {
        Box::pin(async move {
            let other = Repository::open(backend, common::PW, common::opts(None))
                .await
                .unwrap();
            let r = other
                .maintain(&secretsnap_store::MaintainOptions::default())
                .await
                .unwrap();
            assert!(r.indexes_replaced > 1, "{r:?}");
        })
    })
}

/// Maintenance replaces every index while a check and an `open` of other agents are reading
/// them: an index listed and gone before its read was replaced by the consolidated one, which
/// they read instead; neither reports damage nor loses a blob.
#[tokio::test]
async fn check_and_open_beside_maintenance_replacing_the_indexes() {
    use common::interleave::{At, Interleave};
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    commit_each(&repo, &["a", "b", "c"]).await;
    let seen = Arc::new(Interleave::new(backend.clone()));
    let checker = Repository::open(seen.clone(), common::PW, common::opts(None))
        .await
        .unwrap();
    seen.at(
        At::BeforeGet("index/", 1),
        maintain_elsewhere(backend.clone()),
    );
    let report = checker.check(Some(Subset::All)).await.unwrap();
    assert_eq!(seen.pending(), 0, "maintenance ran inside the check");
    assert!(report.ok(), "{:?}", report.errors);
    assert_eq!(report.indexes, 1);

    commit_each(&repo, &["d", "e"]).await;
    let seen = Arc::new(Interleave::new(backend.clone()));
    seen.at(
        At::BeforeGet("index/", 1),
        maintain_elsewhere(backend.clone()),
    );
    let opened = Repository::open(seen.clone(), common::PW, common::opts(None))
        .await
        .unwrap();
    assert_eq!(seen.pending(), 0, "maintenance ran inside the open");
    let list = opened.snapshots().await.unwrap();
    assert_eq!(list.snapshots.len(), 5);
    for s in &list.snapshots {
        for e in opened.entries(&s.header).await.unwrap() {
            assert_eq!(
                &opened.read_content(&e).await.unwrap()[..],
                e.path.as_bytes()
            );
        }
    }
}

/// A reader loaded the index before maintenance repacked a mostly-garbage pack and, a margin
/// later, deleted it: reading a blob of it finds the pack gone, reloads the index and reads the
/// blob's new copy.
#[tokio::test]
async fn a_reader_finds_a_repacked_blob_after_its_old_pack_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn secretsnap_store::backend::Backend> = Arc::new(
        secretsnap_store::backend::LocalBackend::new(dir.path().join("repo")),
    );
    let opts = secretsnap_store::OpenOptions {
        gc: Some(secretsnap_store::config::GcParams {
            margin_secs: 1,
            skew_secs: 1,
        }),
        ..common::opts(None)
    };
    let repo = Repository::init(backend.clone(), common::PW, opts)
        .await
        .unwrap();
    // One pack: a large record only the first snapshot holds and a small one both hold.
    let big = vec![7u8; 300_000];
    let mut w = repo.writer().await.unwrap();
    w.add("big", b"m", None, &big).await.unwrap();
    w.add("small", b"m", None, b"small").await.unwrap();
    let (first, _) = w.commit(common::meta("test://a")).await.unwrap();
    let mut w = repo.writer().await.unwrap();
    w.add("small", b"m", None, b"small").await.unwrap();
    w.commit(common::meta("test://a")).await.unwrap();
    let reader = Repository::open(backend.clone(), common::PW, common::opts(None))
        .await
        .unwrap();
    let kept = reader.snapshots().await.unwrap().snapshots.pop().unwrap();
    let small = reader.entries(&kept.header).await.unwrap().remove(0);
    repo.forget(&[first]).await.unwrap();
    let options = secretsnap_store::MaintainOptions::default();
    let marked = repo.maintain(&options).await.unwrap();
    assert_eq!(marked.packs_repacked, 1, "{marked:?}");
    // Margin + 2 × skew.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let deleted = repo.maintain(&options).await.unwrap();
    assert!(deleted.packs_deleted >= 1, "{deleted:?}");
    assert_eq!(&reader.read_content(&small).await.unwrap()[..], b"small");
    assert!(repo.check(Some(Subset::All)).await.unwrap().ok());
}
