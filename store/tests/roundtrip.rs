//! Property tests: any set of records written as a snapshot (chunk → pack → index → snapshot)
//! reads back identical, on a fresh handle, across snapshots that share content.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use secretsnap_store::backend::{Backend, ObjectStoreBackend};
use secretsnap_store::Repository;

fn records() -> impl Strategy<Value = BTreeMap<String, (Vec<u8>, Vec<u8>)>> {
    let content = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..300),
        2 => proptest::collection::vec(any::<u8>(), 60_000..70_000),
        1 => (1usize..3_000_000).prop_map(|n| (0..n).map(|i| ((i * 31) ^ (i >> 7)) as u8).collect()),
    ];
    proptest::collection::btree_map(
        "[a-z/]{1,20}",
        (proptest::collection::vec(any::<u8>(), 0..50), content),
        1..20,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn snapshot_round_trip(recs in records(), second in records()) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let backend: Arc<dyn Backend> = Arc::new(ObjectStoreBackend::memory());
            let repo = Repository::init(backend.clone(), common::PW, common::opts(None)).await.unwrap();
            let mut ids = Vec::new();
            for set in [&recs, &second, &recs] {
                let mut w = repo.writer().await.unwrap();
                for (path, (meta, content)) in set.iter() {
                    w.add(path, meta, Some(path), content).await.unwrap();
                }
                ids.push((repo_commit(w).await, set.clone()));
            }
            // A fresh handle (no cache) must see the same thing.
            let fresh = Repository::open(backend, common::PW, common::opts(None)).await.unwrap();
            for (id, set) in ids {
                let info = fresh.snapshot(&id).await.unwrap();
                let entries = fresh.entries(&info.header).await.unwrap();
                prop_assert_eq!(entries.len(), set.len());
                for e in entries {
                    let (meta, content) = &set[&e.path];
                    prop_assert_eq!(&e.meta, meta);
                    prop_assert_eq!(&fresh.read_content(&e).await.unwrap()[..], &content[..]);
                }
            }
            let report = fresh.check(Some(secretsnap_store::Subset::All)).await.unwrap();
            prop_assert!(report.ok(), "{:?}", report.errors);
            Ok(())
        })?;
    }
}

async fn repo_commit(w: secretsnap_store::SnapshotWriter<'_>) -> secretsnap_store::Id {
    w.commit(common::meta("test://props")).await.unwrap().0
}

#[tokio::test]
async fn identical_content_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_, repo) = common::local_repo(dir.path()).await;
    let value = vec![42u8; 10_000];
    let mut w = repo.writer().await.unwrap();
    for i in 0..50 {
        w.add(&format!("s{i}"), b"{}", None, &value).await.unwrap();
    }
    let (_, h1) = w.commit(common::meta("test://dedup")).await.unwrap();
    assert_eq!(h1.stats.new_chunks, 1, "50 identical values are one chunk");
    let mut w = repo.writer().await.unwrap();
    w.add("other", b"{}", None, &value).await.unwrap();
    let (_, h2) = w.commit(common::meta("test://dedup")).await.unwrap();
    assert_eq!(
        h2.stats.new_chunks, 0,
        "a later snapshot stores no new chunk for known content"
    );
}

#[tokio::test]
async fn incremental_lookup_skips_known_items() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, repo) = common::local_repo(dir.path()).await;
    let mut w = repo.writer().await.unwrap();
    w.add("a/1", b"m", Some("scw/a/1/2026-01-01"), b"value-one")
        .await
        .unwrap();
    w.commit(common::meta("test://inc")).await.unwrap();
    drop(repo);
    // Reopen with the cache deleted: the lookup is rebuilt from the repository.
    std::fs::remove_dir_all(dir.path().join("cache")).unwrap();
    let repo = Repository::open(
        backend,
        common::PW,
        common::opts(Some(&dir.path().join("cache"))),
    )
    .await
    .unwrap();
    repo.prepare_incremental().await.unwrap();
    let known = repo
        .known_item("scw/a/1/2026-01-01")
        .unwrap()
        .expect("known after rebuild");
    assert_eq!(known.size, 9);
    assert!(repo.known_item("scw/a/1/2026-02-02").unwrap().is_none());
    let mut w = repo.writer().await.unwrap();
    w.add_known("a/1", b"m", Some("scw/a/1/2026-01-01"), &known)
        .unwrap();
    let (_, h) = w.commit(common::meta("test://inc")).await.unwrap();
    assert_eq!(
        (
            h.stats.reused_entries,
            h.stats.new_chunks,
            h.stats.uploaded_bytes
        ),
        (1, 0, 0),
        "nothing but trees may be new"
    );
}

/// Entries past the writer's memory budget wait in sealed runs on a temporary file: the snapshot
/// is the same, tree for tree, as one written with everything in memory (so an unchanged run
/// still stores no new tree), and every entry reads back.
#[tokio::test]
async fn a_spilled_writer_commits_the_same_trees_as_one_in_memory() {
    let backend: Arc<dyn Backend> = Arc::new(ObjectStoreBackend::memory());
    let repo = Repository::init(backend, common::PW, common::opts(None))
        .await
        .unwrap();
    // 3 000 records in an order far from path order.
    let paths: Vec<String> = (0..3000u32)
        .map(|i| format!("proj/s{:05}/versions/{}", (i * 7919) % 3000, i % 3))
        .collect();
    let mut headers = Vec::new();
    for budget in [usize::MAX, 4096] {
        let mut w = repo.writer().await.unwrap();
        w.set_memory_budget(budget);
        for p in &paths {
            w.add(p, p.as_bytes(), Some(p), p.as_bytes()).await.unwrap();
        }
        let spilled = w.spilled_runs();
        assert_eq!(spilled > 10, budget == 4096, "{spilled} runs");
        headers.push(w.commit(common::meta("test://spill")).await.unwrap().1);
    }
    assert_eq!(headers[0].trees, headers[1].trees);
    assert_eq!(headers[1].stats.new_chunks, 0);
    let entries = repo.entries(&headers[1]).await.unwrap();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(
        entries.iter().map(|e| e.path.clone()).collect::<Vec<_>>(),
        sorted
    );
    for e in entries.iter().step_by(97) {
        assert_eq!(&repo.read_content(e).await.unwrap()[..], e.path.as_bytes());
    }
}
