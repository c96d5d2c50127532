//! The configuration-driven commands: `schedule once|run|job|export` and `status` (named
//! repositories and credentials are resolved in `context`, retention by policy in `retention`;
//! what is due, what a policy keeps and where a source stands are decided in the library's
//! `sla`, and a job calls the engine and the store with option structs). Scheduled jobs run
//! as child processes (`secretsnap schedule job NAME`), so a job that fails or crashes cannot take
//! the scheduler with it, and SIGTERM reaches the scheduler alone (children get their own process
//! group): it starts nothing new and waits for running jobs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use secretsnap::engine::BackupOptions;
use secretsnap::sla::config::{Config, Source};
use secretsnap::sla::outcome::{Finished, Outcome};
use secretsnap::sla::scheduler::{
    changes, jobs, Clock, Job, Reload, Runner, Scheduler, SystemClock,
};
use secretsnap::sla::state::{Run, State};
use secretsnap::sla::{export, metrics, retention, status as sla_status};
use secretsnap_store::{MaintenanceStatus, Subset};
use serde_json::json;
use tokio::sync::watch;

use super::context::{load, now, open, with_repository};
use super::output::{print, usage, FAILED, OK, OUT_OF_SLA, PARTIAL};
use super::retention::forget_by_policy;
use super::{backup, drill, repo_cmds, Global};

#[derive(Subcommand)]
pub enum ScheduleCmd {
    /// Run every job that is due now, then exit (for cron).
    Once {
        /// Write Prometheus metrics (as `status --prometheus`) to this file when done.
        #[arg(long)]
        metrics_file: Option<PathBuf>,
    },
    /// Run due jobs forever (jitter, bounded parallelism); SIGTERM finishes running jobs and exits.
    Run {
        /// Write Prometheus metrics (as `status --prometheus`) to this file at start and after
        /// every job (atomically, for node_exporter's textfile collector).
        #[arg(long)]
        metrics_file: Option<PathBuf>,
    },
    /// Run one job now: backup:SOURCE (backup, then retention), prune:REPO or check:REPO.
    Job { name: String },
    /// Write systemd units, a crontab or Kubernetes CronJobs for the configured jobs.
    Export {
        #[arg(value_parser = ["systemd", "cron", "kubernetes"])]
        kind: String,
        /// Folder for systemd units (default: print everything to stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Validates the configuration file and copies it (0600, atomically) to `in_force`.
fn write_in_force(file: &std::path::Path, in_force: &std::path::Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow!("configuration {}: {e}", file.display()))?;
    let cfg = Config::parse(file, &text).map_err(usage)?;
    secretsnap_store::private::write_atomic(in_force, text.as_bytes())
        .map_err(|e| anyhow!("{}: {e}", in_force.display()))?;
    Ok(cfg)
}

/// On each SIGHUP, re-reads the configuration: a valid one replaces the jobs (the change is
/// logged job by job), a broken one is refused with its `file:line: key: message` and the
/// configuration in force stays.
fn reload_on_sighup(
    cfg: Config,
    in_force: PathBuf,
) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<Reload>> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut current = jobs(&cfg);
        while hup.recv().await.is_some() {
            match write_in_force(&cfg.file, &in_force) {
                Err(e) => tracing::error!(
                    "configuration not reloaded, the previous one stays in force: {e:#}"
                ),
                Ok(new) => {
                    let fresh = jobs(&new);
                    let changed = changes(&current, &fresh);
                    tracing::warn!(
                        "configuration reloaded: {}",
                        if changed.is_empty() {
                            "no job changed".to_string()
                        } else {
                            changed.join(", ")
                        }
                    );
                    current = fresh.clone();
                    let _ = tx.send(Reload {
                        jobs: fresh,
                        parallel: new.parallel,
                        jitter: new.jitter,
                    });
                }
            }
        }
    });
    Ok(rx)
}

/// Runs each job as `secretsnap schedule job NAME` in its own process group.
struct ChildRunner {
    config: PathBuf,
}

#[async_trait::async_trait]
impl Runner for ChildRunner {
    async fn run(&self, job: &Job) -> Finished {
        let exe = match secretsnap::sla::exe::ours() {
            Ok(e) => e,
            Err(e) => return Finished::new(Outcome::Failed, e.to_string()),
        };
        tracing::info!(job = %job.name, binary = %exe.display(), "starting job");
        let child = tokio::process::Command::new(exe)
            .arg("--config")
            .arg(&self.config)
            .args(["schedule", "job", &job.name])
            .env("SECRETSNAP_SCHEDULED", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return Finished::new(Outcome::Failed, format!("cannot start: {e}")),
        };
        // The child's stderr still reaches ours line by line; its last `error:` line is kept
        // as the run's message (errors never carry a value), so `status` says why, not only
        // which exit code.
        let last_error = match child.stderr.take() {
            Some(err) => tokio::spawn(relay_stderr(err)),
            None => tokio::spawn(async { None }),
        };
        let status = child.wait().await;
        let why = last_error.await.ok().flatten();
        let mut finished = match status.map(|s| s.code()) {
            Ok(Some(c)) => Finished::from_exit(u8::try_from(c).unwrap_or(FAILED)),
            Ok(None) => Finished::new(Outcome::Failed, "killed by a signal"),
            Err(e) => Finished::new(Outcome::Failed, format!("cannot wait for it: {e}")),
        };
        if let (false, Some(why)) = (finished.outcome == Outcome::Ok, why) {
            finished.message = format!("{}: {why}", finished.message);
        }
        finished
    }
}

/// Copies a child's stderr to ours; returns its last `error:` line (at most 500 characters).
async fn relay_stderr(err: tokio::process::ChildStderr) -> Option<String> {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(err).lines();
    let mut last = None;
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("{line}");
        if let Some(rest) = line.strip_prefix("error: ") {
            last = Some(rest.chars().take(500).collect::<String>());
        }
    }
    last
}

/// A clock fixed at `--now` (for `schedule once` what-ifs and tests), else the wall clock.
struct FixedClock(DateTime<Utc>);

#[async_trait::async_trait]
impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
    async fn sleep_until(&self, _: DateTime<Utc>, stop: &mut watch::Receiver<bool>) {
        let _ = stop.wait_for(|s| *s).await;
    }
}

/// Latest snapshot time per backup job, from every configured repository that opens.
async fn last_snapshots(g: &Global, cfg: &Config) -> HashMap<String, DateTime<Utc>> {
    let mut out = HashMap::new();
    for name in cfg.repositories.keys() {
        let Ok(rg) = with_repository(g, cfg, name) else {
            continue;
        };
        let Ok(repo) = open(&rg).await else {
            continue;
        };
        let Ok(list) = repo.snapshots().await else {
            continue;
        };
        out.extend(retention::last_snapshot_times(cfg, name, &list.snapshots));
    }
    out
}

pub async fn schedule(g: &Global, cmd: &ScheduleCmd) -> anyhow::Result<u8> {
    let cfg = load(g)?;
    match cmd {
        ScheduleCmd::Job { name } => run_job(g, &cfg, name).await,
        ScheduleCmd::Export { kind, out } => {
            match (kind.as_str(), out) {
                ("systemd", Some(dir)) => {
                    std::fs::create_dir_all(dir)?;
                    for (f, text) in export::systemd(&cfg)? {
                        // Unit folders are often shared: never through a planted link.
                        secretsnap_store::private::replace_file(
                            &dir.join(&f),
                            text.as_bytes(),
                            0o644,
                        )?;
                        println!("{}", dir.join(f).display());
                    }
                }
                ("systemd", None) => {
                    for (f, text) in export::systemd(&cfg)? {
                        println!("# ---- {f}\n{text}");
                    }
                }
                ("cron", _) => print!("{}", export::crontab(&cfg)?),
                _ => print!("{}", export::kubernetes(&cfg)?),
            }
            Ok(OK)
        }
        ScheduleCmd::Once { metrics_file } | ScheduleCmd::Run { metrics_file } => {
            let running = matches!(cmd, ScheduleCmd::Run { .. });
            // `schedule run` hands its jobs a private copy of the configuration in force, so a
            // broken edit of the file (refused on SIGHUP) never reaches a job; the scheduler
            // itself runs on exactly the copy it wrote.
            let in_force = cfg.state_file.with_file_name("config-in-force.toml");
            let cfg = if running {
                write_in_force(&cfg.file, &in_force)?
            } else {
                cfg
            };
            if running {
                match secretsnap::sla::exe::ours() {
                    Ok(exe) => tracing::warn!(
                        "jobs run {} (secretsnap {} started them; an upgrade that replaces that \
                         file takes effect at the next job)",
                        exe.display(),
                        env!("CARGO_PKG_VERSION")
                    ),
                    Err(e) => tracing::error!("{e}"),
                }
            }
            let runner = ChildRunner {
                config: if running {
                    in_force.clone()
                } else {
                    cfg.file.clone()
                },
            };
            let fixed;
            let clock: &dyn Clock = match &g.now {
                Some(_) => {
                    fixed = FixedClock(now(g)?);
                    &fixed
                }
                None => &SystemClock,
            };
            let mut state = State::load(&cfg.state_file)?;
            let state_file = cfg.state_file.clone();
            // After each run: save the state, then (off the scheduler's path) refresh the metrics.
            let refresh = metrics_file.clone().filter(|_| running).map(|file| {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
                let (g, cfg) = (g.clone(), cfg.clone());
                tokio::spawn(async move {
                    while rx.recv().await.is_some() {
                        while rx.try_recv().is_ok() {}
                        if let Err(e) = write_metrics(&g, &cfg, &file).await {
                            tracing::error!("metrics not written: {e:#}");
                        }
                    }
                });
                tx
            });
            if let (Some(file), true) = (metrics_file, running) {
                write_metrics(g, &cfg, file).await?;
            }
            let save = move |s: &State| {
                if let Err(e) = s.save(&state_file) {
                    tracing::error!("{e}");
                }
                if let Some(tx) = &refresh {
                    let _ = tx.send(());
                }
            };
            let mut scheduler = Scheduler {
                jobs: jobs(&cfg),
                runner: &runner,
                clock,
                parallel: cfg.parallel,
                jitter: cfg.jitter,
                last_snapshots: last_snapshots(g, &cfg).await,
                on_run: &save,
            };
            let (stop_tx, stop) = watch::channel(false);
            tokio::spawn(async move {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("SIGTERM handler");
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                tracing::warn!("stop requested: finishing running jobs, starting none");
                let _ = stop_tx.send(true);
            });
            if running {
                let reload = reload_on_sighup(cfg.clone(), in_force)?;
                scheduler.run(&mut state, stop, reload).await;
                return Ok(OK);
            }
            let runs = scheduler.once(&mut state, &stop).await;
            if let Some(file) = metrics_file {
                write_metrics(g, &cfg, file).await?;
            }
            report_runs(g, &runs);
            let failed = runs.iter().filter(|r| r.outcome != Outcome::Ok).count();
            Ok(if failed == 0 {
                OK
            } else if failed < runs.len() {
                PARTIAL
            } else {
                FAILED
            })
        }
    }
}

fn report_runs(g: &Global, runs: &[Run]) {
    print(g, json!({"runs": runs}), || {
        if runs.is_empty() {
            println!("nothing due");
        }
        for r in runs {
            println!(
                "{:<8} {} ({:.1}s){}",
                r.outcome,
                r.job,
                (r.finished - r.started).num_milliseconds() as f64 / 1000.0,
                if r.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.message)
                }
            );
        }
    });
}

/// The CLI's steps of a scheduled job (`secretsnap::sla::run` composes them).
struct CliSteps<'a> {
    g: &'a Global,
    cfg: &'a Config,
}

#[async_trait::async_trait]
impl secretsnap::sla::run::Steps for CliSteps<'_> {
    type Error = anyhow::Error;
    async fn backup(&self, source: &str) -> anyhow::Result<u8> {
        backup::configured(self.g, self.cfg, source, false, false).await
    }
    async fn retention(&self, source: &str) -> anyhow::Result<u8> {
        forget_by_policy(self.g, self.cfg, Some(source), false).await
    }
    async fn prune(&self, repository: &str, exclusive: bool) -> anyhow::Result<u8> {
        let rg = with_repository(self.g, self.cfg, repository)?;
        repo_cmds::reclaim(&rg, false, exclusive, self.cfg.lock_wait).await
    }
    async fn check(&self, repository: &str, read_data: Option<&str>) -> anyhow::Result<u8> {
        let rg = with_repository(self.g, self.cfg, repository)?;
        let subset = read_data
            .map(str::parse::<Subset>)
            .transpose()
            .map_err(usage)?;
        let report = open(&rg).await?.check(subset).await?;
        repo_cmds::show_check(&rg, &report)
    }
    async fn drill(&self, source: &str, into: &str) -> anyhow::Result<u8> {
        let how = (false, BackupOptions::DEFAULT_CONCURRENCY);
        drill::configured(self.g, self.cfg, source, into, how, true).await
    }
    fn exit_code(&self, e: &anyhow::Error) -> u8 {
        super::output::exit_code(e)
    }
}

/// One job, in this process; recorded in the state file unless a scheduler started us.
async fn run_job(g: &Global, cfg: &Config, name: &str) -> anyhow::Result<u8> {
    let job = secretsnap::sla::run::find(cfg, name).map_err(|e| usage(e.to_string()))?;
    let record = std::env::var_os("SECRETSNAP_SCHEDULED").is_none();
    secretsnap::sla::run::run(cfg, &job, &CliSteps { g, cfg }, record).await
}

/// `status` options.
#[derive(clap::Args, Debug, Default)]
pub struct StatusCmd {
    /// Print Prometheus metrics (text exposition) instead of the table; exit code 0 whatever
    /// the SLA state, which the metrics carry.
    #[arg(long)]
    pub prometheus: bool,
    /// With --prometheus: write them to this file atomically (for node_exporter's textfile
    /// collector: a `.prom` file in its folder) instead of stdout.
    #[arg(long, requires = "prometheus")]
    pub out: Option<PathBuf>,
}

/// What `status` and the metrics show of the configured sources and repositories.
struct Gathered {
    rows: Vec<sla_status::SourceStatus>,
    /// Whether each repository could be read.
    up: BTreeMap<String, bool>,
    /// Each readable repository's maintenance.
    maintenance: BTreeMap<String, MaintenanceStatus>,
}

/// Every configured source's SLA status, whether each repository could be read, and where
/// its maintenance stands.
async fn gather(
    g: &Global,
    cfg: &Config,
    state: &State,
    now: DateTime<Utc>,
) -> anyhow::Result<Gathered> {
    let mut rows = Vec::new();
    let mut up = BTreeMap::new();
    let mut maintenance = BTreeMap::new();
    for name in cfg.repositories.keys() {
        let sources: Vec<&Source> = cfg
            .sources
            .values()
            .filter(|s| &s.repository == name)
            .collect();
        if sources.is_empty() {
            continue;
        }
        let rg = with_repository(g, cfg, name)?;
        let listed = match open(&rg).await {
            Ok(repo) => {
                match repo.maintenance_status().await {
                    Ok(m) => {
                        maintenance.insert(name.clone(), m);
                    }
                    Err(e) => tracing::warn!("repository {name}: maintenance state: {e}"),
                }
                repo.snapshots()
                    .await
                    .map(|l| l.snapshots)
                    .map_err(|e| e.into())
            }
            Err(e) => Err(e),
        };
        let snapshots = match listed {
            Ok(list) => {
                up.insert(name.clone(), true);
                list
            }
            Err(e) => {
                tracing::warn!("repository {name}: {e:#}");
                up.insert(name.clone(), false);
                Vec::new()
            }
        };
        for s in sources {
            rows.push(sla_status::source_status(cfg, s, &snapshots, state, now));
        }
    }
    Ok(Gathered {
        rows,
        up,
        maintenance,
    })
}

/// Computes the metrics now and writes them to `file`.
pub async fn write_metrics(g: &Global, cfg: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let state = State::load(&cfg.state_file)?;
    let now = now(g)?;
    let got = gather(g, cfg, &state, now).await?;
    let text = metrics::render(&metrics::Inputs {
        cfg,
        sources: &got.rows,
        repositories: &got.up,
        maintenance: &got.maintenance,
        state: &state,
        now,
    });
    metrics::write_textfile(file, &text).map_err(|e| anyhow!("{}: {e}", file.display()))
}

/// Whether no configuration file is named or found (a named one that is missing is an error).
fn no_configuration(g: &Global) -> bool {
    g.config.is_none() && secretsnap::sla::config::default_path().is_none_or(|p| !p.exists())
}

/// `status --prometheus` from a repository alone: per-source snapshot metrics, no SLA families.
async fn repository_metrics(g: &Global, cmd: &StatusCmd) -> anyhow::Result<u8> {
    let location = g.repo.clone().unwrap_or_default();
    let snapshots = match open(g).await {
        Ok(repo) => match repo.snapshots().await {
            Ok(list) => Some(list.snapshots),
            Err(e) => {
                tracing::warn!("repository {location}: {e:#}");
                None
            }
        },
        Err(e) => {
            tracing::warn!("repository {location}: {e:#}");
            None
        }
    };
    let text = metrics::render_repository(&location, snapshots.as_deref(), now(g)?);
    match &cmd.out {
        Some(f) => {
            metrics::write_textfile(f, &text).map_err(|e| anyhow!("{}: {e}", f.display()))?
        }
        None => print!("{text}"),
    }
    Ok(OK)
}

pub async fn status(g: &Global, cmd: &StatusCmd) -> anyhow::Result<u8> {
    let plain_repository = g.repo.as_deref().is_some_and(|r| !r.starts_with('@'));
    if cmd.prometheus && no_configuration(g) && plain_repository {
        return repository_metrics(g, cmd).await;
    }
    let cfg = load(g)?;
    let now = now(g)?;
    let state = State::load(&cfg.state_file)?;
    let got = gather(g, &cfg, &state, now).await?;
    let rows = &got.rows;
    if cmd.prometheus {
        let text = metrics::render(&metrics::Inputs {
            cfg: &cfg,
            sources: rows,
            repositories: &got.up,
            maintenance: &got.maintenance,
            state: &state,
            now,
        });
        match &cmd.out {
            Some(f) => {
                metrics::write_textfile(f, &text).map_err(|e| anyhow!("{}: {e}", f.display()))?
            }
            None => print!("{text}"),
        }
        return Ok(OK);
    }
    let out_of_sla: Vec<&str> = rows
        .iter()
        .filter(|r| !r.in_sla)
        .map(|r| r.source.as_str())
        .collect();
    print(
        g,
        json!({"now": now, "sources": rows, "out_of_sla": out_of_sla,
               "maintenance": got.maintenance}),
        || {
            println!(
                "{:<16} {:<12} {:<14} {:<20} {:>8} {:<20} {:>6} {:<8} {:<24} LAST DRILL",
                "SOURCE",
                "POLICY",
                "FREQUENCY",
                "LAST SUCCESS",
                "AGE",
                "NEXT DUE",
                "SNAPS",
                "SLA",
                "LAST CHECK",
            );
            for r in rows {
                let t = |t: &Option<DateTime<Utc>>| {
                    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into())
                };
                println!(
                    "{:<16} {:<12} {:<14} {:<20} {:>8} {:<20} {:>6} {:<8} {:<24} {}",
                    r.source,
                    r.policy.as_deref().unwrap_or("-"),
                    r.frequency.as_deref().unwrap_or("on demand"),
                    t(&r.last_success),
                    r.age_seconds
                        .map(
                            |a| humantime::format_duration(std::time::Duration::from_secs(
                                a.max(0) as u64 / 60 * 60
                            ))
                            .to_string()
                        )
                        .unwrap_or_else(|| "-".into()),
                    t(&r.next_due),
                    format!(
                        "{}{}",
                        r.snapshots,
                        if r.beyond_retention > 0 {
                            format!("(-{})", r.beyond_retention)
                        } else {
                            String::new()
                        }
                    ),
                    if r.in_sla { "ok" } else { "BREACHED" },
                    match (&r.last_check, &r.last_check_outcome) {
                        (Some(t), Some(o)) => format!("{} {o}", t.format("%Y-%m-%d %H:%M")),
                        _ => "never".into(),
                    },
                    match &r.last_drill {
                        Some(d) => format!(
                            "{} {} RTO {:.1}s",
                            d.at.format("%Y-%m-%d %H:%M"),
                            if d.ok { "ok" } else { "FAILED" },
                            d.rto_seconds
                        ),
                        None => "never".into(),
                    }
                );
            }
            for r in rows.iter().filter(|r| !r.in_sla) {
                println!("out of SLA: {}: {}", r.source, r.reasons.join("; "));
            }
            for (name, m) in &got.maintenance {
                println!("{}", maintenance_line(name, m));
            }
        },
    );
    Ok(if out_of_sla.is_empty() {
        OK
    } else {
        OUT_OF_SLA
    })
}

/// One line of `status` about a repository's maintenance.
fn maintenance_line(name: &str, m: &MaintenanceStatus) -> String {
    let at = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let last = match &m.last_run {
        Some(r) => format!(
            "last maintenance {} on {} ({} packs deleted, {} bytes freed)",
            at(r.at),
            r.host,
            r.packs_deleted,
            r.bytes_freed
        ),
        None => "no maintenance yet".into(),
    };
    let pending = match m.reclaimable_at {
        Some(t) => format!(
            "{} bytes in {} packs pending deletion, reclaimable from {}",
            m.bytes_pending,
            m.packs_pending,
            at(t)
        ),
        None => "nothing pending deletion".into(),
    };
    format!("repository {name}: {last}; {pending}")
}
