//! The scheduler's memory: per job, when it last ran, how it ended, and a bounded history of
//! runs. A JSON file (written atomically: temp file + rename) that holds no secret and no value;
//! losing it only means jobs run once more. Snapshots in the repository stay the truth for "last
//! successful backup".

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

const HISTORY: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Run {
    pub job: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// `ok`, `partial` or `failed`.
    pub outcome: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobState {
    pub last_started: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_outcome: Option<String>,
    pub last_message: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub jobs: BTreeMap<String, JobState>,
    pub history: Vec<Run>,
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

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("state file {}: {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).expect("state serializes");
        std::fs::write(&tmp, text).map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }

    pub fn record(&mut self, run: Run) {
        let j = self.jobs.entry(run.job.clone()).or_default();
        j.last_started = Some(run.started);
        if run.outcome == "ok" {
            j.last_success = Some(run.finished);
        }
        j.last_outcome = Some(run.outcome.clone());
        j.last_message = Some(run.message.clone());
        self.history.push(run);
        let excess = self.history.len().saturating_sub(HISTORY);
        self.history.drain(..excess);
    }
}
