//! AWS through the engine, on moto (SECRETSNAP_TEST_MOTO, set by tests/run.sh): a region backed up
//! into a repository and restored into another region keeps every VersionId, staging label, value,
//! tag and description, and restoring again changes nothing; then AWS → Scaleway emulator → AWS,
//! with the mapping's losses listed in the reports and the AWS fields coming back intact.

mod common;

use secretsnap::engine::{backup, restore_snapshot, BackupOptions, Silent};
use secretsnap_aws::{fixtures, AwsDestination, AwsSource};
use secretsnap_core::conformance::read_all;
use secretsnap_core::{ConflictMode, Filter, RestoreOptions};
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{
    Client, ClientOptions, Credentials, ScalewayDestination, ScalewaySource,
};

fn under(prefix: &str) -> Filter {
    Filter {
        path_prefix: Some(format!("/{prefix}")),
        read_disabled: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn aws_backup_restores_into_another_region_and_through_scaleway() {
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let src = fixtures::client("eu-west-1", &url).await;
    fixtures::seed(&src, "eng").await.unwrap();
    let source = AwsSource::new(src.clone());
    let (original, _) = read_all(&source, &under("eng")).await;
    let repo = common::memory_repo().await;
    let opts = BackupOptions {
        filter: under("eng"),
        environment: Some("production".into()),
        concurrency: 4,
        ..Default::default()
    };
    let first = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    let snap = first.snapshot.unwrap();

    // Incremental: VersionIds are immutable, so nothing is read again.
    let second = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert_eq!(second.values_read, 0);
    assert_eq!(second.values_reused, first.values_read);

    // Into another region.
    let west2 = fixtures::client("eu-west-2", &url).await;
    let (_, report) = restore_snapshot(
        &repo,
        &snap,
        &AwsDestination::new(west2.clone()),
        &RestoreOptions::default(),
        false,
        |_| true,
        &Silent,
    )
    .await
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let (restored, _) = read_all(&AwsSource::new(west2.clone()), &under("eng")).await;
    assert_eq!(fixtures::shape(&original), fixtures::shape(&restored));
    let append = RestoreOptions {
        conflict: ConflictMode::Append,
        ..Default::default()
    };
    let (_, again) = restore_snapshot(
        &repo,
        &snap,
        &AwsDestination::new(west2),
        &append,
        false,
        |_| true,
        &Silent,
    )
    .await
    .unwrap();
    assert_eq!(again.created_secrets + again.created_versions, 0);

    // AWS → Scaleway → AWS.
    let emu = Emulator::start(Config::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let scw = Client::new(
        Credentials::new("t", None, Some("fr-par"), Some(&emu.url())),
        "fr-par",
        ClientOptions::default(),
    )
    .unwrap();
    let project = "cccccccc-3333-4000-8000-00000000000c";
    let (_, to_scw) = restore_snapshot(
        &repo,
        &snap,
        &ScalewayDestination::new(scw.clone(), project),
        &RestoreOptions::default(),
        false,
        |_| true,
        &Silent,
    )
    .await
    .unwrap();
    assert!(to_scw.failed.is_empty(), "{:?}", to_scw.failed);
    for loss in ["alias/fixture-key", "resource policy", "creation dates"] {
        assert!(
            to_scw.notes.iter().any(|n| n.contains(loss)),
            "the report lists the loss {loss:?}: {:#?}",
            to_scw.notes
        );
    }
    let scw_source = ScalewaySource::new(scw, project);
    let (in_scw, _) = read_all(&scw_source, &under("eng")).await;
    let db = in_scw.iter().find(|s| s.name == "db-password").unwrap();
    assert_eq!(db.kind, "key_value", "JSON objects become key_value");
    assert_eq!(
        db.versions
            .iter()
            .filter(|v| v.status == "disabled")
            .count(),
        1,
        "the deprecated version is kept disabled: {:?}",
        db.versions
    );
    let signing = in_scw.iter().find(|s| s.name == "signing-key").unwrap();
    assert_eq!(signing.kind, "opaque", "binary becomes opaque");
    let back = backup(
        &repo,
        &scw_source,
        &BackupOptions {
            filter: under("eng"),
            concurrency: 4,
            ..Default::default()
        },
        &Silent,
    )
    .await
    .unwrap();
    assert!(back.failed.is_empty(), "{:?}", back.failed);
    let west3 = fixtures::client("eu-west-3", &url).await;
    let (_, home) = restore_snapshot(
        &repo,
        &back.snapshot.unwrap(),
        &AwsDestination::new(west3.clone()),
        &RestoreOptions::default(),
        false,
        |_| true,
        &Silent,
    )
    .await
    .unwrap();
    assert!(home.failed.is_empty(), "{:?}", home.failed);
    let (returned, _) = read_all(&AwsSource::new(west3), &under("eng")).await;
    assert_eq!(
        fixtures::shape(&original),
        fixtures::shape(&returned),
        "VersionIds, labels, values, tags and descriptions survive AWS → Scaleway → AWS"
    );
    let binary = returned.iter().find(|s| s.name == "signing-key").unwrap();
    assert_eq!(binary.kind, "binary");
}
