//! The scheduler's memory: per job, when it last ran, how it ended, and a bounded history of
//! runs. A JSON file (written atomically and privately: unique temp file, fsync, rename) that holds
//! no secret and no value; losing it only means jobs run once more. Snapshots in the repository
//! stay the truth for "last successful backup".

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::outcome::Outcome;
use crate::sla::error::Error;

const HISTORY: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Run {
    pub job: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub outcome: Outcome,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobState {
    pub last_started: Option<DateTime<Utc>>,
    /// When the last run ended (its duration is `last_finished - last_started`).
    #[serde(default)]
    pub last_finished: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_outcome: Option<Outcome>,
    pub last_message: Option<String>,
    /// Runs by outcome since the state file was created (Prometheus counters; never reset by
    /// the bounded history).
    #[serde(default)]
    pub runs: BTreeMap<Outcome, u64>,
}

/// The last restore drill of a source: when, how it ended, how long the verified restore took
/// (RTO) and how old the snapshot was (RPO).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrillRecord {
    pub source: String,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub rto_seconds: f64,
    pub rpo_seconds: i64,
    pub target: String,
    /// What failed (mismatches, restore failures, cleanup), counted; never a value.
    pub problems: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub jobs: BTreeMap<String, JobState>,
    pub history: Vec<Run>,
    /// The last drill per source name. Each lives in a file of its own beside the state file
    /// (`drill-<source>.json`), written by the drill itself: a drill run as the scheduler's
    /// child never races the scheduler writing the state file.
    #[serde(skip)]
    pub drills: BTreeMap<String, DrillRecord>,
    /// The last `drift @NAME` per source name (`drift-<source>.json`, the same way).
    #[serde(skip)]
    pub drifts: BTreeMap<String, DriftRecord>,
}

/// The last drift check of a source: when, and how much had changed since its snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DriftRecord {
    pub source: String,
    pub at: DateTime<Utc>,
    pub drifted: bool,
    /// Secrets added, removed, changed or unreadable.
    pub changes: usize,
}

/// The file holding `source`'s last `kind` record (`drill`, `drift`), beside `state_file`.
fn record_file(state_file: &Path, kind: &str, source: &str) -> std::path::PathBuf {
    let safe: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32)
            }
        })
        .collect();
    state_file.with_file_name(format!("{kind}-{safe}.json"))
}

/// Records a source's last drill (atomically and privately, like the state file).
pub fn save_drill(state_file: &Path, record: &DrillRecord) -> Result<(), Error> {
    save_record(state_file, "drill", &record.source, record)
}

/// Records a source's last drift check.
pub fn save_drift(state_file: &Path, record: &DriftRecord) -> Result<(), Error> {
    save_record(state_file, "drift", &record.source, record)
}

fn save_record<T: Serialize>(
    state_file: &Path,
    kind: &str,
    source: &str,
    record: &T,
) -> Result<(), Error> {
    let path = record_file(state_file, kind, source);
    let text = serde_json::to_vec_pretty(record).expect("a record serializes");
    let what = if kind == "drill" {
        "drill record"
    } else {
        "drift record"
    };
    secretsnap_store::private::write_atomic(&path, &text).map_err(|e| Error::file(what, &path, e))
}

impl State {
    pub fn load(path: &Path) -> Result<State, Error> {
        let mut state: State = match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::file("state file", path, e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(Error::file("state file", path, e)),
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Ok(entries) = std::fs::read_dir(dir.unwrap_or_else(|| Path::new("."))) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".json") {
                    continue;
                }
                // A damaged record is skipped: the next drill or drift rewrites it.
                let bytes = || std::fs::read(e.path()).ok();
                if name.starts_with("drill-") {
                    if let Some(r) =
                        bytes().and_then(|b| serde_json::from_slice::<DrillRecord>(&b).ok())
                    {
                        state.drills.insert(r.source.clone(), r);
                    }
                } else if name.starts_with("drift-") {
                    if let Some(r) =
                        bytes().and_then(|b| serde_json::from_slice::<DriftRecord>(&b).ok())
                    {
                        state.drifts.insert(r.source.clone(), r);
                    }
                }
            }
        }
        Ok(state)
    }

    /// Writes the file atomically and privately (0600 in a 0700 folder, unique temp file
    /// fsynced before the rename), so concurrent writers never interleave and a crash leaves
    /// the old or the new file.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = serde_json::to_vec_pretty(self).expect("state serializes");
        secretsnap_store::private::write_atomic(path, &text)
            .map_err(|e| Error::file("state file", path, e))
    }

    pub fn record(&mut self, run: Run) {
        let j = self.jobs.entry(run.job.clone()).or_default();
        j.last_started = Some(run.started);
        j.last_finished = Some(run.finished);
        *j.runs.entry(run.outcome).or_default() += 1;
        if run.outcome == Outcome::Ok {
            j.last_success = Some(run.finished);
        }
        j.last_outcome = Some(run.outcome);
        j.last_message = Some(run.message.clone());
        self.history.push(run);
        let excess = self.history.len().saturating_sub(HISTORY);
        self.history.drain(..excess);
    }
}
