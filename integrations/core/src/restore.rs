//! The restore loop: the destination surveys what it holds once, then per secret
//! `portable::adapt` (a secret from another provider, in the target's terms) and
//! `Destination::plan` from that state, then (unless a dry run) `Destination::apply`, gathered
//! into one plan and one report in the input's order. Secrets proceed in parallel (a secret's own
//! writes stay in order inside `apply`), so a restore runs at the destination's rate limit, not at
//! its latency. The input is a stream (`restore_stream`): a restore from a repository plans and
//! writes the first secrets while later ones are still being read. `restore`, `clone`, drills,
//! the Plakar exporter and the conformance suite all run this loop.

use std::time::Instant;

use futures::stream::{self, StreamExt};

use crate::connector::Destination;
use crate::model::Secret;
use crate::plan::{Action, Applied, Plan, PlanItem, Report, RestoreOptions};
use crate::ItemFailure;

/// Secrets planned and applied at once. The client's rate limit and concurrency bound the
/// requests; this only keeps enough secrets in flight to use them.
pub const SECRETS_IN_FLIGHT: usize = 16;

/// Plans and applies every secret; `dry_run` only plans.
pub async fn restore_all(
    dest: &dyn Destination,
    secrets: &[Secret],
    opts: &RestoreOptions,
    dry_run: bool,
) -> (Plan, Report) {
    restore_each(dest, secrets, opts, dry_run, &|_| {}).await
}

/// What happened to one secret.
enum Outcome {
    Unplanned(ItemFailure),
    Planned(PlanItem, Option<Result<Applied, ItemFailure>>),
}

async fn one(
    dest: &dyn Destination,
    s: &Secret,
    opts: &RestoreOptions,
    dry_run: bool,
    done: &(dyn Fn(&str) + Send + Sync),
) -> Outcome {
    // A secret from another provider is rewritten into the target's terms first; what does not
    // carry over is noted on its plan item.
    let target = dest.capabilities();
    let origin = s.location.as_ref().and_then(|l| opts.origin(&l.provider));
    let (adapted, mapping_notes) = crate::portable::adapt(s, origin, &target);
    let s: &Secret = &adapted;
    let item = match dest.plan(s, opts).await {
        Ok(mut i) => {
            i.notes.extend(mapping_notes);
            i
        }
        Err(f) => {
            done(&s.full_name());
            return Outcome::Unplanned(f);
        }
    };
    let applied = match &item.action {
        Action::Skip { .. } | Action::Fail { .. } => None,
        _ if dry_run => None,
        _ => Some(dest.apply(&item, s, opts).await),
    };
    done(&item.secret);
    Outcome::Planned(item, applied)
}

/// `restore_all`, calling `done` with each secret's `path/name` once it is handled.
pub async fn restore_each(
    dest: &dyn Destination,
    secrets: &[Secret],
    opts: &RestoreOptions,
    dry_run: bool,
    done: &(dyn Fn(&str) + Send + Sync),
) -> (Plan, Report) {
    // Owned copies: a stream of `&Secret` makes the loop's future `Send` only for one lifetime,
    // which callers that spawn it (the Plakar exporter) cannot prove.
    let input = stream::iter(secrets.iter().cloned().map(Ok));
    restore_stream(dest, input, secrets.len(), opts, dry_run, done).await
}

/// The restore loop over secrets as they arrive: `secrets` yields each secret (with its values,
/// unless a dry run) or the failure that kept it from being read, and is polled only as fast as
/// the destination takes them, so a producer reading values ahead stays bounded. `expected` is
/// how many secrets will come (the destination's survey weighs a listing against lookups).
pub async fn restore_stream<S>(
    dest: &dyn Destination,
    secrets: S,
    expected: usize,
    opts: &RestoreOptions,
    dry_run: bool,
    done: &(dyn Fn(&str) + Send + Sync),
) -> (Plan, Report)
where
    S: futures::Stream<Item = Result<Secret, ItemFailure>> + Send,
{
    let started = Instant::now();
    let mut plan = Plan {
        target: dest.location().url(),
        items: Vec::new(),
    };
    let mut report = Report {
        target: plan.target.clone(),
        ..Default::default()
    };
    if let Err(e) = dest.survey(expected, opts).await {
        // Not fatal: each plan then looks its secret up on its own.
        tracing::warn!(
            "listing {} once failed, looking up each secret: {e}",
            plan.target
        );
    }
    // Each secret moves into its own future, which owns it until it is planned and applied.
    let outcomes = secrets
        .map(|r| async move {
            match r {
                Ok(s) => one(dest, &s, opts, dry_run, done).await,
                Err(f) => {
                    done(&f.item);
                    Outcome::Unplanned(f)
                }
            }
        })
        .buffered(SECRETS_IN_FLIGHT);
    let mut outcomes = std::pin::pin!(outcomes);
    while let Some(outcome) = outcomes.next().await {
        let (item, applied) = match outcome {
            Outcome::Unplanned(f) => {
                report.failed.push(f);
                continue;
            }
            Outcome::Planned(item, applied) => (item, applied),
        };
        match &item.action {
            Action::Skip { reason } => report.skipped.push(ItemFailure {
                item: item.secret.clone(),
                reason: reason.clone(),
            }),
            Action::Fail { reason } => report.failed.push(ItemFailure {
                item: item.secret.clone(),
                reason: reason.clone(),
            }),
            _ => match applied {
                None => {}
                Some(Ok(applied)) => {
                    report.created_secrets += applied.created_secret as usize;
                    report.created_versions += applied.versions.len();
                    report.failed.extend(applied.failed.iter().cloned());
                    report.notes.extend(
                        applied
                            .notes
                            .iter()
                            .map(|n| format!("{}: {n}", item.secret)),
                    );
                    report.applied.insert(item.secret.clone(), applied);
                }
                Some(Err(f)) => report.failed.push(f),
            },
        }
        report
            .notes
            .extend(item.notes.iter().map(|n| format!("{}: {n}", item.secret)));
        plan.items.push(item);
    }
    report.api_calls = dest.calls();
    report.seconds = started.elapsed().as_secs_f64();
    (plan, report)
}
