//! Corruption and leak tests: a flipped byte in a pack, an index or a snapshot is named by
//! `check` and fails only the items that depend on it; no repository or cache file contains a
//! stored plaintext or its unkeyed BLAKE3/SHA-256 digest.

mod common;

use std::path::Path;

use secretsnap_store::{Repository, Subset};
use sha2::Digest;

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

async fn two_snapshots(dir: &Path) -> (secretsnap_store::Id, secretsnap_store::Id) {
    let (_, repo) = common::local_repo(dir).await;
    let mut ids = Vec::new();
    for name in ["first", "second"] {
        let mut w = repo.writer().await.unwrap();
        for i in 0..5 {
            w.add(
                &format!("{name}/{i}"),
                b"m",
                None,
                format!("{name} value {i}").as_bytes(),
            )
            .await
            .unwrap();
        }
        ids.push(w.commit(common::meta("test://damage")).await.unwrap().0);
    }
    (ids[0], ids[1])
}

async fn reopen(dir: &Path) -> Repository {
    let backend = secretsnap_store::backend::open_url(
        dir.join("repo").to_str().unwrap(),
        &Default::default(),
    )
    .unwrap();
    Repository::open(backend, common::PW, common::opts(None))
        .await
        .unwrap()
}

async fn readable(repo: &Repository, id: &secretsnap_store::Id) -> bool {
    let Ok(info) = repo.snapshot(id).await else {
        return false;
    };
    let Ok(entries) = repo.entries(&info.header).await else {
        return false;
    };
    for e in entries {
        if repo.read_content(&e).await.is_err() {
            return false;
        }
    }
    true
}

#[tokio::test]
async fn flipped_byte_in_a_pack_is_named_and_contained() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_snapshots(dir.path()).await;
    let repo = reopen(dir.path()).await;
    // The first snapshot's data pack is the oldest data pack; find the one holding "first" data.
    let info = repo.snapshot(&a).await.unwrap();
    let entry = &repo.entries(&info.header).await.unwrap()[0];
    let mut victim = None;
    for f in common::files(&dir.path().join("repo/data")) {
        let bytes = std::fs::read(&f).unwrap();
        if bytes.len() < 2000 {
            // small data packs: try flipping byte 40 and see whether entry 0 of `a` breaks
            let orig = bytes.clone();
            flip(&f, 40);
            if reopen(dir.path()).await.read_content(entry).await.is_err() {
                victim = Some(f);
                break;
            }
            std::fs::write(&f, orig).unwrap();
        }
    }
    let victim = victim.expect("a pack holding the first snapshot's data");
    let report = repo.check(Some(Subset::All)).await.unwrap();
    assert!(!report.ok());
    let name = victim
        .strip_prefix(dir.path().join("repo"))
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        report.errors.iter().all(|p| p.object == name),
        "only the pack is named: {:?}",
        report.errors
    );
    assert!(readable(&repo, &b).await, "the other snapshot still reads");
}

#[tokio::test]
async fn flipped_byte_in_an_index_is_named_and_contained() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_snapshots(dir.path()).await;
    let mut idx = common::files(&dir.path().join("repo/index"));
    idx.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
    // Break the index written by the second backup.
    let repo = reopen(dir.path()).await;
    let mut broken = None;
    for f in idx {
        let orig = std::fs::read(&f).unwrap();
        flip(&f, 100);
        let r = reopen(dir.path()).await;
        if !readable(&r, &b).await && readable(&r, &a).await {
            broken = Some(f);
            break;
        }
        std::fs::write(&f, orig).unwrap();
    }
    let broken = broken.expect("an index only the second snapshot depends on");
    let report = repo.check(None).await.unwrap();
    let name = format!("index/{}", broken.file_name().unwrap().to_string_lossy());
    assert!(
        report
            .errors
            .iter()
            .any(|p| p.object == name && p.problem.contains("authentication")),
        "{:?}",
        report.errors
    );
    assert!(
        readable(&reopen(dir.path()).await, &a).await,
        "the first snapshot still reads"
    );
}

#[tokio::test]
async fn flipped_byte_in_a_snapshot_is_named_and_contained() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_snapshots(dir.path()).await;
    flip(&dir.path().join(format!("repo/snapshots/{a}")), 60);
    let repo = reopen(dir.path()).await;
    let report = repo.check(Some(Subset::All)).await.unwrap();
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].object, format!("snapshots/{a}"));
    let list = repo.snapshots().await.unwrap();
    assert_eq!(list.damaged.len(), 1);
    assert_eq!(list.snapshots.len(), 1);
    assert!(readable(&repo, &b).await);
    assert!(!readable(&repo, &a).await);
}

#[tokio::test]
async fn no_plaintext_or_unkeyed_digest_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (_, repo) = common::local_repo(dir.path()).await;
    let secrets: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("sk_live_KNOWN_PLAINTEXT_{i:04}_{}", "x".repeat(i * 7)).into_bytes())
        .collect();
    let mut w = repo.writer().await.unwrap();
    for (i, s) in secrets.iter().enumerate() {
        w.add(
            &format!("secret-{i}"),
            b"{\"type\":\"opaque\"}",
            Some(&format!("item-{i}")),
            s,
        )
        .await
        .unwrap();
    }
    w.commit(common::meta("test://leak")).await.unwrap();
    repo.prepare_incremental().await.unwrap();
    repo.check(Some(Subset::All)).await.unwrap();
    drop(repo);
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for s in &secrets {
        needles.push(s.clone());
        needles.push(blake3::hash(s).as_bytes().to_vec());
        needles.push(blake3::hash(s).to_hex().as_bytes().to_vec());
        needles.push(sha2::Sha256::digest(s).to_vec());
        needles.push(hex::encode(sha2::Sha256::digest(s)).into_bytes());
    }
    let files = common::files(dir.path());
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().ends_with(".sqlite")),
        "the cache was written"
    );
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == &n[..]),
                "{} contains a plaintext or its digest",
                f.display()
            );
        }
    }
}
