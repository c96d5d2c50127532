//! `secretsnap drift SOURCE|@NAME [--snapshot S]`: what changed at a live source since a snapshot
//! (default: the source's latest), from metadata calls only — no value is read. Exit code 0 when
//! equal, 6 (`DRIFTED`) when the source differs or a secret could not be read. For `@NAME`, the
//! result is recorded beside the scheduler's state (`status --json`, the metrics).

use clap::Args;
use secretsnap::engine::{self, select, BackupOptions, SnapshotFilter};
use secretsnap::locations::Endpoint;
use secretsnap::sla::state::{save_drift, DriftRecord};
use serde_json::json;

use super::browse::show_diff;
use super::context;
use super::output::{print, usage, DRIFTED, OK};
use super::Global;

#[derive(Args, Debug)]
pub struct DriftCmd {
    /// The live source: a location URL (scaleway://REGION/PROJECT, aws://REGION) or @NAME from
    /// the configuration (its credentials and repository).
    pub source: String,
    /// Snapshot to compare with: `latest` (of this source) or an id.
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    /// Secrets read at once (metadata calls only).
    #[arg(long, default_value_t = BackupOptions::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
}

pub async fn run(g: &Global, cmd: &DriftCmd) -> anyhow::Result<u8> {
    let mut conns = context::connections(g);
    let mut record = None;
    let (rg, url, job) = match cmd.source.strip_prefix('@') {
        Some(name) => {
            let cfg = context::load(g)?;
            let src = cfg.source(name).map_err(usage)?;
            conns = context::source_connections(g, src)?;
            let rg = context::with_repository(g, &cfg, &src.repository)?;
            let at = (rg, src.url.clone(), Some(src.job.clone()));
            record = Some((cfg.state_file.clone(), name.to_string()));
            at
        }
        None => (g.clone(), cmd.source.clone(), None),
    };
    let endpoint = Endpoint::parse(&url).map_err(usage)?;
    let source = conns.source(&endpoint).await?;
    let repo = context::open(&rg).await?;
    let filter = SnapshotFilter {
        source: Some(source.location().url()),
        job,
        ..Default::default()
    };
    let snapshot = select::resolve(&repo, &cmd.snapshot, &filter).await?;
    let wanted = endpoint.filter.apply(Default::default());
    let r = engine::drift(
        &repo,
        &snapshot.id,
        source.as_ref(),
        &wanted,
        cmd.concurrency,
    )
    .await?;
    if let Some((state_file, name)) = record {
        let d = &r.diff;
        let drift = DriftRecord {
            source: name,
            at: context::now(g)?,
            drifted: r.drifted(),
            changes: d.added.len() + d.removed.len() + d.changed.len() + r.failed.len(),
        };
        save_drift(&state_file, &drift)?;
    }
    print(g, json!({"drift": &r, "drifted": r.drifted()}), || {
        println!(
            "{} now ↔ snapshot {} ({})",
            r.source,
            r.snapshot.short(),
            snapshot.header.time.format("%Y-%m-%d %H:%M")
        );
        show_diff(&r.diff);
        for f in &r.failed {
            println!("  unreadable: {}: {}", f.item, f.reason);
        }
        println!(
            "{} ({} API calls, no value read)",
            if r.drifted() { "drifted" } else { "no drift" },
            r.api_calls
        );
    });
    Ok(if r.drifted() { DRIFTED } else { OK })
}
