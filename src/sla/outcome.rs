//! How a job ended, as a type: the scheduler, the state file, `status` and the exit code of
//! `schedule once` all read this one enum instead of comparing words. Stored in the state file as
//! the lowercase word (`ok`, `partial`, `locked`, `failed`), which is what older state files hold.

use serde::{Deserialize, Serialize};

/// The end of one job run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Everything succeeded.
    Ok,
    /// Done, but some items failed (the snapshot is committed and marked partial).
    Partial,
    /// Another process held the repository lock past `lock_wait`; nothing was done.
    Locked,
    /// The job failed.
    Failed,
}

impl Outcome {
    /// Every outcome, in the order metrics list them.
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Partial,
        Outcome::Locked,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Locked => "locked",
            Outcome::Failed => "failed",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a `Runner` reports for one job: the outcome and a message for the operator (empty when
/// there is nothing to say; never a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub outcome: Outcome,
    pub message: String,
}

impl Finished {
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Finished {
        Finished {
            outcome,
            message: message.into(),
        }
    }

    pub fn ok() -> Finished {
        Finished::new(Outcome::Ok, "")
    }

    /// A job's outcome from its exit code: the one rule for child jobs and jobs run in place.
    pub fn from_exit(code: u8) -> Finished {
        use crate::exit::{LOCKED, OK, PARTIAL};
        match code {
            OK => Finished::ok(),
            PARTIAL => Finished::new(
                Outcome::Partial,
                format!("some items failed (exit {PARTIAL})"),
            ),
            LOCKED => Finished::new(
                Outcome::Locked,
                format!(
                    "the repository stayed locked by another process past lock_wait (exit {LOCKED})"
                ),
            ),
            c => Finished::new(Outcome::Failed, format!("exit code {c}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_stored_as_the_words_older_state_files_hold() {
        for o in [
            Outcome::Ok,
            Outcome::Partial,
            Outcome::Locked,
            Outcome::Failed,
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{o}\""));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
        }
    }
}
