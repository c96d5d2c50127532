//! The connector conformance suite (feature `testing`): every connector's tests call
//! `round_trip` with a source location A (seeded by the test), a destination location B (empty)
//! and a source reading B. It backs A up in memory, restores into B, reads B back and compares
//! every settable field, version order, status, description and value (`verify::compare`); then
//! restores again and requires that nothing is created. It runs the production loops
//! (`fetch::read_all`, `restore::restore_all`), never copies of them.

use crate::connector::{Destination, Filter, Source};
use crate::model::Secret;
use crate::plan::{Report, RestoreOptions};
pub use crate::restore::{restore_all, restore_each};
pub use crate::verify::{compare, compare_within};

/// Lists and fetches every matching secret (values included), oldest version first; a failed
/// listing fails the test, naming the source.
pub async fn read_all(src: &dyn Source, filter: &Filter) -> (Vec<Secret>, Vec<crate::ItemFailure>) {
    crate::fetch::read_all(src, filter, 8)
        .await
        .unwrap_or_else(|e| panic!("listing {}: {e}", src.location().url()))
}

/// What `round_trip` saw.
#[derive(Debug)]
pub struct RoundTrip {
    pub secrets: usize,
    pub versions_restored: usize,
    pub first: Report,
    pub second: Report,
}

/// Backup of A → restore into B → compare → restore again creates nothing → compare again.
pub async fn round_trip(
    a: &dyn Source,
    b: &dyn Destination,
    b_reader: &dyn Source,
    filter: &Filter,
    opts: &RestoreOptions,
) -> RoundTrip {
    let (backup, failures) = read_all(a, filter).await;
    assert!(
        failures.is_empty(),
        "backup of {} failed for {failures:?}",
        a.location().url()
    );
    assert!(!backup.is_empty(), "the test must seed the source");
    let (_, first) = restore_all(b, &backup, opts, false).await;
    assert!(
        first.failed.is_empty(),
        "restore failures: {:?}",
        first.failed
    );
    let (restored, _) = read_all(b_reader, filter).await;
    let quota = b.capabilities().max_versions;
    let diffs = compare_within(&backup, &restored, quota);
    assert!(
        diffs.is_empty(),
        "destination differs from the backup:\n  {}",
        diffs.join("\n  ")
    );
    let append = RestoreOptions {
        conflict: crate::ConflictMode::Append,
        ..opts.clone()
    };
    let (plan, second) = restore_all(b, &backup, &append, false).await;
    assert_eq!(
        second.created_secrets + second.created_versions,
        0,
        "a second restore must create nothing: {plan:?}"
    );
    let (again, _) = read_all(b_reader, filter).await;
    assert!(
        compare_within(&backup, &again, quota).is_empty(),
        "the second restore changed the destination"
    );
    RoundTrip {
        secrets: backup.len(),
        versions_restored: first.created_versions,
        first,
        second,
    }
}

/// Every destination skips a secret that was scheduled for deletion at the source
/// (`plan::scheduled_for_deletion`) and writes nothing of it, on a plan and on a restore.
pub async fn skips_what_the_source_was_deleting(dest: &dyn Destination) {
    let mut version = crate::model::Version {
        id: "1".into(),
        ..Default::default()
    };
    version.not_read_because("secret scheduled for deletion");
    let s = Secret {
        location: Some(dest.location()),
        id: "conformance-being-deleted".into(),
        name: "being-deleted".into(),
        path: "/conformance".into(),
        kind: dest.capabilities().secret_types[0].into(),
        deletion_requested_at: Some("2026-01-01T00:00:00Z".into()),
        versions: vec![version],
        ..Default::default()
    };
    let (_, report) = crate::restore::restore_all(
        dest,
        std::slice::from_ref(&s),
        &RestoreOptions::default(),
        false,
    )
    .await;
    assert_eq!(report.created_secrets, 0, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(
        report.skipped.len() == 1
            && report.skipped[0]
                .reason
                .starts_with("scheduled for deletion at the source"),
        "{report:?}"
    );
}
