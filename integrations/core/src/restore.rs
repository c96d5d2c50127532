//! The restore loop: per secret, `Destination::plan` from the target's current state, then (unless
//! a dry run) `Destination::apply`, gathered into one plan and one report. `restore`, `clone`,
//! the Plakar exporter and the conformance suite all run this loop.

use crate::connector::Destination;
use crate::model::Secret;
use crate::plan::{Action, Plan, Report, RestoreOptions};

/// Plans and applies every secret; `dry_run` only plans.
pub async fn restore_all(
    dest: &dyn Destination,
    secrets: &[Secret],
    opts: &RestoreOptions,
    dry_run: bool,
) -> (Plan, Report) {
    restore_each(dest, secrets, opts, dry_run, &|_| {}).await
}

/// `restore_all`, calling `done` with each secret's `path/name` once it is handled.
pub async fn restore_each(
    dest: &dyn Destination,
    secrets: &[Secret],
    opts: &RestoreOptions,
    dry_run: bool,
    done: &(dyn Fn(&str) + Send + Sync),
) -> (Plan, Report) {
    let mut plan = Plan {
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
