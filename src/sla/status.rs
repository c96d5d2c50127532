//! Where each configured source stands against its SLA: the policy that applies, the last
//! successful (complete) backup and its age, when the next one is due, the retention state, the
//! last check, the last restore drill. A source is out of SLA when it has a policy and its last
//! successful backup is older than the policy's next firing after it plus the grace period (or
//! it has none at all), or, when the policy drills, the last drill failed or is overdue (the
//! drill cadence's next firing after it, plus grace); each reason is named.

use chrono::{DateTime, Utc};
use secretsnap_store::SnapshotInfo;
use serde::Serialize;

use crate::engine::retention;
use crate::sla::config::{Config, Source};
use crate::sla::job_id::JobId;
use crate::sla::outcome::Outcome;
use crate::sla::retention::of_source;
use crate::sla::scheduler::{jitter_for, next_due, Job, JobKind};
use crate::sla::state::{DriftRecord, DrillRecord, State};

#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub repository: String,
    pub policy: Option<String>,
    pub frequency: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    pub age_seconds: Option<i64>,
    pub next_due: Option<DateTime<Utc>>,
    /// After this, the source is out of SLA.
    pub deadline: Option<DateTime<Utc>>,
    pub in_sla: bool,
    pub snapshots: usize,
    /// Snapshots the policy's retention would remove now.
    pub beyond_retention: usize,
    pub last_run: Option<Outcome>,
    pub last_check: Option<DateTime<Utc>>,
    pub last_check_outcome: Option<Outcome>,
    /// The last restore drill (when, outcome, RTO, RPO), if any ran.
    pub last_drill: Option<DrillRecord>,
    /// After this, a policy's drill is overdue.
    pub drill_deadline: Option<DateTime<Utc>>,
    /// The last `drift @NAME` (drift does not change the SLA state).
    pub last_drift: Option<DriftRecord>,
    /// Why the source is out of SLA (empty when in SLA).
    pub reasons: Vec<String>,
}

/// `snapshots`: the source's repository's snapshots (all sources).
pub fn source_status(
    cfg: &Config,
    src: &Source,
    snapshots: &[SnapshotInfo],
    state: &State,
    now: DateTime<Utc>,
) -> SourceStatus {
    let policy = cfg.policy_for(src).ok().flatten();
    let mine = of_source(snapshots, src);
    let last_success = mine
        .iter()
        .filter(|s| !s.header.partial)
        .map(|s| s.header.time)
        .max();
    let last_any = mine.iter().map(|s| s.header.time).max();
    let job_name: String = JobId::backup(&src.name).into();
    let job_state = state.jobs.get(&job_name);
    let check = state.jobs.get(JobId::check(&src.repository).as_str());
    let (frequency, next, deadline, beyond) = match policy {
        Some(p) => {
            let job = Job {
                name: job_name.clone(),
                kind: JobKind::Backup {
                    source: src.name.clone(),
                },
                cadence: p.backup.clone(),
                repository: src.repository.clone(),
            };
            let next =
                next_due(&job, state, last_any, jitter_for(&job_name, cfg.jitter)).unwrap_or(now);
            let deadline = last_success.map(|t| {
                p.backup.next_after(t) + chrono::Duration::from_std(p.grace).unwrap_or_default()
            });
            let beyond = if p.keep.is_empty() {
                0
            } else {
                retention::decide(&mine, &p.keep)
                    .iter()
                    .filter(|d| !d.keep)
                    .count()
            };
            (Some(p.backup.describe()), Some(next), deadline, beyond)
        }
        None => (None, None, None, 0),
    };
    let backup_ok = policy.is_none() || deadline.is_some_and(|d| now <= d);
    let mut reasons = Vec::new();
    if !backup_ok {
        reasons.push(match (last_success, deadline) {
            (Some(t), Some(d)) => format!(
                "no complete backup since {} (due by {})",
                t.format("%Y-%m-%d %H:%M"),
                d.format("%Y-%m-%d %H:%M")
            ),
            _ => "no complete backup yet".into(),
        });
    }
    let last_drill = state.drills.get(&src.name).cloned();
    let mut drill_deadline = None;
    if let Some(d) = policy.and_then(|p| p.drill.as_ref().map(|d| (d, p.grace))) {
        let (drill, grace) = d;
        let grace = chrono::Duration::from_std(grace).unwrap_or_default();
        // Never drilled: the clock starts at the source's first snapshot.
        let since = last_drill
            .as_ref()
            .map(|r| r.at)
            .or_else(|| mine.iter().map(|s| s.header.time).min());
        drill_deadline = since.map(|t| drill.every.next_after(t) + grace);
        match &last_drill {
            Some(r) if !r.ok => reasons.push(format!(
                "the last restore drill failed ({} problems, {})",
                r.problems,
                r.at.format("%Y-%m-%d %H:%M")
            )),
            _ => {}
        }
        if drill_deadline.is_some_and(|d| now > d) {
            reasons.push(match &last_drill {
                Some(r) => format!(
                    "restore drill overdue (last {}, every {})",
                    r.at.format("%Y-%m-%d %H:%M"),
                    drill.every.describe()
                ),
                None => format!("never drilled (every {})", drill.every.describe()),
            });
        }
    }
    SourceStatus {
        source: src.name.clone(),
        repository: src.repository.clone(),
        policy: policy.map(|p| p.name.clone()),
        frequency,
        last_success,
        age_seconds: last_success.map(|t| (now - t).num_seconds()),
        next_due: next,
        in_sla: reasons.is_empty(),
        deadline,
        snapshots: mine.len(),
        beyond_retention: beyond,
        last_run: job_state.and_then(|j| j.last_outcome),
        last_check: check.and_then(|c| c.last_started),
        last_check_outcome: check.and_then(|c| c.last_outcome),
        last_drill,
        drill_deadline,
        last_drift: state.drifts.get(&src.name).cloned(),
        reasons,
    }
}
