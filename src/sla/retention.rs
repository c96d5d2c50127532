//! Retention by policy: which snapshots of each configured source its policy's `keep` rules
//! remove, and what each configured source's latest snapshot is (the scheduler's starting
//! point). Pure functions of the configuration and a repository's snapshot list; the command
//! layer opens repositories, forgets what is decided here and prints it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use secretsnap_store::{Id, SnapshotInfo};
use serde::Serialize;

use crate::engine::retention::{self, Decision};
use crate::sla::config::{Config, Policy, Source};
use crate::sla::job_id::JobId;

/// The snapshots a source wrote (those carrying its job name).
pub fn of_source(snapshots: &[SnapshotInfo], src: &Source) -> Vec<SnapshotInfo> {
    snapshots
        .iter()
        .filter(|s| s.header.meta.job.as_deref() == Some(src.job.as_str()))
        .cloned()
        .collect()
}

/// The sources kept in `repository` (all of them, or only the one named `only`) whose policy
/// has keep rules: the ones retention applies to.
pub fn sources_with_keep<'a>(
    cfg: &'a Config,
    repository: &str,
    only: Option<&str>,
) -> Vec<(&'a Source, &'a Policy)> {
    cfg.sources
        .values()
        .filter(|s| s.repository == repository && only.is_none_or(|o| o == s.name))
        .filter_map(|s| {
            cfg.policy_for(s)
                .ok()
                .flatten()
                .filter(|p| !p.keep.is_empty())
                .map(|p| (s, p))
        })
        .collect()
}

/// One retention decision, with the source and policy that made it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyDecision {
    pub repository: String,
    pub source: String,
    pub policy: String,
    #[serde(flatten)]
    pub decision: Decision,
}

impl PolicyDecision {
    pub fn keep(&self) -> bool {
        self.decision.keep
    }
}

/// Decides every snapshot of every source of `repository` that has keep rules (or only
/// `only`'s), given the repository's snapshot list.
pub fn decide(
    cfg: &Config,
    repository: &str,
    only: Option<&str>,
    snapshots: &[SnapshotInfo],
) -> Vec<PolicyDecision> {
    sources_with_keep(cfg, repository, only)
        .into_iter()
        .flat_map(|(s, p)| {
            retention::decide(&of_source(snapshots, s), &p.keep)
                .into_iter()
                .map(|decision| PolicyDecision {
                    repository: repository.to_string(),
                    source: s.name.clone(),
                    policy: p.name.clone(),
                    decision,
                })
        })
        .collect()
}

/// The ids the decisions remove.
pub fn removed(decisions: &[PolicyDecision]) -> Vec<Id> {
    decisions
        .iter()
        .filter(|d| !d.keep())
        .map(|d| d.decision.id)
        .collect()
}

/// The latest snapshot time of each source kept in `repository`, keyed by its backup job
/// (`backup:NAME`), from the repository's snapshot list.
pub fn last_snapshot_times(
    cfg: &Config,
    repository: &str,
    snapshots: &[SnapshotInfo],
) -> HashMap<String, DateTime<Utc>> {
    cfg.sources
        .values()
        .filter(|s| s.repository == repository)
        .filter_map(|s| {
            let t = of_source(snapshots, s)
                .iter()
                .map(|x| x.header.time)
                .max()?;
            Some((JobId::backup(&s.name).into(), t))
        })
        .collect()
}
