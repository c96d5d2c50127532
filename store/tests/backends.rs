//! The backend conformance suite against every backend: local directory and memory always, S3
//! when `SECRETSNAP_TEST_S3` names a bucket URL on a test server (`.ci/run` starts moto and sets it).

use std::sync::Arc;

use secretsnap_store::backend::{conformance, open_url, Backend, LocalBackend, ObjectStoreBackend, S3Options};

#[tokio::test]
async fn local_directory_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run(Arc::new(LocalBackend::new(dir.path())), "local").await;
    assert!(LocalBackend::new(dir.path()).leftovers().await.unwrap().is_empty(), "no temp files after clean writes");
}

#[tokio::test]
async fn memory_conforms() {
    conformance::run(Arc::new(ObjectStoreBackend::memory()), "memory").await;
}

#[tokio::test]
async fn s3_conforms() {
    let Ok(url) = std::env::var("SECRETSNAP_TEST_S3") else {
        eprintln!("SKIPPED s3_conforms: SECRETSNAP_TEST_S3 is not set (the test script sets it when moto runs)");
        return;
    };
    let backend = open_url(&format!("{url}/conformance-{}", std::process::id()), &S3Options::default()).unwrap();
    conformance::run(backend, "s3").await;
}

#[tokio::test]
async fn s3_repository_round_trip() {
    let Ok(url) = std::env::var("SECRETSNAP_TEST_S3") else {
        eprintln!("SKIPPED s3_repository_round_trip: SECRETSNAP_TEST_S3 is not set");
        return;
    };
    let backend = open_url(&format!("{url}/repo-{}", std::process::id()), &S3Options::default()).unwrap();
    let opts = secretsnap_store::OpenOptions { cache_dir: None, kdf: Some(secretsnap_store::KdfParams::insecure_fast()) };
    let repo = secretsnap_store::Repository::init(backend.clone(), b"pw", opts.clone()).await.unwrap();
    let mut w = repo.writer().await.unwrap();
    w.add("x", b"{}", None, b"value on s3").await.unwrap();
    let (id, _) = w.commit(Default::default()).await.unwrap();
    let repo = secretsnap_store::Repository::open(backend, b"pw", opts).await.unwrap();
    let e = repo.entries(&repo.snapshot(&id).await.unwrap().header).await.unwrap();
    assert_eq!(&repo.read_content(&e[0]).await.unwrap()[..], b"value on s3");
    assert!(repo.check(Some(secretsnap_store::Subset::All)).await.unwrap().ok());
}
