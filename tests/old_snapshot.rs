//! Snapshots written by an earlier release still restore, field for field (issue 24, item 1).
//! `tests/fixtures/v1/repo` is a small local repository made on 2026-12-04 by the code of that
//! day (records without a format version: format 1), from the emulator's demo project with its
//! disabled versions read; `tests/fixtures/v1/secrets.json` is what that backup read (metadata,
//! and each version's fake value in base64). The test restores the fixture's snapshot into an
//! empty project and compares what lands there with that file. `make_v1_fixture` (ignored) is
//! how the fixture was made; running it again would make a new one, not the old one.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use secretsnap::engine::{backup, restore_snapshot, BackupOptions, Silent};
use secretsnap_core::conformance::{compare, read_all};
use secretsnap_core::{Filter, Payload, RestoreOptions, Secret};
use secretsnap_scaleway::{ScalewayDestination, ScalewaySource};
use secretsnap_store::{KdfParams, OpenOptions, Repository};

const SOURCE: &str = "aaaaaaaa-6666-4000-8000-00000000000a";
const TARGET: &str = "bbbbbbbb-6666-4000-8000-00000000000b";
const PASSPHRASE: &[u8] = b"fixture passphrase v1";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn every() -> Filter {
    Filter {
        read_disabled: true,
        ..Default::default()
    }
}

/// Secrets as the fixture's `secrets.json` holds them: metadata, values in base64.
#[derive(serde::Serialize, serde::Deserialize)]
struct Recorded {
    secret: Secret,
    values: Vec<Option<String>>,
}

fn record(secrets: &[Secret]) -> Vec<Recorded> {
    let b64 = base64::engine::general_purpose::STANDARD;
    secrets
        .iter()
        .map(|s| Recorded {
            secret: s.clone(),
            values: s
                .versions
                .iter()
                .map(|v| match &v.payload {
                    Payload::Bytes(b) => Some(b64.encode(&b[..])),
                    _ => None,
                })
                .collect(),
        })
        .collect()
}

fn recorded() -> Vec<Secret> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = std::fs::read_to_string(fixture().join("secrets.json")).unwrap();
    let list: Vec<Recorded> = serde_json::from_str(&text).unwrap();
    list.into_iter()
        .map(|r| {
            let mut s = r.secret;
            // Recorded by the format-1 code: typed fields still in `extras`.
            s.upgrade();
            for (v, value) in s.versions.iter_mut().zip(r.values) {
                if let Some(value) = value {
                    v.payload = Payload::Bytes(zeroize::Zeroizing::new(b64.decode(value).unwrap()));
                }
            }
            s
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_snapshot_of_the_first_record_format_restores_field_for_field() {
    let emu = common::unlimited_emulator().await;
    // A copy: opening and restoring take locks, and the fixture stays as it was made.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture().join("repo"), &dir.path().join("repo"));
    let backend = secretsnap_store::backend::open_url(
        &dir.path().join("repo").display().to_string(),
        &Default::default(),
    )
    .unwrap();
    let repo = Repository::open(
        backend,
        PASSPHRASE,
        OpenOptions {
            cache_dir: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let list = repo.snapshots().await.unwrap();
    assert!(list.damaged.is_empty(), "{:?}", list.damaged);
    let [snap] = list.snapshots.as_slice() else {
        panic!("the fixture holds one snapshot: {:?}", list.snapshots.len());
    };
    let dest = ScalewayDestination::new(common::unpaced_client(&emu), TARGET);
    let (_, report) = restore_snapshot(
        &repo,
        &snap.id,
        &dest,
        &RestoreOptions::default(),
        false,
        |_| true,
        &Silent,
    )
    .await
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let expected = recorded();
    assert!(expected.len() >= 5, "the fixture has a project's worth");
    assert_eq!(report.created_secrets, expected.len());
    let (restored, failed) = read_all(
        &ScalewaySource::new(common::unpaced_client(&emu), TARGET),
        &every(),
    )
    .await;
    assert!(failed.is_empty(), "{failed:?}");
    let diffs = compare(&expected, &restored);
    assert!(diffs.is_empty(), "{diffs:#?}");

    // The repository predates lock-free maintenance (no margins in its config, no garbage
    // state): it gets the default margins, and maintenance runs on it without any upgrade step.
    assert_eq!(
        repo.config().gc,
        secretsnap_store::config::GcParams::default()
    );
    let run = repo
        .maintain(&secretsnap_store::MaintainOptions::default())
        .await
        .unwrap();
    assert_eq!((run.packs_marked, run.packs_deleted), (0, 0), "{run:?}");
    let status = repo.maintenance_status().await.unwrap();
    assert_eq!(status.last_run.unwrap().snapshots, 1);
    let check = repo
        .check(Some(secretsnap_store::Subset::All))
        .await
        .unwrap();
    assert!(check.ok(), "{:?}", check.errors);
}

/// A snapshot whose records are newer than this code reads is refused, named, before anything
/// is written.
#[tokio::test]
async fn records_of_a_newer_format_are_refused_by_name() {
    use secretsnap::engine::{ErrorKind, RECORD_FORMAT};
    let repo = common::memory_repo().await;
    let w = repo.writer().await.unwrap();
    let (id, _) = w
        .commit(secretsnap_store::SnapshotMeta {
            source: format!("scaleway://fr-par/{SOURCE}"),
            format: Some(RECORD_FORMAT + 1),
            ..Default::default()
        })
        .await
        .unwrap();
    let emu = common::unlimited_emulator().await;
    let dest = ScalewayDestination::new(common::unpaced_client(&emu), TARGET);
    let opts = RestoreOptions::default();
    let err = restore_snapshot(&repo, &id, &dest, &opts, false, |_| true, &Silent)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let text = err.to_string();
    assert!(
        text.contains(&id.short()) && text.contains(&format!("format {}", RECORD_FORMAT + 1)),
        "{text}"
    );
    assert_eq!(
        emu.requests(),
        0,
        "refused before the destination was asked anything"
    );
}

/// Makes `tests/fixtures/v1` (run by hand: `cargo test --test old_snapshot -- --ignored`).
#[tokio::test]
#[ignore]
async fn make_v1_fixture() {
    let emu = common::unlimited_emulator().await;
    emu.seed_demo("fr-par", SOURCE);
    let out = fixture();
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let backend = secretsnap_store::backend::open_url(
        &out.join("repo").display().to_string(),
        &Default::default(),
    )
    .unwrap();
    let repo = Repository::init(
        backend,
        PASSPHRASE,
        OpenOptions {
            cache_dir: None,
            kdf: Some(KdfParams::insecure_fast()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let source = ScalewaySource::new(common::unpaced_client(&emu), SOURCE);
    let opts = BackupOptions {
        filter: every(),
        ..Default::default()
    };
    let r = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    let (read, failed) = read_all(&source, &every()).await;
    assert!(failed.is_empty(), "{failed:?}");
    std::fs::write(
        out.join("secrets.json"),
        serde_json::to_string_pretty(&record(&read)).unwrap(),
    )
    .unwrap();
}
