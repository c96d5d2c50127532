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

/// A source whose listing breaks after its first page (a 5xx the retries did not outlast, a
/// dropped connection), as a backup that fetches while it lists meets it mid-run.
struct BreaksAfterFirstPage(ScalewaySource);

#[async_trait::async_trait]
impl secretsnap_core::Source for BreaksAfterFirstPage {
    fn location(&self) -> secretsnap_core::Location {
        self.0.location()
    }
    async fn list(&self, filter: &Filter) -> secretsnap_core::Result<Vec<secretsnap_core::Secret>> {
        self.0.list(filter).await
    }
    fn list_pages<'a>(&'a self, filter: &'a Filter) -> secretsnap_core::ListPages<'a> {
        use futures::StreamExt;
        let broken = futures::stream::once(async {
            Err(secretsnap_core::Error::Transport(
                "ListSecrets page 2: connection reset".into(),
            ))
        });
        self.0.list_pages(filter).take(1).chain(broken).boxed()
    }
    async fn fetch(
        &self,
        secret: secretsnap_core::Secret,
        filter: &Filter,
        known: &dyn secretsnap_core::Known,
    ) -> Result<secretsnap_core::Secret, secretsnap_core::ItemFailure> {
        self.0.fetch(secret, filter, known).await
    }
    fn calls(&self) -> u64 {
        self.0.calls()
    }
}

/// A listing that fails part way fails the backup: no snapshot of the secrets listed so far may
/// pass for the whole project, and the lock is given back.
#[tokio::test]
async fn a_listing_broken_part_way_commits_no_snapshot() {
    let config = Config {
        rate_limit: None,
        ..Default::default()
    };
    let emu = Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    emu.seed("fr-par", A, 150, 1);
    let repo = common::memory_repo().await;
    let source = BreaksAfterFirstPage(ScalewaySource::new(client(&emu, "fr-par"), A));
    let err = backup(&repo, &source, &BackupOptions::default(), &Silent)
        .await
        .expect_err("the backup must fail");
    assert!(err.to_string().contains("connection reset"), "{err}");
    assert!(repo.snapshots().await.unwrap().snapshots.is_empty());
    // The lock was released: the next (whole) backup runs and sees all 150.
    let whole = ScalewaySource::new(client(&emu, "fr-par"), A);
    let report = backup(&repo, &whole, &BackupOptions::default(), &Silent)
        .await
        .unwrap();
    assert_eq!(report.secrets, 150);
}
