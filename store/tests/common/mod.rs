//! Shared helpers for the store's integration tests: fast key derivation and fresh repositories.
#![allow(dead_code)]

pub mod interleave;

use std::sync::Arc;

use secretsnap_store::backend::{Backend, LocalBackend};
use secretsnap_store::{KdfParams, OpenOptions, Repository, SnapshotMeta};

pub const PW: &[u8] = b"correct horse battery staple";

pub fn opts(cache: Option<&std::path::Path>) -> OpenOptions {
    OpenOptions {
        cache_dir: cache.map(|p| p.to_path_buf()),
        kdf: Some(KdfParams::insecure_fast()),
        ..Default::default()
    }
}

pub async fn local_repo(dir: &std::path::Path) -> (Arc<dyn Backend>, Repository) {
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.join("repo")));
    let repo = Repository::init(backend.clone(), PW, opts(Some(&dir.join("cache"))))
        .await
        .unwrap();
    (backend, repo)
}

pub fn meta(source: &str) -> SnapshotMeta {
    SnapshotMeta {
        source: source.into(),
        environment: Some("production".into()),
        data_classes: vec!["critical".into()],
        ..Default::default()
    }
}

/// Every regular file under `dir`, recursively.
pub fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out
}
