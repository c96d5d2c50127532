//! The connector conformance suite (feature `testing`): every connector's tests call
//! `round_trip` with a source location A (seeded by the test), a destination location B (empty)
//! and a source reading B. It backs A up in memory, restores into B, reads B back and compares
//! every settable field, version order, status, description and value (`verify::compare`); then
//! restores again and requires that nothing is created. It runs the production loops
//! (`fetch::read_all`, `restore::restore_all`), never copies of them.

use crate::connector::{Destination, Filter, Source};
use crate::model::Secret;
use crate::plan::{ConflictMode, Report, RestoreOptions};
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
        deletion_requested_at: crate::model::parse_time("2026-01-01T00:00:00Z"),
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

/// A secret of the same name that the target is deleting is left alone whatever the conflict
/// mode, and its item fails saying so (`plan::deleting_at_target`): one secret is restored, then
/// `schedule_deletion` (the caller's, through the provider's API) schedules the deletion of what
/// was created (its target id), then it is planned and restored again in every mode.
pub async fn refuses_what_the_target_is_deleting<F, Fut>(
    dest: &dyn Destination,
    schedule_deletion: F,
) where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let s = probe(
        dest,
        "/conformance-deleting",
        &format!("target-deleting-{nanos:x}"),
        &[b"one", b"two"],
    );
    let (_, first) = crate::restore::restore_all(
        dest,
        std::slice::from_ref(&s),
        &RestoreOptions::default(),
        false,
    )
    .await;
    assert_eq!(first.created_secrets, 1, "{first:?}");
    let target = first
        .applied
        .values()
        .next()
        .expect("the restore says what it created")
        .target_id
        .clone();
    schedule_deletion(target).await;
    for conflict in [ConflictMode::Skip, ConflictMode::Fail, ConflictMode::Append] {
        let opts = RestoreOptions {
            conflict,
            ..Default::default()
        };
        // A dry run: the production loop, the destination's survey of the target included.
        let (_, report) =
            crate::restore::restore_all(dest, std::slice::from_ref(&s), &opts, true).await;
        let reasons: Vec<&str> = report.failed.iter().map(|f| f.reason.as_str()).collect();
        assert!(
            reasons.len() == 1 && reasons[0].starts_with("scheduled for deletion at the target"),
            "{conflict:?}: a secret the target is deleting: {report:?}"
        );
    }
    let append = RestoreOptions {
        conflict: ConflictMode::Append,
        ..Default::default()
    };
    let (_, again) =
        crate::restore::restore_all(dest, std::slice::from_ref(&s), &append, false).await;
    assert_eq!(
        again.created_secrets + again.created_versions,
        0,
        "{again:?}"
    );
    assert_eq!(again.failed.len(), 1, "{again:?}");
}

/// A secret of `dest`'s own provider for the rule checks: under `folder`, one version per value,
/// the newest current. Version ids the provider accepts: revisions where versions are numbered,
/// 32-character tokens where they carry labels.
fn probe(dest: &dyn Destination, folder: &str, name: &str, values: &[&[u8]]) -> Secret {
    let caps = dest.capabilities();
    let versions = values
        .iter()
        .enumerate()
        .map(|(i, value)| crate::model::Version {
            id: if caps.labels {
                format!("{:032x}", i + 1)
            } else {
                (i + 1).to_string()
            },
            labels: match caps.current_label {
                Some(current) if i + 1 == values.len() => vec![current.into()],
                _ => vec![],
            },
            payload: crate::Payload::Bytes(zeroize::Zeroizing::new(value.to_vec())),
            ..Default::default()
        })
        .collect();
    Secret {
        location: Some(dest.location()),
        id: format!("conformance-{name}"),
        name: name.into(),
        path: folder.into(),
        kind: caps.secret_types[0].into(),
        versions,
        ..Default::default()
    }
}

/// Every rule in core (`plan::ruled_out`, `plan::on_conflict`, dry runs) against `dest`, which
/// must be writable and hold nothing under `/conformance-rules-*`: a secret managed by another
/// service is skipped unless asked; a value larger than the target holds fails the secret whole;
/// a dry run writes nothing; a secret already there is skipped or failed by name, or gets only
/// the versions it lacks, as the conflict mode says.
pub async fn rules(dest: &dyn Destination) {
    use crate::plan::{Action, ConflictMode};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let folder = format!("/conformance-rules-{nanos}");
    let run = |s: &Secret, conflict, dry_run| {
        let opts = RestoreOptions {
            conflict,
            ..Default::default()
        };
        let s = s.clone();
        async move { restore_all(dest, std::slice::from_ref(&s), &opts, dry_run).await }
    };

    let mut managed = probe(dest, &folder, "managed", &[b"managed value"]);
    managed.used_by = vec!["conformance-service".into()];
    let (_, r) = run(&managed, ConflictMode::Skip, false).await;
    assert_eq!(r.created_secrets, 0, "{r:?}");
    assert!(
        r.skipped.len() == 1
            && r.skipped[0]
                .reason
                .starts_with("managed by conformance-service"),
        "a managed secret is skipped: {r:?}"
    );

    let max = dest.capabilities().max_value_size;
    let large = vec![b'x'; max + 1];
    let (_, r) = run(
        &probe(dest, &folder, "too-large", &[b"fits", &large]),
        ConflictMode::Skip,
        false,
    )
    .await;
    assert_eq!(r.created_secrets + r.created_versions, 0, "{r:?}");
    assert!(
        r.failed.len() == 1 && r.failed[0].reason.contains(&format!("at most {max} bytes")),
        "a value too large fails the secret whole: {r:?}"
    );

    let one = probe(dest, &folder, "conflict", &[b"first"]);
    let (plan, r) = run(&one, ConflictMode::Skip, true).await;
    assert!(
        matches!(plan.items[0].action, Action::Create { .. }),
        "{plan:?}"
    );
    assert_eq!(
        r.created_secrets + r.created_versions,
        0,
        "a dry run writes nothing"
    );
    let (_, r) = run(&one, ConflictMode::Skip, false).await;
    assert_eq!(
        (r.created_secrets, r.created_versions),
        (1, 1),
        "after the dry run the secret was still to create: {r:?}"
    );

    let (_, r) = run(&one, ConflictMode::Skip, false).await;
    assert!(
        r.skipped.len() == 1
            && r.skipped[0]
                .reason
                .starts_with("already exists at the destination"),
        "skip: {r:?}"
    );
    let (_, r) = run(&one, ConflictMode::Fail, false).await;
    assert!(
        r.failed.len() == 1
            && r.failed[0]
                .reason
                .starts_with("already exists at the destination"),
        "fail: {r:?}"
    );
    let two = probe(dest, &folder, "conflict", &[b"first", b"second"]);
    let (_, r) = run(&two, ConflictMode::Append, false).await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(
        (r.created_secrets, r.created_versions),
        (0, 1),
        "append adds only the missing version: {r:?}"
    );
}
