//! The engine against the Scaleway emulator and an in-memory repository: backup of project A in
//! fr-par → restore into project B in nl-ams → the two compare equal field by field; restore again
//! creates nothing; a second backup of the unchanged project reads zero values and adds no data
//! beyond the snapshot itself.

mod common;

use secretsnap::engine::{backup, load_secrets, restore_snapshot, BackupOptions, Silent};
use secretsnap_core::conformance::{compare, read_all};
use secretsnap_core::{ConflictMode, Filter, RestoreOptions};
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{
    Client, ClientOptions, Credentials, ScalewayDestination, ScalewaySource,
};

const A: &str = "aaaaaaaa-1111-4000-8000-00000000000a";
const B: &str = "bbbbbbbb-1111-4000-8000-00000000000b";

fn client(emu: &Emulator, region: &str) -> Client {
    Client::new(
        Credentials::new("t", None, Some(region), Some(&emu.url())),
        region,
        ClientOptions::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn backup_restore_and_incremental() {
    let emu = Emulator::start(Config::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    emu.seed("fr-par", A, 18, 3);
    let repo = common::memory_repo().await;
    let source = ScalewaySource::new(client(&emu, "fr-par"), A);
    let opts = BackupOptions {
        filter: Filter {
            read_disabled: true,
            ..Default::default()
        },
        environment: Some("production".into()),
        data_classes: vec!["critical".into()],
        concurrency: 4,
        ..Default::default()
    };
    let first = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert_eq!(
        (first.secrets, first.versions, first.values_read),
        (18, 54, 54)
    );
    let snap = first.snapshot.unwrap();

    let dest = ScalewayDestination::new(client(&emu, "nl-ams"), B);
    let (_, report) = restore_snapshot(
        &repo,
        &snap,
        &dest,
        &RestoreOptions::default(),
        false,
        |_| true,
        &Silent,
    )
    .await
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.created_secrets, 18);
    let backed_up = load_secrets(&repo, &snap, |_| true).await.unwrap();
    let (restored, _) = read_all(
        &ScalewaySource::new(client(&emu, "nl-ams"), B),
        &Filter {
            read_disabled: true,
            ..Default::default()
        },
    )
    .await;
    let diffs = compare(&backed_up, &restored);
    assert!(diffs.is_empty(), "{diffs:#?}");

    let append = RestoreOptions {
        conflict: ConflictMode::Append,
        ..Default::default()
    };
    let (_, again) = restore_snapshot(&repo, &snap, &dest, &append, false, |_| true, &Silent)
        .await
        .unwrap();
    assert_eq!(
        again.created_secrets + again.created_versions,
        0,
        "restore again creates nothing"
    );

    // Values are immutable: the next backups read none, disabled versions included.
    let reads_before = emu.accesses();
    let plain = BackupOptions {
        filter: Filter::default(),
        ..opts
    };
    let second = backup(&repo, &source, &plain, &Silent).await.unwrap();
    assert_eq!(
        emu.accesses() - reads_before,
        0,
        "an unchanged project needs no value reads"
    );
    assert_eq!((second.values_read, second.values_reused), (0, 54));
    assert_eq!(second.parent, Some(snap));
    assert_eq!(second.new_bytes, 0, "no new content");
    // The first run's --read-disabled touched those versions' updated_at; from now on nothing
    // changes.
    let third = backup(&repo, &source, &plain, &Silent).await.unwrap();
    assert_eq!((third.values_read, third.new_bytes), (0, 0));
    assert_eq!(
        third.uploaded_bytes, 0,
        "no new packs: unchanged trees are deduplicated; only the snapshot object is new"
    );
}
