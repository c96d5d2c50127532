//! The scheduler's memory: per job, when it last ran, how it ended, and a bounded history of
//! runs. A JSON file (written atomically and privately: unique temp file, fsync, rename) that holds
//! no secret and no value; losing it only means jobs run once more. Snapshots in the repository
//! stay the truth for "last successful backup".

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::outcome::Outcome;

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
    /// The last drill per source name.
    #[serde(default)]
    pub drills: BTreeMap<String, DrillRecord>,
}

impl State {
    pub fn load(path: &Path) -> Result<State, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("state file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(format!("state file {}: {e}", path.display())),
        }
    }

    /// Writes the file atomically and privately (0600 in a 0700 folder, unique temp file
    /// fsynced before the rename), so concurrent writers never interleave and a crash leaves
    /// the old or the new file.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(self).expect("state serializes");
        secretsnap_store::private::write_atomic(path, &text)
            .map_err(|e| format!("state file {}: {e}", path.display()))
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
