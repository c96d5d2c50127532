//! The backend conformance suite against every backend: local directory and memory always, S3
//! when `SECRETSNAP_TEST_S3` names a bucket URL on a test server (`.ci/run` starts moto and sets
//! it).

use std::sync::Arc;

use secretsnap_store::backend::{
    conformance, open_url, Backend, LocalBackend, ObjectStoreBackend, S3Options,
};

#[tokio::test]
async fn local_directory_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run(Arc::new(LocalBackend::new(dir.path())), "local").await;
    assert!(
        LocalBackend::new(dir.path())
            .leftovers()
            .await
            .unwrap()
            .is_empty(),
        "no temp files after clean writes"
    );
}

#[tokio::test]
async fn memory_conforms() {
    conformance::run(Arc::new(ObjectStoreBackend::memory()), "memory").await;
}

#[tokio::test]
async fn s3_conforms() {
    let Some(url) = s3_url("s3_conforms") else {
        return;
    };
    let backend = open_url(
        &format!("{url}/conformance-{}", std::process::id()),
        &S3Options::default(),
    )
    .unwrap();
    conformance::run(backend, "s3").await;
}

#[tokio::test]
async fn s3_repository_round_trip() {
    let Some(url) = s3_url("s3_repository_round_trip") else {
        return;
    };
    let backend = open_url(
        &format!("{url}/repo-{}", std::process::id()),
        &S3Options::default(),
    )
    .unwrap();
    let opts = secretsnap_store::OpenOptions {
        cache_dir: None,
        kdf: Some(secretsnap_store::KdfParams::insecure_fast()),
        ..Default::default()
    };
    let repo = secretsnap_store::Repository::init(backend.clone(), b"pw", opts.clone())
        .await
        .unwrap();
    let mut w = repo.writer().await.unwrap();
    w.add("x", b"{}", None, b"value on s3").await.unwrap();
    let (id, _) = w.commit(Default::default()).await.unwrap();
    let repo = secretsnap_store::Repository::open(backend, b"pw", opts)
        .await
        .unwrap();
    let e = repo
        .entries(&repo.snapshot(&id).await.unwrap().header)
        .await
        .unwrap();
    assert_eq!(&repo.read_content(&e[0]).await.unwrap()[..], b"value on s3");
    assert!(repo
        .check(Some(secretsnap_store::Subset::All))
        .await
        .unwrap()
        .ok());
}

/// The test bucket URL, or None with a clear SKIPPED line; `tests/run.sh` sets
/// SECRETSNAP_REQUIRE_SERVERS so a missing server fails there instead of skipping.
fn s3_url(test: &str) -> Option<String> {
    match std::env::var("SECRETSNAP_TEST_S3") {
        Ok(u) => Some(u),
        Err(_) if std::env::var("SECRETSNAP_REQUIRE_SERVERS").is_ok() => {
            panic!("{test}: SECRETSNAP_TEST_S3 unset")
        }
        Err(_) => {
            eprintln!(
                "SKIPPED {test}: SECRETSNAP_TEST_S3 is not set (bash tests/run.sh starts \
             moto and sets it)"
            );
            None
        }
    }
}
