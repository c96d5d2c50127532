//! Restores stream (issue 24, item 6): a snapshot spread over many trees restores whole, reading
//! each tree once and each value once; a dry run reads the trees and no value, writes nothing,
//! and plans what the real restore then does.

mod common;

use std::sync::Arc;
use std::time::Duration;

use secretsnap::engine::{backup, load_secrets, restore_snapshot, BackupOptions, Silent};
use secretsnap_core::conformance::{compare, read_all};
use secretsnap_core::{Action, Filter, RestoreOptions};
use secretsnap_scaleway::{ScalewayDestination, ScalewaySource};
use secretsnap_store::backend::{Backend, Metered, ObjectStoreBackend};
use secretsnap_store::{KdfParams, OpenOptions, Repository};

const A: &str = "aaaaaaaa-5555-4000-8000-00000000000a";
const B: &str = "bbbbbbbb-5555-4000-8000-00000000000b";

fn opts() -> OpenOptions {
    OpenOptions {
        cache_dir: None,
        kdf: Some(KdfParams::insecure_fast()),
        ..Default::default()
    }
}

#[tokio::test]
async fn dry_run_reads_no_value_and_the_restore_reads_each_once() {
    let emu = common::unlimited_emulator().await;
    emu.seed("fr-par", A, 150, 3);
    let objects: Arc<dyn Backend> = Arc::new(ObjectStoreBackend::memory());
    let snap = {
        let repo = Repository::init(objects.clone(), b"pw", opts())
            .await
            .unwrap();
        let r = backup(
            &repo,
            &ScalewaySource::new(common::unpaced_client(&emu), A),
            &BackupOptions::default(),
            &Silent,
        )
        .await
        .unwrap();
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        r.snapshot.unwrap()
    };
    // Opened afresh, as on another host: nothing cached.
    let counting = Arc::new(Metered::new(objects, Duration::ZERO));
    let repo = Repository::open(counting.clone(), b"pw", opts())
        .await
        .unwrap();
    let header = repo.snapshot(&snap).await.unwrap().header;
    let trees = header.trees.len() as u64;
    assert!(trees > 3, "the snapshot spans several trees ({trees})");
    let backed_up = load_secrets(&repo, &snap, |_| true).await.unwrap();
    let values = backed_up
        .iter()
        .flat_map(|s| &s.versions)
        .filter(|v| v.not_read.is_none())
        .count() as u64;
    assert!(values > 150);

    let dest = ScalewayDestination::new(common::unpaced_client(&emu), B);
    let every = RestoreOptions::default();
    let before = counting.ranges();
    let (planned, dry) = restore_snapshot(&repo, &snap, &dest, &every, true, |_| true, &Silent)
        .await
        .unwrap();
    assert_eq!(
        counting.ranges() - before,
        trees,
        "a dry run reads each tree once and no value"
    );
    assert!(dry.failed.is_empty(), "{:?}", dry.failed);
    assert_eq!(dry.created_secrets + dry.created_versions, 0);
    let (at_b, _) = read_all(
        &ScalewaySource::new(common::unpaced_client(&emu), B),
        &Filter::default(),
    )
    .await;
    assert!(at_b.is_empty(), "a dry run writes nothing");

    let before = counting.ranges();
    let (plan, report) = restore_snapshot(&repo, &snap, &dest, &every, false, |_| true, &Silent)
        .await
        .unwrap();
    assert_eq!(
        counting.ranges() - before,
        trees + values,
        "the restore reads each tree once and each value once (one chunk each)"
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.created_secrets, backed_up.len());
    // The dry run planned exactly what the restore did, secret by secret, version by version.
    let steps = |p: &secretsnap_core::Plan| -> Vec<(String, usize)> {
        p.items
            .iter()
            .map(|i| match &i.action {
                Action::Create { steps, .. } => (i.secret.clone(), steps.len()),
                other => panic!("{}: {other:?}", i.secret),
            })
            .collect()
    };
    assert_eq!(steps(&planned), steps(&plan));
    assert_eq!(
        plan.items
            .iter()
            .map(|i| i.notes.clone())
            .collect::<Vec<_>>(),
        planned
            .items
            .iter()
            .map(|i| i.notes.clone())
            .collect::<Vec<_>>()
    );
    let (restored, _) = read_all(
        &ScalewaySource::new(common::unpaced_client(&emu), B),
        &Filter {
            read_disabled: true,
            ..Default::default()
        },
    )
    .await;
    let diffs = compare(&backed_up, &restored);
    assert!(diffs.is_empty(), "{diffs:#?}");

    // A filtered restore reads only the values of the secrets it keeps.
    let one = backed_up[backed_up.len() / 2].full_name();
    let one_values = backed_up[backed_up.len() / 2]
        .versions
        .iter()
        .filter(|v| v.not_read.is_none())
        .count() as u64;
    let before = counting.ranges();
    let (plan, _) = restore_snapshot(
        &repo,
        &snap,
        &dest,
        &every,
        false,
        |s| s.full_name() == one,
        &Silent,
    )
    .await
    .unwrap();
    assert_eq!(plan.items.len(), 1);
    assert_eq!(counting.ranges() - before, trees + one_values);
}
