//! Prometheus text exposition of where each source and repository stands, for node_exporter's
//! textfile collector (`status --prometheus --out FILE`, `schedule run --metrics-file FILE`).
//! Names follow the Prometheus conventions and what backup exporters use (restic-exporter,
//! Velero): `_timestamp_seconds` gauges for "last", `_total` counters by outcome, 0/1 gauges for
//! states. Labels are source, repository, environment, data_class and policy — never a secret
//! name, a snapshot id or anything from a secret's contents.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::sla::config::Config;
use crate::sla::job_id::JobId;
use crate::sla::outcome::Outcome;
use crate::sla::state::{JobState, State};
use crate::sla::status::SourceStatus;

/// One metric family being written: its samples follow its HELP and TYPE lines.
struct Family<'a> {
    out: &'a mut String,
}

fn family<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out }
}

/// A label value escaped as the exposition format wants (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Family<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
    }
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// What the metrics are made of: each source's status, whether each repository could be read,
/// the scheduler's state, and when.
pub struct Inputs<'a> {
    pub cfg: &'a Config,
    pub sources: &'a [SourceStatus],
    /// Repository name → whether its snapshots could be listed.
    pub repositories: &'a BTreeMap<String, bool>,
    /// Repository name → its maintenance (readable repositories only).
    pub maintenance: &'a BTreeMap<String, secretsnap_store::MaintenanceStatus>,
    pub state: &'a State,
    pub now: DateTime<Utc>,
}

/// The text exposition of every metric.
pub fn render(i: &Inputs<'_>) -> String {
    let mut out = String::new();
    let none = JobState::default();
    let labels: Vec<(String, [String; 5])> = i
        .sources
        .iter()
        .map(|r| {
            let src = i.cfg.sources.get(&r.source);
            let mut classes = src.map(|s| s.data_classes.clone()).unwrap_or_default();
            classes.sort();
            (
                r.source.clone(),
                [
                    r.source.clone(),
                    r.repository.clone(),
                    src.and_then(|s| s.environment.clone()).unwrap_or_default(),
                    classes.join(","),
                    r.policy.clone().unwrap_or_default(),
                ],
            )
        })
        .collect();
    let names = [
        "source",
        "repository",
        "environment",
        "data_class",
        "policy",
    ];
    let source_labels = |l: &[String; 5]| -> Vec<(&str, String)> {
        names.iter().copied().zip(l.iter().cloned()).collect()
    };
    let per_source =
        |out: &mut String,
         name: &str,
         kind: &str,
         help: &str,
         value: &dyn Fn(&SourceStatus, &JobState) -> Option<f64>| {
            let mut f = family(out, name, kind, help);
            for (r, (_, l)) in i.sources.iter().zip(&labels) {
                let job = i
                    .state
                    .jobs
                    .get(JobId::backup(&r.source).as_str())
                    .unwrap_or(&none);
                if let Some(v) = value(r, job) {
                    let owned = source_labels(l);
                    let ls: Vec<(&str, &str)> =
                        owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    f.sample(name, &ls, v);
                }
            }
        };
    per_source(
        &mut out,
        "secretsnap_backup_last_success_timestamp_seconds",
        "gauge",
        "Time of the newest complete (not partial) snapshot of the source.",
        &|r, _| r.last_success.map(seconds),
    );
    per_source(
        &mut out,
        "secretsnap_backup_last_run_timestamp_seconds",
        "gauge",
        "Time the last scheduled backup of the source started.",
        &|_, j| j.last_started.map(seconds),
    );
    per_source(
        &mut out,
        "secretsnap_backup_last_duration_seconds",
        "gauge",
        "Wall time of the last scheduled backup of the source (with its retention step).",
        &|_, j| Some((j.last_finished? - j.last_started?).num_milliseconds() as f64 / 1000.0),
    );
    per_source(
        &mut out,
        "secretsnap_sla_compliant",
        "gauge",
        "1 when the source is within its SLA (or has no policy), 0 when out of it.",
        &|r, _| Some(if r.in_sla { 1.0 } else { 0.0 }),
    );
    per_source(
        &mut out,
        "secretsnap_sla_deadline_timestamp_seconds",
        "gauge",
        "Time after which the source is out of its SLA unless a new backup completes.",
        &|r, _| r.deadline.map(seconds),
    );
    per_source(
        &mut out,
        "secretsnap_snapshots",
        "gauge",
        "Snapshots of the source in its repository.",
        &|r, _| Some(r.snapshots as f64),
    );
    per_source(
        &mut out,
        "secretsnap_snapshots_beyond_retention",
        "gauge",
        "Snapshots of the source its policy's retention would remove now.",
        &|r, _| Some(r.beyond_retention as f64),
    );
    per_source(
        &mut out,
        "secretsnap_drill_last_timestamp_seconds",
        "gauge",
        "Time the last restore drill of the source started.",
        &|r, _| r.last_drill.as_ref().map(|d| seconds(d.at)),
    );
    per_source(
        &mut out,
        "secretsnap_drill_last_success",
        "gauge",
        "1 when the last restore drill restored, verified and cleaned up everything, else 0.",
        &|r, _| r.last_drill.as_ref().map(|d| if d.ok { 1.0 } else { 0.0 }),
    );
    per_source(
        &mut out,
        "secretsnap_drill_last_rto_seconds",
        "gauge",
        "Wall time of the last drill from reading the snapshot to a verified restore.",
        &|r, _| r.last_drill.as_ref().map(|d| d.rto_seconds),
    );
    per_source(
        &mut out,
        "secretsnap_drill_last_rpo_seconds",
        "gauge",
        "Age of the snapshot the last drill restored, when it ran.",
        &|r, _| r.last_drill.as_ref().map(|d| d.rpo_seconds as f64),
    );
    per_source(
        &mut out,
        "secretsnap_drift_detected",
        "gauge",
        "1 when the last drift check found the source changed since its snapshot, else 0.",
        &|r, _| {
            r.last_drift
                .as_ref()
                .map(|d| if d.drifted { 1.0 } else { 0.0 })
        },
    );
    per_source(
        &mut out,
        "secretsnap_drift_last_timestamp_seconds",
        "gauge",
        "Time of the last drift check of the source.",
        &|r, _| r.last_drift.as_ref().map(|d| seconds(d.at)),
    );
    per_source(
        &mut out,
        "secretsnap_drill_deadline_timestamp_seconds",
        "gauge",
        "Time after which the policy's restore drill is overdue.",
        &|r, _| r.drill_deadline.map(seconds),
    );
    {
        let name = "secretsnap_backup_runs_total";
        let mut f = family(
            &mut out,
            name,
            "counter",
            "Scheduled backups of the source, by outcome.",
        );
        for (r, (_, l)) in i.sources.iter().zip(&labels) {
            let job = i.state.jobs.get(JobId::backup(&r.source).as_str());
            for o in Outcome::ALL {
                let n = job.and_then(|j| j.runs.get(&o)).copied().unwrap_or(0);
                let mut owned = source_labels(l);
                owned.push(("outcome", o.as_str().to_string()));
                let ls: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                f.sample(name, &ls, n as f64);
            }
        }
    }
    let repo_job = |kind: &str, repo: &str| i.state.jobs.get(&format!("{kind}:{repo}"));
    {
        let name = "secretsnap_repository_up";
        let mut f = family(
            &mut out,
            name,
            "gauge",
            "1 when the repository opened and its snapshots could be listed.",
        );
        for (repo, up) in i.repositories {
            f.sample(name, &[("repository", repo)], if *up { 1.0 } else { 0.0 });
        }
    }
    for kind in ["check", "prune"] {
        let last = format!("secretsnap_{kind}_last_timestamp_seconds");
        let mut f = family(
            &mut out,
            &last,
            "gauge",
            &format!("Time the last scheduled {kind} of the repository started."),
        );
        for repo in i.repositories.keys() {
            if let Some(t) = repo_job(kind, repo).and_then(|j| j.last_started) {
                f.sample(&last, &[("repository", repo)], seconds(t));
            }
        }
        let ok = format!("secretsnap_{kind}_last_success");
        let mut f = family(
            &mut out,
            &ok,
            "gauge",
            &format!("1 when the last scheduled {kind} of the repository succeeded, else 0."),
        );
        for repo in i.repositories.keys() {
            if let Some(o) = repo_job(kind, repo).and_then(|j| j.last_outcome) {
                let v = if o == Outcome::Ok { 1.0 } else { 0.0 };
                f.sample(&ok, &[("repository", repo)], v);
            }
        }
        let total = format!("secretsnap_{kind}_runs_total");
        let mut f = family(
            &mut out,
            &total,
            "counter",
            &format!("Scheduled {kind}s of the repository, by outcome."),
        );
        for repo in i.repositories.keys() {
            for o in Outcome::ALL {
                let n = repo_job(kind, repo)
                    .and_then(|j| j.runs.get(&o))
                    .copied()
                    .unwrap_or(0);
                f.sample(
                    &total,
                    &[("repository", repo), ("outcome", o.as_str())],
                    n as f64,
                );
            }
        }
    }
    maintenance(&mut out, i.maintenance);
    let name = "secretsnap_metrics_generated_timestamp_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time these metrics were computed (alert when it stops moving).\n\
         # TYPE {name} gauge\n{name} {}",
        seconds(i.now)
    );
    out
}

/// What a repository alone tells, for `status --prometheus` without a configuration (plain
/// `backup` commands run from cron, as restic users run an exporter): per source URL recorded in
/// the snapshots, the newest snapshot's time, size and partial flag, the newest complete one's
/// time, and the count; whether the repository could be read. No SLA family: those need policies.
pub fn render_repository(
    repository: &str,
    snapshots: Option<&[secretsnap_store::SnapshotInfo]>,
    now: DateTime<Utc>,
) -> String {
    use secretsnap_store::SnapshotInfo;
    let mut out = String::new();
    let mut by_source: BTreeMap<&str, Vec<&SnapshotInfo>> = BTreeMap::new();
    for s in snapshots.unwrap_or_default() {
        by_source.entry(&s.header.meta.source).or_default().push(s);
    }
    for list in by_source.values_mut() {
        list.sort_by_key(|s| s.header.time);
    }
    let labels = |source: &str, newest: &SnapshotInfo| -> Vec<(&'static str, String)> {
        let mut classes = newest.header.meta.data_classes.clone();
        classes.sort();
        vec![
            ("source", source.to_string()),
            ("repository", repository.to_string()),
            (
                "environment",
                newest.header.meta.environment.clone().unwrap_or_default(),
            ),
            ("data_class", classes.join(",")),
        ]
    };
    type Value = dyn Fn(&[&secretsnap_store::SnapshotInfo]) -> Option<f64>;
    let families: [(&str, &str, &Value); 6] = [
        (
            "secretsnap_snapshot_last_timestamp_seconds",
            "Time of the newest snapshot of the source, complete or partial.",
            &|l| l.last().map(|s| seconds(s.header.time)),
        ),
        (
            "secretsnap_backup_last_success_timestamp_seconds",
            "Time of the newest complete (not partial) snapshot of the source.",
            &|l| {
                l.iter()
                    .rev()
                    .find(|s| !s.header.partial)
                    .map(|s| seconds(s.header.time))
            },
        ),
        (
            "secretsnap_snapshot_last_partial",
            "1 when the newest snapshot of the source is partial (some items failed).",
            &|l| l.last().map(|s| f64::from(u8::from(s.header.partial))),
        ),
        (
            "secretsnap_snapshot_last_size_bytes",
            "Bytes of content (secret metadata and values, before encryption) the newest snapshot \
             of the source holds.",
            &|l| l.last().map(|s| s.header.stats.bytes as f64),
        ),
        (
            "secretsnap_snapshot_last_entries",
            "Entries (secrets and versions) the newest snapshot of the source holds.",
            &|l| l.last().map(|s| s.header.stats.entries as f64),
        ),
        (
            "secretsnap_snapshots",
            "Snapshots of the source in the repository.",
            &|l| Some(l.len() as f64),
        ),
    ];
    for (name, help, value) in families {
        let mut f = family(&mut out, name, "gauge", help);
        for (source, list) in &by_source {
            let (Some(newest), Some(v)) = (list.last(), value(list)) else {
                continue;
            };
            let owned = labels(source, newest);
            let ls: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
            f.sample(name, &ls, v);
        }
    }
    let name = "secretsnap_repository_up";
    let mut f = family(
        &mut out,
        name,
        "gauge",
        "1 when the repository's snapshots could be listed.",
    );
    f.sample(
        name,
        &[("repository", repository)],
        f64::from(u8::from(snapshots.is_some())),
    );
    let name = "secretsnap_metrics_generated_timestamp_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time these metrics were computed (alert when it stops moving).\n\
         # TYPE {name} gauge\n{name} {}",
        seconds(now)
    );
    out
}

/// Writes `text` to `path` atomically and readable by others (node_exporter usually runs as
/// another user; metrics hold no secret): an exclusively created temp file with an unpredictable
/// name in the same folder (so no link planted there is followed), fsynced, renamed. The folder
/// must exist and keeps its mode. node_exporter reads only `*.prom`; the temp name does not end so.
pub fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    secretsnap_store::private::replace_file(path, text.as_bytes(), 0o644)
}

/// The maintenance families: last run, bytes pending deletion, when they become reclaimable.
fn maintenance(out: &mut String, repos: &BTreeMap<String, secretsnap_store::MaintenanceStatus>) {
    let name = "secretsnap_maintenance_last_timestamp_seconds";
    let mut f = family(
        out,
        name,
        "gauge",
        "Time the last maintenance run of the repository (from any host) started.",
    );
    for (repo, m) in repos {
        if let Some(r) = &m.last_run {
            f.sample(name, &[("repository", repo)], seconds(r.at));
        }
    }
    let name = "secretsnap_maintenance_pending_bytes";
    let mut f = family(
        out,
        name,
        "gauge",
        "Bytes in packs marked for deletion and not deleted yet.",
    );
    for (repo, m) in repos {
        f.sample(name, &[("repository", repo)], m.bytes_pending as f64);
    }
    let name = "secretsnap_maintenance_reclaimable_timestamp_seconds";
    let mut f = family(
        out,
        name,
        "gauge",
        "Earliest time a maintenance run may delete the packs pending deletion.",
    );
    for (repo, m) in repos {
        if let Some(t) = m.reclaimable_at {
            f.sample(name, &[("repository", repo)], seconds(t));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// Whoever can write the textfile folder plants links at every temp name the old writer
    /// used (`.NAME.PID.tmp`) and at the file itself: a root-run writer must follow none.
    #[test]
    fn links_planted_in_the_textfile_folder_leave_their_victim_untouched() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("shadow");
        std::fs::write(&victim, b"root:secret").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let folder = d.path().join("textfile");
        std::fs::create_dir(&folder).unwrap();
        let pid = std::process::id();
        for p in [pid, pid + 1, pid.saturating_sub(1)] {
            std::os::unix::fs::symlink(&victim, folder.join(format!(".s.prom.{p}.tmp"))).unwrap();
        }
        std::os::unix::fs::symlink(&victim, folder.join("s.prom")).unwrap();
        write_textfile(&folder.join("s.prom"), "metric 1\n").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"root:secret");
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the victim stays private");
        assert_eq!(
            std::fs::read_to_string(folder.join("s.prom")).unwrap(),
            "metric 1\n"
        );
    }
}
