//! `secretsnap restore SNAPSHOT TARGET` and `secretsnap clone SOURCE TARGET`: plan from the
//! target's current state, print it, and unless `--dry-run` apply it. Existing secrets are
//! skipped unless `--on-conflict append|fail` says otherwise. Exit code 3 when an item failed.

use clap::Args;
use secretsnap::engine::{self, select};
use secretsnap::locations::Endpoint;
use secretsnap_core::{Action, Plan, Report};

use super::args::{ReadArgs, RestoreArgs, SecretArgs, SelectArgs};
use super::output::{partial_if, print, usage};
use super::{context, progress, Global};

#[derive(Args, Debug)]
pub struct RestoreCmd {
    /// Snapshot id, unique id prefix, or `latest` (with the selection filters).
    pub snapshot: String,
    /// Where to restore, e.g. scaleway://nl-ams/PROJECT_ID.
    pub target: String,
    /// Only secrets carrying this tag (repeatable: any of them).
    #[arg(long)]
    pub tag: Vec<String>,
    #[command(flatten)]
    pub secrets: SecretArgs,
    #[command(flatten)]
    pub restore: RestoreArgs,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Args, Debug)]
pub struct CloneCmd {
    /// Where to read, e.g. scaleway://fr-par/PROJECT_A[?path=/prod].
    pub source: String,
    /// Where to write, e.g. scaleway://nl-ams/PROJECT_B.
    pub target: String,
    /// Only secrets carrying this tag (repeatable: any of them).
    #[arg(long)]
    pub tag: Vec<String>,
    #[command(flatten)]
    pub secrets: SecretArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub restore: RestoreArgs,
}

fn target(text: &str) -> anyhow::Result<Endpoint> {
    let e = Endpoint::parse(text).map_err(usage)?;
    if e.filter != Default::default() {
        return Err(usage(format!(
            "{text}: filters belong to sources; use --name, --path-prefix, --tag to choose secrets"
        )));
    }
    Ok(e)
}

pub async fn restore(g: &Global, cmd: &RestoreCmd) -> anyhow::Result<u8> {
    let target = target(&cmd.target)?;
    let opts = cmd.restore.options()?;
    let filter = cmd.secrets.filter(&cmd.tag);
    let repo = context::open(g).await?;
    let snap = select::resolve(&repo, &cmd.snapshot, &cmd.select.filter()?).await?;
    let conns = context::connections(g);
    let dest = conns.destination(&target).await?;
    let bar = progress::for_run(g);
    let (plan, report) = engine::restore_snapshot(
        &repo,
        &snap.id,
        dest.as_ref(),
        &opts,
        cmd.restore.dry_run,
        |s| filter.matches(s),
        bar.as_ref(),
    )
    .await?;
    let dry = cmd.restore.dry_run;
    #[derive(serde::Serialize)]
    struct Out<'a> {
        snapshot: &'a secretsnap_store::Id,
        dry_run: bool,
        plan: &'a secretsnap_core::Plan,
        report: &'a secretsnap_core::Report,
    }
    let out = Out {
        snapshot: &snap.id,
        dry_run: dry,
        plan: &plan,
        report: &report,
    };
    print(g, &out, || {
        println!(
            "snapshot {} ({}, {}) → {}",
            snap.id.short(),
            snap.header.meta.source,
            snap.header.time.format("%Y-%m-%d %H:%M:%S"),
            plan.target
        );
        human(&plan, &report, dry);
    });
    Ok(partial_if(!report.failed.is_empty()))
}

pub async fn clone(g: &Global, cmd: &CloneCmd) -> anyhow::Result<u8> {
    let from = Endpoint::parse(&cmd.source).map_err(usage)?;
    let to = target(&cmd.target)?;
    let opts = cmd.restore.options()?;
    let mut filter = from.filter.apply(cmd.secrets.filter(&cmd.tag));
    filter.read_disabled = cmd.read.read_disabled;
    filter.read_once = cmd.read.read_once;
    let conns = context::connections(g);
    let source = conns.source(&from).await?;
    let dest = conns.destination(&to).await?;
    // Two profiles may be two organizations or accounts behind one URL: not the same place
    // as far as the URL tells (the same account twice only finds every secret there).
    if source.location() == dest.location() && from.profile == to.profile {
        return Err(usage("source and target are the same place"));
    }
    let bar = progress::for_run(g);
    let dry = cmd.restore.dry_run;
    let r = engine::clone(
        source.as_ref(),
        dest.as_ref(),
        &filter,
        &opts,
        dry,
        cmd.read.concurrency,
        bar.as_ref(),
    )
    .await?;
    #[derive(serde::Serialize)]
    struct Out<'a> {
        dry_run: bool,
        clone: &'a engine::CloneReport,
    }
    print(
        g,
        Out {
            dry_run: dry,
            clone: &r,
        },
        || {
            println!(
                "{} → {}: {} secrets read ({} API calls)",
                r.source, r.plan.target, r.secrets_read, r.source_api_calls
            );
            for f in &r.read_failed {
                println!("  read failed: {}: {}", f.item, f.reason);
            }
            human(&r.plan, &r.report, dry);
        },
    );
    Ok(partial_if(
        !r.read_failed.is_empty() || !r.report.failed.is_empty(),
    ))
}

/// The plan, item by item, then what was done.
fn human(plan: &Plan, report: &Report, dry_run: bool) {
    let verb = |now: &'static str, then: &'static str| if dry_run { now } else { then };
    for item in &plan.items {
        match &item.action {
            Action::Create { steps, protect } => println!(
                "  {} {} ({} versions{})",
                verb("would create", "created"),
                item.secret,
                steps.len(),
                if *protect { ", protected" } else { "" }
            ),
            Action::Append { steps, .. } if steps.is_empty() => {
                println!("  up to date {}", item.secret)
            }
            Action::Append { steps, .. } => println!(
                "  {} {} versions to {}",
                verb("would append", "appended"),
                steps.len(),
                item.secret
            ),
            Action::Skip { reason } => println!("  skip {}: {reason}", item.secret),
            Action::Fail { reason } => println!("  FAIL {}: {reason}", item.secret),
        }
    }
    for n in &report.notes {
        println!("  note: {n}");
    }
    for f in &report.failed {
        println!("  failed: {}: {}", f.item, f.reason);
    }
    let creates: usize = plan.items.iter().map(|i| i.creates()).sum();
    if dry_run {
        println!(
            "dry run: would create {} secrets and {creates} versions; {} skipped, {} failing ({} \
             API calls to plan)",
            plan.items
                .iter()
                .filter(|i| matches!(i.action, Action::Create { .. }))
                .count(),
            report.skipped.len(),
            report.failed.len(),
            report.api_calls
        );
    } else {
        println!(
            "created {} secrets and {} versions; {} skipped, {} failed ({} API calls, restored in \
             {:.1} s)",
            report.created_secrets,
            report.created_versions,
            report.skipped.len(),
            report.failed.len(),
            report.api_calls,
            report.seconds
        );
    }
}
