//! One scheduled job run in this process: what it is made of and how its run is recorded. A
//! backup job is the source's backup, then (when it committed) its policy's retention; a prune,
//! a check and a drill are one step each. The command layer supplies the steps ([`Steps`]: they
//! open repositories and print reports); the composition, the outcome read from the exit code and
//! the record in the state file are here, so every way of running a job (`schedule job`, a
//! scheduler's child) runs it the same way.

use chrono::Utc;

use crate::exit::{OK, PARTIAL};
use crate::sla::config::Config;
use crate::sla::error::Error;
use crate::sla::outcome::Finished;
use crate::sla::scheduler::{jobs, Job, JobKind};
use crate::sla::state::{Run, State};

/// The steps jobs are made of, each ending with an exit code (`crate::exit`).
#[async_trait::async_trait]
pub trait Steps: Sync {
    type Error: From<Error> + std::fmt::Display + Send;
    async fn backup(&self, source: &str) -> Result<u8, Self::Error>;
    /// The source's policy's retention (forget by policy).
    async fn retention(&self, source: &str) -> Result<u8, Self::Error>;
    async fn prune(&self, repository: &str, exclusive: bool) -> Result<u8, Self::Error>;
    async fn check(&self, repository: &str, read_data: Option<&str>) -> Result<u8, Self::Error>;
    async fn drill(&self, source: &str, into: &str) -> Result<u8, Self::Error>;
    /// The exit code a failed step ends the process with.
    fn exit_code(&self, e: &Self::Error) -> u8;
}

/// The configured job of that name.
pub fn find(cfg: &Config, name: &str) -> Result<Job, Error> {
    jobs(cfg)
        .into_iter()
        .find(|j| j.name == name)
        .ok_or_else(|| {
            Error::Config(format!(
                "no scheduled job {name:?} (see `secretsnap status`)"
            ))
        })
}

/// Runs `job` through `steps`; with `record`, writes the run into the state file (a scheduler
/// that started this process records it itself).
pub async fn run<S: Steps>(
    cfg: &Config,
    job: &Job,
    steps: &S,
    record: bool,
) -> Result<u8, S::Error> {
    let started = Utc::now();
    let result = match &job.kind {
        JobKind::Backup { source } => match steps.backup(source).await {
            Ok(code) if code == OK || code == PARTIAL => {
                steps.retention(source).await.map(|_| code)
            }
            other => other,
        },
        JobKind::Prune {
            repository,
            exclusive,
        } => steps.prune(repository, *exclusive).await,
        JobKind::Check {
            repository,
            read_data,
        } => steps.check(repository, read_data.as_deref()).await,
        JobKind::Drill { source, into } => steps.drill(source, into).await,
    };
    if record {
        let Finished { outcome, message } = match &result {
            Ok(code) => Finished::from_exit(*code),
            Err(e) => Finished::new(
                Finished::from_exit(steps.exit_code(e)).outcome,
                // `#`: with its causes, where the error type keeps a chain.
                format!("{e:#}"),
            ),
        };
        let mut state = State::load(&cfg.state_file)?;
        state.record(Run {
            job: job.name.clone(),
            started,
            finished: Utc::now(),
            outcome,
            message,
        });
        state.save(&cfg.state_file)?;
    }
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::exit::{FAILED, LOCKED};
    use crate::sla::outcome::Outcome;

    /// Steps that answer with fixed codes and note what ran.
    struct Fake {
        backup: Result<u8, u8>,
        ran: Mutex<Vec<String>>,
    }

    #[derive(Debug)]
    struct Failed(u8);
    impl std::fmt::Display for Failed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "step failed with {}", self.0)
        }
    }
    impl From<Error> for Failed {
        fn from(_: Error) -> Self {
            Failed(FAILED)
        }
    }

    #[async_trait::async_trait]
    impl Steps for Fake {
        type Error = Failed;
        async fn backup(&self, source: &str) -> Result<u8, Failed> {
            self.ran.lock().unwrap().push(format!("backup {source}"));
            self.backup.map_err(Failed)
        }
        async fn retention(&self, source: &str) -> Result<u8, Failed> {
            self.ran.lock().unwrap().push(format!("retention {source}"));
            Ok(OK)
        }
        async fn prune(&self, repository: &str, exclusive: bool) -> Result<u8, Failed> {
            let what = format!("prune {repository} exclusive={exclusive}");
            self.ran.lock().unwrap().push(what);
            Ok(OK)
        }
        async fn check(&self, repository: &str, _: Option<&str>) -> Result<u8, Failed> {
            self.ran.lock().unwrap().push(format!("check {repository}"));
            Ok(OK)
        }
        async fn drill(&self, source: &str, _: &str) -> Result<u8, Failed> {
            self.ran.lock().unwrap().push(format!("drill {source}"));
            Ok(OK)
        }
        fn exit_code(&self, e: &Failed) -> u8 {
            e.0
        }
    }

    fn config(dir: &std::path::Path) -> Config {
        let text = format!(
            "[schedule]\nstate_file = \"{}/state.json\"\n\n[repositories.main]\nurl = \"/x\"\n\
             password = {{ env = \"P\" }}\nexclusive_prune = true\n\n[sources.prod]\n\
             url = \"scaleway://fr-par/aaaaaaaa-1111-4000-8000-00000000000a\"\n\
             repository = \"main\"\n\n[policies.all]\nscope = {{}}\nevery = \"1h\"\n",
            dir.display()
        );
        Config::parse(std::path::Path::new("t.toml"), &text).unwrap()
    }

    #[tokio::test]
    async fn a_backup_job_is_the_backup_then_retention_and_its_run_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let cases = [
            (
                Ok(PARTIAL),
                vec!["backup prod", "retention prod"],
                Outcome::Partial,
            ),
            (Ok(OK), vec!["backup prod", "retention prod"], Outcome::Ok),
            (Err(LOCKED), vec!["backup prod"], Outcome::Locked),
            (Err(FAILED), vec!["backup prod"], Outcome::Failed),
        ];
        for (backup, ran, outcome) in cases {
            let fake = Fake {
                backup,
                ran: Mutex::new(Vec::new()),
            };
            let job = find(&cfg, "backup:prod").unwrap();
            let code = run(&cfg, &job, &fake, true).await;
            assert_eq!(code.map_err(|e| e.0), backup);
            assert_eq!(*fake.ran.lock().unwrap(), ran);
            let state = State::load(&cfg.state_file).unwrap();
            let last = state.history.last().unwrap();
            assert_eq!((last.job.as_str(), last.outcome), ("backup:prod", outcome));
            if let Err(c) = backup {
                assert_eq!(last.message, format!("step failed with {c}"));
            }
        }
        // A prune job carries the repository's choice; without `record` nothing is written.
        let fake = Fake {
            backup: Ok(OK),
            ran: Mutex::new(Vec::new()),
        };
        let before = State::load(&cfg.state_file).unwrap().history.len();
        run(&cfg, &find(&cfg, "prune:main").unwrap(), &fake, false)
            .await
            .unwrap();
        assert_eq!(*fake.ran.lock().unwrap(), ["prune main exclusive=true"]);
        assert_eq!(State::load(&cfg.state_file).unwrap().history.len(), before);
        assert!(find(&cfg, "backup:nope").is_err());
    }
}
