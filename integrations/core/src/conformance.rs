//! The connector conformance suite: every connector's tests call `round_trip` with a source
//! location A (seeded by the test), a destination location B (empty) and a source reading B. It
//! backs A up in memory, restores into B, reads B back and compares every settable field, version
//! order, status, description and value; then restores again and requires that nothing is created.
//! `read_all` and `restore_all` are the same loops the engine runs.

use crate::connector::{Destination, Filter, Source};
use crate::model::{Payload, Secret};
use crate::plan::{Action, Report, RestoreOptions};

/// Lists and fetches every matching secret (values included), oldest version first.
pub async fn read_all(src: &dyn Source, filter: &Filter) -> (Vec<Secret>, Vec<crate::ItemFailure>) {
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for s in src.list(filter).await.expect("list secrets") {
        match src.fetch(s, filter, &crate::NothingKnown).await {
            Ok(s) => out.push(s),
            Err(f) => failures.push(f),
        }
    }
    out.sort_by_key(Secret::full_name);
    (out, failures)
}

/// Plans and applies every secret; `dry_run` only plans.
pub async fn restore_all(
    dest: &dyn Destination,
    secrets: &[Secret],
    opts: &RestoreOptions,
    dry_run: bool,
) -> (crate::Plan, Report) {
    restore_each(dest, secrets, opts, dry_run, &|_| {}).await
}

/// `restore_all`, calling `done` with each secret's `path/name` once it is handled.
pub async fn restore_each(
    dest: &dyn Destination,
    secrets: &[Secret],
    opts: &RestoreOptions,
    dry_run: bool,
    done: &(dyn Fn(&str) + Send + Sync),
) -> (crate::Plan, Report) {
    let mut plan = crate::Plan {
        target: dest.location().url(),
        items: Vec::new(),
    };
    let mut report = Report {
        target: plan.target.clone(),
        ..Default::default()
    };
    for s in secrets {
        let item = match dest.plan(s, opts).await {
            Ok(i) => i,
            Err(f) => {
                report.failed.push(f);
                done(&s.full_name());
                continue;
            }
        };
        match &item.action {
            Action::Skip { reason } => report.skipped.push(crate::ItemFailure {
                item: item.secret.clone(),
                reason: reason.clone(),
            }),
            Action::Fail { reason } => report.failed.push(crate::ItemFailure {
                item: item.secret.clone(),
                reason: reason.clone(),
            }),
            _ if dry_run => {}
            _ => match dest.apply(&item, s, opts).await {
                Ok(applied) => {
                    report.created_secrets += applied.created_secret as usize;
                    report.created_versions += applied.versions.len();
                    report.applied.insert(item.secret.clone(), applied);
                }
                Err(f) => report.failed.push(f),
            },
        }
        report
            .notes
            .extend(item.notes.iter().map(|n| format!("{}: {n}", item.secret)));
        done(&item.secret);
        plan.items.push(item);
    }
    report.api_calls = dest.calls();
    (plan, report)
}

fn restorable(s: &Secret) -> Vec<(&str, &str, Vec<u8>)> {
    s.versions
        .iter()
        .filter_map(|v| match &v.payload {
            Payload::Bytes(b) if v.status == "enabled" || v.status == "disabled" => {
                Some((v.status.as_str(), v.description.as_str(), b.to_vec()))
            }
            _ => None,
        })
        .collect()
}

/// Differences between what was backed up and what the destination holds, by secret.
pub fn compare(a: &[Secret], b: &[Secret]) -> Vec<String> {
    let mut diffs = Vec::new();
    let wanted: Vec<&Secret> = a.iter().filter(|s| s.used_by.is_empty()).collect();
    if wanted.len() != b.len() {
        diffs.push(format!(
            "{} secrets restorable at the source, {} at the destination",
            wanted.len(),
            b.len()
        ));
    }
    for s in wanted {
        let Some(t) = b.iter().find(|t| t.full_name() == s.full_name()) else {
            diffs.push(format!("{}: missing at the destination", s.full_name()));
            continue;
        };
        let fields = [
            ("type", s.kind.clone(), t.kind.clone()),
            ("description", s.description.clone(), t.description.clone()),
            ("tags", format!("{:?}", s.tags), format!("{:?}", t.tags)),
            (
                "protected",
                s.protected.to_string(),
                t.protected.to_string(),
            ),
            (
                "ephemeral policy",
                format!("{:?}", s.ephemeral_policy),
                format!("{:?}", t.ephemeral_policy),
            ),
        ];
        for (name, x, y) in fields.into_iter().filter(|(_, x, y)| x != y) {
            diffs.push(format!("{}: {name} {x:?} != {y:?}", s.full_name()));
        }
        let (va, vb) = (restorable(s), restorable(t));
        let keep = va.len().saturating_sub(20);
        let va = &va[keep..]; // a 20-version quota keeps the newest 20
        if va.len() != vb.len() {
            diffs.push(format!(
                "{}: {} versions restorable, {} restored",
                s.full_name(),
                va.len(),
                vb.len()
            ));
        }
        for (i, (x, y)) in va.iter().zip(vb.iter()).enumerate() {
            if x.0 != y.0 || x.1 != y.1 {
                diffs.push(format!(
                    "{} version #{i}: status/description {:?}/{:?} != {:?}/{:?}",
                    s.full_name(),
                    x.0,
                    x.1,
                    y.0,
                    y.1
                ));
            }
            if x.2 != y.2 {
                diffs.push(format!("{} version #{i}: values differ", s.full_name()));
            }
        }
    }
    diffs
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
    let diffs = compare(&backup, &restored);
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
        compare(&backup, &again).is_empty(),
        "the second restore changed the destination"
    );
    RoundTrip {
        secrets: backup.len(),
        versions_restored: first.created_versions,
        first,
        second,
    }
}
