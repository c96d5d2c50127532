//! The scheduler's core, free of clocks and processes so it can be tested with an injected
//! clock: which jobs exist (a backup per source with a policy, which also applies retention; a
//! prune and a check per repository), when each is due, and running the due ones with bounded
//! parallelism. A failing job is recorded and the others go on. A missed window is caught up
//! once: due means "the cadence fired since the job last started". A stop request (SIGTERM)
//! starts nothing new and lets running jobs finish.
//!
//! Jobs on one repository are ordered by the lock they need: an exclusive job (prune) never starts
//! while this scheduler runs a shared one (backup, check) on the same repository, and no shared
//! one starts while an exclusive one runs. In a pass, shared jobs go first and a due prune starts
//! as soon as its repository is free; jobs on different repositories run side by side up to
//! `parallel`. So the scheduler never collides with itself; other processes are waited for by
//! the jobs themselves (`lock_wait`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::sla::cadence::Cadence;
use crate::sla::config::Config;
use crate::sla::job_id::JobId;
use crate::sla::outcome::Finished;
use crate::sla::state::{Run, State};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    /// Back up the source, then apply its policy's retention.
    Backup { source: String },
    Prune {
        repository: String,
        /// `prune --exclusive` rather than lock-free maintenance.
        exclusive: bool,
    },
    Check {
        repository: String,
        read_data: Option<String>,
    },
    /// A restore drill of the source's latest snapshot into a scratch target.
    Drill { source: String, into: String },
}

#[derive(Debug, Clone)]
pub struct Job {
    /// `backup:NAME`, `prune:REPO`, `check:REPO`, `drill:NAME`.
    pub name: String,
    pub kind: JobKind,
    pub cadence: Cadence,
    /// The configured repository the job works on.
    pub repository: String,
}

impl Job {
    /// Whether the job needs the repository's exclusive lock (only a prune configured with
    /// `exclusive_prune`; lock-free maintenance runs beside backups).
    pub fn exclusive(&self) -> bool {
        matches!(
            self.kind,
            JobKind::Prune {
                exclusive: true,
                ..
            }
        )
    }

    /// The job that must finish first when both are due (a drill waits for its source's backup).
    pub fn after(&self) -> Option<String> {
        match &self.kind {
            JobKind::Drill { source, .. } => Some(JobId::backup(source).into()),
            _ => None,
        }
    }
}

/// Every scheduled job of a configuration.
pub fn jobs(cfg: &Config) -> Vec<Job> {
    let mut out = Vec::new();
    let mut repos: HashMap<&str, Option<(Cadence, Option<String>)>> = HashMap::new();
    for s in cfg.sources.values() {
        let Ok(Some(p)) = cfg.policy_for(s) else {
            continue;
        };
        out.push(Job {
            name: JobId::backup(&s.name).into(),
            kind: JobKind::Backup {
                source: s.name.clone(),
            },
            cadence: p.backup.clone(),
            repository: s.repository.clone(),
        });
        if let Some(d) = &p.drill {
            out.push(Job {
                name: JobId::drill(&s.name).into(),
                kind: JobKind::Drill {
                    source: s.name.clone(),
                    into: d.into.clone(),
                },
                cadence: d.every.clone(),
                repository: s.repository.clone(),
            });
        }
        let entry = repos.entry(s.repository.as_str()).or_default();
        if let Some(c) = &p.check {
            // The most frequent check among the repository's policies wins.
            let epoch = DateTime::<Utc>::UNIX_EPOCH;
            if entry
                .as_ref()
                .is_none_or(|(e, _)| c.every.next_after(epoch) < e.next_after(epoch))
            {
                *entry = Some((c.every.clone(), c.read_data.clone()));
            }
        }
    }
    let mut names: Vec<&&str> = repos.keys().collect();
    names.sort();
    for r in names {
        let repo = &cfg.repositories[*r];
        out.push(Job {
            name: JobId::prune(r).into(),
            kind: JobKind::Prune {
                repository: r.to_string(),
                exclusive: repo.exclusive_prune,
            },
            cadence: repo.prune.clone(),
            repository: r.to_string(),
        });
        if let Some((every, read_data)) = &repos[*r] {
            out.push(Job {
                name: JobId::check(r).into(),
                kind: JobKind::Check {
                    repository: r.to_string(),
                    read_data: read_data.clone(),
                },
                cadence: every.clone(),
                repository: r.to_string(),
            });
        }
    }
    out
}

/// A stable delay in `[0, max)` per job, so many agents do not all call the API at :00.
pub fn jitter_for(job: &str, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let h = blake3::hash(job.as_bytes());
    let n = u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"));
    Duration::from_secs(n % max.as_secs().max(1))
}

/// When `job` is next due: never run → now; else the cadence's first firing after it last
/// started (or after `last_snapshot`, a backup made outside the scheduler), plus jitter.
pub fn next_due(
    job: &Job,
    state: &State,
    last_snapshot: Option<DateTime<Utc>>,
    jitter: Duration,
) -> Option<DateTime<Utc>> {
    let started = state.jobs.get(&job.name).and_then(|j| j.last_started);
    let last = started.max(last_snapshot)?;
    Some(job.cadence.next_after(last) + chrono::Duration::from_std(jitter).unwrap_or_default())
}

/// Runs one job and says how it ended.
#[async_trait::async_trait]
pub trait Runner: Send + Sync {
    async fn run(&self, job: &Job) -> Finished;
}

/// Time, injectable.
#[async_trait::async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Sleeps until `t` or until `stop` turns true.
    async fn sleep_until(&self, t: DateTime<Utc>, stop: &mut watch::Receiver<bool>);
}

/// The wall clock.
pub struct SystemClock;

#[async_trait::async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, t: DateTime<Utc>, stop: &mut watch::Receiver<bool>) {
        let d = (t - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
}

/// What the scheduler needs besides the jobs.
pub struct Scheduler<'a> {
    pub jobs: Vec<Job>,
    pub runner: &'a dyn Runner,
    pub clock: &'a dyn Clock,
    pub parallel: usize,
    pub jitter: Duration,
    /// Latest snapshot time per backup job (made by anyone).
    pub last_snapshots: HashMap<String, DateTime<Utc>>,
    /// Called after each run with the updated state (to save it).
    pub on_run: &'a (dyn Fn(&State) + Send + Sync),
}

impl Scheduler<'_> {
    /// Jobs due now.
    pub fn due(&self, state: &State) -> Vec<Job> {
        let now = self.clock.now();
        self.jobs
            .iter()
            .filter(|j| {
                let jitter = jitter_for(&j.name, self.jitter);
                next_due(j, state, self.last_snapshots.get(&j.name).copied(), jitter)
                    .is_none_or(|t| t <= now)
            })
            .cloned()
            .collect()
    }

    /// Runs every due job once (bounded parallelism, repository locks respected); returns the
    /// runs.
    pub async fn once(&self, state: &mut State, stop: &watch::Receiver<bool>) -> Vec<Run> {
        let mut pending: Vec<Job> = self.due(state);
        // Shared jobs first: a prune then runs after the backups of its repository.
        pending.sort_by_key(Job::exclusive);
        let mut busy: HashMap<String, (bool, usize)> = HashMap::new();
        let mut started: Vec<String> = Vec::new();
        let mut running = futures::stream::FuturesUnordered::new();
        let mut runs = Vec::new();
        loop {
            if !*stop.borrow() {
                let mut i = 0;
                while i < pending.len() && running.len() < self.parallel.max(1) {
                    let job = &pending[i];
                    let free = match busy.get(&job.repository) {
                        None => true,
                        Some((exclusive, _)) => !exclusive && !job.exclusive(),
                    };
                    // A waiting exclusive job keeps later shared jobs of its repository back.
                    let queued_exclusive = pending[..i]
                        .iter()
                        .any(|p| p.exclusive() && p.repository == job.repository);
                    // A drill restores the snapshot its source's backup is about to make.
                    let backup_first = job.after().is_some_and(|b| {
                        pending.iter().any(|p| p.name == b) || started.contains(&b)
                    });
                    if !free || queued_exclusive || backup_first {
                        i += 1;
                        continue;
                    }
                    let job = pending.remove(i);
                    started.push(job.name.clone());
                    let slot = busy
                        .entry(job.repository.clone())
                        .or_insert((job.exclusive(), 0));
                    slot.1 += 1;
                    running.push(async move {
                        let started = self.clock.now();
                        let Finished { outcome, message } = self.runner.run(&job).await;
                        let run = Run {
                            job: job.name.clone(),
                            started,
                            finished: self.clock.now(),
                            outcome,
                            message,
                        };
                        (job.repository, run)
                    });
                }
            }
            let Some((repository, run)) = running.next().await else {
                break;
            };
            started.retain(|n| n != &run.job);
            if let Some(slot) = busy.get_mut(&repository) {
                slot.1 -= 1;
                if slot.1 == 0 {
                    busy.remove(&repository);
                }
            }
            state.record(run.clone());
            (self.on_run)(state);
            runs.push(run);
        }
        runs
    }

    /// Takes a new configuration's jobs and knobs (between passes; running jobs are not touched).
    fn apply(&mut self, r: Reload) {
        self.jobs = r.jobs;
        self.parallel = r.parallel;
        self.jitter = r.jitter;
    }

    /// Runs due jobs until `stop` turns true; then returns once running jobs have finished.
    /// A configuration sent on `reload` takes effect before the next pass (and wakes the wait).
    pub async fn run(
        &mut self,
        state: &mut State,
        mut stop: watch::Receiver<bool>,
        mut reload: mpsc::UnboundedReceiver<Reload>,
    ) {
        loop {
            self.once(state, &stop).await;
            if *stop.borrow() {
                return;
            }
            while let Ok(r) = reload.try_recv() {
                self.apply(r);
            }
            let now = self.clock.now();
            let next = self
                .jobs
                .iter()
                .map(|j| {
                    // Never run (a job a reload just added): due now.
                    next_due(
                        j,
                        state,
                        self.last_snapshots.get(&j.name).copied(),
                        jitter_for(&j.name, self.jitter),
                    )
                    .unwrap_or(now)
                })
                .min()
                .unwrap_or(now)
                .clamp(
                    now + chrono::Duration::seconds(1),
                    now + chrono::Duration::seconds(60),
                );
            let reloaded = tokio::select! {
                _ = self.clock.sleep_until(next, &mut stop) => None,
                Some(r) = reload.recv() => Some(r),
            };
            if let Some(r) = reloaded {
                self.apply(r);
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// A configuration taken while `schedule run` runs (SIGHUP).
pub struct Reload {
    pub jobs: Vec<Job>,
    pub parallel: usize,
    pub jitter: Duration,
}

/// What changed between two job lists, for the reload message: added, removed, re-timed.
pub fn changes(old: &[Job], new: &[Job]) -> Vec<String> {
    let mut out = Vec::new();
    for n in new {
        match old.iter().find(|o| o.name == n.name) {
            None => out.push(format!("+{} ({})", n.name, n.cadence.describe())),
            Some(o) if o.cadence.describe() != n.cadence.describe() => out.push(format!(
                "~{} ({} → {})",
                n.name,
                o.cadence.describe(),
                n.cadence.describe()
            )),
            Some(_) => {}
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|n| n.name == o.name)) {
        out.push(format!("-{}", o.name));
    }
    out
}
