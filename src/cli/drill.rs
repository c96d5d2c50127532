//! `secretsnap drill [SNAPSHOT|@NAME] --into TARGET`: a restore drill (see `engine::drill`) —
//! the snapshot (default: the latest; for `@NAME`, the latest of that configured source, with its
//! credentials) restored into a scratch target under a prefix of its own, verified field by
//! field and value by value, timed (RTO) and cleaned up. For `@NAME`, the outcome, RTO and RPO
//! are recorded in the scheduler's state, where `status` and the metrics read them. Exit code 0
//! when verified and cleaned up, 1 otherwise (the report names what differs, never a value).

use chrono::Utc;
use clap::Args;
use secretsnap::engine::{self, select, BackupOptions, DrillOptions, SnapshotFilter};
use secretsnap::locations::{Connections, Endpoint};
use secretsnap::sla::config::Config;
use secretsnap::sla::outcome::Outcome;
use secretsnap::sla::state::{save_drill, DrillRecord, Run, State};
use serde_json::json;

use super::context;
use super::output::{print, usage, FAILED, OK};
use super::{progress, Global};
use secretsnap::sla::job_id::JobId;

#[derive(Args, Debug)]
pub struct DrillCmd {
    /// The snapshot: `latest`, an id, or @NAME (the latest snapshot of that configured source).
    #[arg(default_value = "latest")]
    pub snapshot: String,
    /// The scratch target (scaleway://REGION/PROJECT, aws://REGION): restored into under a
    /// prefix of the drill's own, then cleaned up.
    #[arg(long)]
    pub into: String,
    /// Drill even if the scratch target holds secrets no drill created (they are left alone).
    #[arg(long)]
    pub allow_foreign: bool,
    /// Secrets read back at once.
    #[arg(long, default_value_t = BackupOptions::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
}

pub async fn run(g: &Global, cmd: &DrillCmd) -> anyhow::Result<u8> {
    match cmd.snapshot.strip_prefix('@') {
        Some(name) => {
            let cfg = context::load(g)?;
            let how = (cmd.allow_foreign, cmd.concurrency);
            configured(g, &cfg, name, &cmd.into, how, false).await
        }
        None => {
            let at = Drilled {
                repository: g.clone(),
                conns: context::connections(g),
                spec: cmd.snapshot.clone(),
                filter: SnapshotFilter::default(),
                record: None,
            };
            drill_with(g, at, &cmd.into, cmd.allow_foreign, cmd.concurrency).await
        }
    }
}

/// A drill of a configured source's latest snapshot (`drill @NAME` and the `drill:NAME` job),
/// with its credentials, its outcome, RTO and RPO recorded in the scheduler's state (and, unless
/// it runs as a job, which records its own, the run too). `how`: allow foreign secrets in the
/// scratch target, secrets read back at once.
pub async fn configured(
    g: &Global,
    cfg: &Config,
    name: &str,
    into: &str,
    (allow_foreign, concurrency): (bool, usize),
    as_job: bool,
) -> anyhow::Result<u8> {
    let src = cfg.source(name).map_err(usage)?;
    let conns = context::source_connections(g, src)?;
    let at = Drilled {
        repository: context::with_repository(g, cfg, &src.repository)?,
        conns,
        spec: "latest".into(),
        filter: SnapshotFilter {
            job: Some(src.job.clone()),
            ..Default::default()
        },
        record: Some((cfg, name, !as_job)),
    };
    drill_with(g, at, into, allow_foreign, concurrency).await
}

/// What a drill reads from and where it records.
struct Drilled<'a> {
    repository: Global,
    conns: Connections,
    spec: String,
    filter: SnapshotFilter,
    /// The configuration and source name to record the outcome under, and whether to record
    /// the run as well.
    record: Option<(&'a Config, &'a str, bool)>,
}

async fn drill_with(
    g: &Global,
    at: Drilled<'_>,
    into: &str,
    allow_foreign: bool,
    concurrency: usize,
) -> anyhow::Result<u8> {
    let Drilled {
        repository: rg,
        conns,
        spec,
        filter,
        record,
    } = at;
    let endpoint = Endpoint::parse(into).map_err(usage)?;
    if endpoint.filter != Default::default() {
        return Err(usage(
            "a drill target takes no filters: the drill picks its own prefix",
        ));
    }
    let scratch = conns.source(&endpoint).await?;
    let dest = conns.destination(&endpoint).await?;
    let repo = context::open(&rg).await?;
    let snapshot = select::resolve(&repo, &spec, &filter).await?;
    let now = context::now(g)?;
    let opts = DrillOptions {
        prefix: DrillOptions::prefix_for(now),
        allow_foreign,
        concurrency,
        now,
    };
    let bar = progress::for_run(g);
    let started = Utc::now();
    let result = engine::drill(
        &repo,
        &snapshot.id,
        scratch.as_ref(),
        dest.as_ref(),
        &opts,
        bar.as_ref(),
    )
    .await;
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            // A drill that could not run (a refused scratch target, an unreadable snapshot) is
            // a failed drill for `status`, not a silence.
            if let Some((cfg, name, _)) = record {
                let failed = DrillRecord {
                    source: name.to_string(),
                    at: started,
                    ok: false,
                    rto_seconds: 0.0,
                    rpo_seconds: (now - snapshot.header.time).num_seconds(),
                    target: dest.location().url(),
                    problems: 1,
                };
                save_drill(&cfg.state_file, &failed)?;
            }
            return Err(e.into());
        }
    };
    if let Some((cfg, name, record_run)) = record {
        let problems = r.mismatches.len() + r.failed.len() + r.cleanup_failed.len();
        let drill = DrillRecord {
            source: name.to_string(),
            at: started,
            ok: r.ok(),
            rto_seconds: r.rto_seconds,
            rpo_seconds: r.rpo_seconds,
            target: r.target.clone(),
            problems,
        };
        save_drill(&cfg.state_file, &drill)?;
        if record_run {
            let mut state = State::load(&cfg.state_file)?;
            state.record(Run {
                job: JobId::drill(name).into(),
                started,
                finished: Utc::now(),
                outcome: if r.ok() { Outcome::Ok } else { Outcome::Failed },
                message: if r.ok() {
                    format!("verified, RTO {:.1}s", r.rto_seconds)
                } else {
                    format!("{problems} problems (see the drill report)")
                },
            });
            state.save(&cfg.state_file)?;
        }
    }
    print(g, json!({"drill": &r, "ok": r.ok()}), || {
        println!(
            "drill of snapshot {} ({} old) into {} under {}",
            r.snapshot.short(),
            humantime::format_duration(std::time::Duration::from_secs(r.rpo_seconds.max(0) as u64)),
            r.target,
            r.prefix
        );
        if r.leftovers_removed > 0 {
            println!(
                "  removed {} secrets an interrupted drill left",
                r.leftovers_removed
            );
        }
        println!(
            "  restored {} secrets, {} versions; RTO {:.2}s (to a verified restore)",
            r.restored_secrets, r.restored_versions, r.rto_seconds
        );
        for f in r.failed.iter().chain(&r.skipped) {
            println!("  not restored: {}: {}", f.item, f.reason);
        }
        for m in &r.mismatches {
            println!("  MISMATCH {m}");
        }
        for n in &r.notes {
            println!("  note: {n}");
        }
        println!("  cleaned up {} secrets", r.removed);
        for f in &r.cleanup_failed {
            println!("  NOT DELETED {}: {} (delete it by hand)", f.item, f.reason);
        }
        println!(
            "{} ({} API calls)",
            if r.ok() {
                "drill passed"
            } else {
                "DRILL FAILED"
            },
            r.api_calls
        );
    });
    Ok(if r.ok() { OK } else { FAILED })
}
