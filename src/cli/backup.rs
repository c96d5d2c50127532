//! `secretsnap backup SOURCE`: one snapshot of a source, tagged with its SLA environment, data
//! classes, tags and job, incremental against the latest snapshot of the same source. Exit code 3
//! when some items failed: the snapshot is still committed, marked partial, naming each one.

use std::time::Instant;

use clap::Args;
use secretsnap::engine::{self, BackupOptions, BackupReport};
use secretsnap::locations::{Connections, Endpoint};
use serde_json::json;

use super::args::{ReadArgs, SecretArgs};
use super::output::{bytes, partial_if, print, usage, OK};
use super::{context, progress, Global};

#[derive(Args, Debug)]
pub struct BackupCmd {
    /// What to back up, e.g. scaleway://fr-par/PROJECT_ID[?path=/prefix], or @NAME from the
    /// configuration (its SLA fields, tags, credentials and repository).
    pub source: String,
    /// SLA environment of this snapshot (production, staging, …).
    #[arg(long)]
    pub environment: Option<String>,
    /// Data class of this snapshot (repeatable).
    #[arg(long = "data-class")]
    pub data_class: Vec<String>,
    /// Snapshot tag (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Job name (for scheduling and retention groups).
    #[arg(long)]
    pub job: Option<String>,
    /// Only secrets carrying this tag (repeatable: any of them).
    #[arg(long = "secret-tag")]
    pub secret_tag: Vec<String>,
    #[command(flatten)]
    pub secrets: SecretArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Read every secret in full even where the listing shows it unchanged (AWS: catches a
    /// resource policy or replica change, which ListSecrets does not show).
    #[arg(long)]
    pub full_scan: bool,
    /// List what would be backed up; read no value, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl BackupCmd {
    pub fn options(&self, endpoint: &Endpoint) -> BackupOptions {
        let mut filter = endpoint.filter.apply(self.secrets.filter(&self.secret_tag));
        filter.read_disabled = self.read.read_disabled;
        filter.read_once = self.read.read_once;
        BackupOptions {
            filter,
            environment: self.environment.clone(),
            data_classes: self.data_class.clone(),
            tags: self.tag.clone(),
            job: self.job.clone(),
            concurrency: self.read.concurrency,
            full_scan: self.full_scan,
            ..BackupOptions::default()
        }
    }
}

/// A backup of a configured source (`backup @NAME` and the `backup:NAME` job): its SLA fields,
/// job name, credentials and repository, from the configuration.
pub async fn configured(
    g: &Global,
    cfg: &secretsnap::sla::config::Config,
    name: &str,
    dry_run: bool,
    full_scan: bool,
) -> anyhow::Result<u8> {
    let src = cfg.source(name).map_err(usage)?;
    let endpoint = Endpoint::parse(&src.url).map_err(usage)?;
    let mut opts = src.backup_options(endpoint.filter.apply(Default::default()));
    opts.full_scan |= full_scan;
    let rg = context::with_repository(g, cfg, &src.repository)?;
    let conns = context::source_connections(g, src)?;
    backup_with(&rg, &endpoint, &opts, conns, dry_run).await
}

pub async fn run(g: &Global, cmd: &BackupCmd) -> anyhow::Result<u8> {
    if let Some(name) = cmd.source.strip_prefix('@') {
        let cfg = context::load(g)?;
        return configured(g, &cfg, name, cmd.dry_run, cmd.full_scan).await;
    }
    let endpoint = Endpoint::parse(&cmd.source).map_err(usage)?;
    let opts = cmd.options(&endpoint);
    backup_with(g, &endpoint, &opts, context::connections(g), cmd.dry_run).await
}

/// The engine's backup of `endpoint` with `opts`, printed; with `dry_run`, only the list of
/// what would be backed up (no value read, nothing written).
async fn backup_with(
    g: &Global,
    endpoint: &Endpoint,
    opts: &BackupOptions,
    conns: Connections,
    dry_run: bool,
) -> anyhow::Result<u8> {
    let started = Instant::now();
    let source = conns.source(endpoint).await?;
    if dry_run {
        let listed = source.list(&opts.filter).await?;
        let names: Vec<String> = listed.iter().map(|s| s.full_name()).collect();
        print(
            g,
            json!({"dry_run": true, "source": source.location().url(), "secrets": names,
                   "writes_to_source": opts.filter.read_disabled, "api_calls": source.calls()}),
            || {
                println!(
                    "would back up {} secrets from {}",
                    names.len(),
                    source.location().url()
                );
                for n in &names {
                    println!("  {n}");
                }
                if opts.filter.read_disabled {
                    println!(
                        "note: --read-disabled enables, reads and disables again each disabled \
                         version (writes to the source)"
                    );
                }
            },
        );
        return Ok(OK);
    }
    let repo = context::open(g).await?;
    let bar = progress::for_run(g);
    let r = engine::backup(&repo, source.as_ref(), opts, bar.as_ref()).await?;
    let seconds = started.elapsed().as_secs_f64();
    print(g, json!({"backup": &r, "seconds": seconds}), || {
        human(&r, opts, seconds)
    });
    Ok(partial_if(!r.failed.is_empty()))
}

fn human(r: &BackupReport, opts: &BackupOptions, seconds: f64) {
    let id = r.snapshot.map(|i| i.short()).unwrap_or_default();
    println!(
        "snapshot {id} saved{} from {}",
        if r.failed.is_empty() {
            ""
        } else {
            " (partial)"
        },
        r.source
    );
    if let Some(e) = &opts.environment {
        println!(
            "  environment {e}, data classes [{}]",
            opts.data_classes.join(", ")
        );
    }
    println!(
        "  {} secrets, {} versions: {} values read, {} reused unread, {} not read",
        r.secrets, r.versions, r.values_read, r.values_reused, r.values_not_read
    );
    println!(
        "  {} new data, {} uploaded, {} API calls, {seconds:.2}s{}",
        bytes(r.new_bytes),
        bytes(r.uploaded_bytes),
        r.api_calls,
        r.parent
            .map(|p| format!(", parent {}", p.short()))
            .unwrap_or_default()
    );
    for f in &r.failed {
        println!("  failed: {}: {}", f.item, f.reason);
    }
}
