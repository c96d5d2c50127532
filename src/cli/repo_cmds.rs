//! Repository commands that need no secret-manager connector: init, snapshots, check, forget,
//! prune and key management. Each prints a human summary, or JSON with `--json`.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use secretsnap_store::{backend, MaintainOptions, PruneOptions, Repository, SnapshotInfo};
use serde_json::json;

use super::args::SelectArgs;
use super::context::{location, open, open_options, resolved};
use super::output::{print, usage, FAILED, OK};
use super::password::passphrase;
use super::Global;
use secretsnap::engine::retention::{self, KeepPolicy};
use secretsnap::engine::SnapshotFilter;

/// Snapshot filters; every one matches header fields only.
#[derive(Args, Default, Clone, Debug)]
pub struct SnapshotFilterArgs {
    /// Only snapshots carrying this tag (repeatable: all of them).
    #[arg(long)]
    pub tag: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
}

impl SnapshotFilterArgs {
    fn filter(&self) -> anyhow::Result<SnapshotFilter> {
        let mut f = self.select.filter()?;
        f.tags.extend(self.tag.iter().cloned());
        Ok(f)
    }
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// List key files.
    List,
    /// Add a passphrase, read from SECRETSNAP_NEW_PASSWORD or --new-password-file.
    Add {
        #[arg(long)]
        new_password_file: Option<std::path::PathBuf>,
        #[arg(long, default_value = "added")]
        label: String,
    },
    /// Remove a key file by id (not the one in use).
    Remove { id: String },
    /// Change the passphrase of the key in use.
    Passwd {
        #[arg(long)]
        new_password_file: Option<std::path::PathBuf>,
    },
}

/// `init`'s options.
#[derive(clap::Args)]
pub struct InitCmd {
    /// Maintenance margin of this repository: a backup running longer refuses to commit, and
    /// space is reclaimed this long (plus twice the skew) after it became garbage. Fixed for
    /// the repository's life.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "6h")]
    gc_margin: std::time::Duration,
    /// Clock difference between hosts sharing the repository that maintenance tolerates.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    gc_skew: std::time::Duration,
}

pub async fn init(g: &Global, c: &InitCmd) -> anyhow::Result<u8> {
    let g = &*resolved(g)?;
    let b = backend::open_url(location(g)?, &Default::default())?;
    let opts = secretsnap_store::OpenOptions {
        gc: Some(secretsnap_store::config::GcParams {
            margin_secs: c.gc_margin.as_secs().max(1),
            skew_secs: c.gc_skew.as_secs().max(1),
        }),
        ..open_options(g)
    };
    let repo = Repository::init(b, &passphrase(g)?, opts).await?;
    print(
        g,
        json!({"repository": repo.backend().location(), "id": repo.config().id}),
        || {
            println!(
                "created repository {} at {}",
                repo.config().id,
                repo.backend().location()
            )
        },
    );
    Ok(0)
}

pub async fn snapshots(g: &Global, args: &SnapshotFilterArgs) -> anyhow::Result<u8> {
    let f = args.filter()?;
    let repo = open(g).await?;
    let list = repo.snapshots().await?;
    let shown: Vec<&SnapshotInfo> = list.snapshots.iter().filter(|s| f.matches(s)).collect();
    print(
        g,
        json!({"snapshots": shown, "damaged": list.damaged.iter().map(|(o, w)| json!({"object": o,
            "error": w})).collect::<Vec<_>>()}),
        || {
            println!(
                "{:<10} {:<20} {:<12} {:<18} {:>8}  source",
                "id", "time", "environment", "data classes", "entries"
            );
            for s in &shown {
                let m = &s.header.meta;
                println!(
                    "{:<10} {:<20} {:<12} {:<18} {:>8}  {}{}",
                    s.id.short(),
                    s.header.time.format("%Y-%m-%d %H:%M:%S"),
                    m.environment.as_deref().unwrap_or("-"),
                    m.data_classes.join(","),
                    s.header.stats.entries,
                    m.source,
                    if s.header.partial { " (partial)" } else { "" }
                );
            }
            for (o, w) in &list.damaged {
                eprintln!("damaged: {o}: {w}");
            }
        },
    );
    Ok(if list.damaged.is_empty() { 0 } else { 3 })
}

pub async fn check(g: &Global, read_data: Option<&str>) -> anyhow::Result<u8> {
    let repo = open(g).await?;
    let subset = read_data
        .map(str::parse::<secretsnap_store::Subset>)
        .transpose()
        .map_err(usage)?;
    let r = repo.check(subset).await?;
    show_check(g, &r)
}

/// Prints a check report; exit code 1 when the repository is damaged.
pub fn show_check(g: &Global, r: &secretsnap_store::CheckReport) -> anyhow::Result<u8> {
    print(g, serde_json::to_value(r)?, || {
        println!(
            "checked {} snapshots, {} indexes, {} packs, {} blobs; read {} packs, verified {} \
             blobs",
            r.snapshots, r.indexes, r.packs, r.blobs, r.packs_read, r.blobs_verified
        );
        for w in &r.warnings {
            println!("warning: {}: {}", w.object, w.problem);
        }
        for e in &r.errors {
            println!("error: {}: {}", e.object, e.problem);
        }
        println!(
            "{}",
            if r.ok() {
                "no errors were found"
            } else {
                "the repository is damaged"
            }
        );
    });
    Ok(if r.ok() { OK } else { FAILED })
}

/// `forget`: by id, or by keep rules.
#[derive(Args, Debug)]
pub struct ForgetCmd {
    /// Snapshot ids, unique prefixes, or `latest` (not with keep rules).
    pub snapshots: Vec<String>,
    /// Keep the n newest snapshots of each group.
    #[arg(long, default_value_t = 0)]
    pub keep_last: u32,
    /// Keep the newest snapshot of each of the n most recent hours that have one.
    #[arg(long, default_value_t = 0)]
    pub keep_hourly: u32,
    #[arg(long, default_value_t = 0)]
    pub keep_daily: u32,
    #[arg(long, default_value_t = 0)]
    pub keep_weekly: u32,
    #[arg(long, default_value_t = 0)]
    pub keep_monthly: u32,
    #[arg(long, default_value_t = 0)]
    pub keep_yearly: u32,
    /// Keep every snapshot within this span of the group's newest (1y6m, 30d, 12h).
    #[arg(long)]
    pub keep_within: Option<String>,
    /// Only consider snapshots passing these filters.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print what would be kept and removed, and why; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply the configuration's retention policy to each source's snapshots (group = source ×
    /// environment × data classes), in every configured repository.
    #[arg(long = "policy")]
    pub by_policy: bool,
    /// With --policy: only this configured source (by name).
    #[arg(long, requires = "by_policy")]
    pub only: Option<String>,
}

impl ForgetCmd {
    fn policy(&self) -> anyhow::Result<KeepPolicy> {
        Ok(KeepPolicy {
            last: self.keep_last,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
            within: self
                .keep_within
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(usage)?,
        })
    }
}

pub async fn forget(g: &Global, cmd: &ForgetCmd) -> anyhow::Result<u8> {
    if cmd.by_policy {
        if !cmd.snapshots.is_empty() || !cmd.policy()?.is_empty() {
            return Err(usage(
                "--policy takes its rules from the configuration: give no ids or --keep-* rules",
            ));
        }
        let cfg = super::context::load(g)?;
        return super::retention::forget_by_policy(g, &cfg, cmd.only.as_deref(), cmd.dry_run).await;
    }
    let policy = cmd.policy()?;
    let repo = open(g).await?;
    let (resolved, decisions) = if policy.is_empty() {
        if cmd.snapshots.is_empty() {
            return Err(usage(
                "name snapshots to forget, or give keep rules (--keep-last, --keep-daily, …)",
            ));
        }
        let all = SnapshotFilter::default();
        let mut ids = Vec::new();
        for p in &cmd.snapshots {
            ids.push(
                secretsnap::engine::select::resolve(&repo, p, &all)
                    .await?
                    .id,
            );
        }
        (ids, Vec::new())
    } else {
        if !cmd.snapshots.is_empty() {
            return Err(usage("give snapshot ids or keep rules, not both"));
        }
        let filter = cmd.select.filter()?;
        let list = repo.snapshots().await?;
        let chosen: Vec<SnapshotInfo> = list
            .snapshots
            .into_iter()
            .filter(|s| filter.matches(s))
            .collect();
        let decisions = retention::decide(&chosen, &policy);
        let ids = decisions.iter().filter(|d| !d.keep).map(|d| d.id).collect();
        (ids, decisions)
    };
    if !cmd.dry_run {
        repo.forget(&resolved).await?;
    }
    let dry_run = cmd.dry_run;
    print(
        g,
        json!({"dry_run": dry_run, "forgotten": resolved, "decisions": decisions}),
        || {
            let mut group = "";
            for d in &decisions {
                if d.group != group {
                    group = &d.group;
                    println!("{group}");
                }
                println!(
                    "  {} {} {}  {}",
                    if d.keep { "keep  " } else { "remove" },
                    d.id.short(),
                    d.time.format("%Y-%m-%d %H:%M:%S"),
                    d.reasons.join(", ")
                );
            }
            for id in &resolved {
                println!(
                    "{} snapshot {}",
                    if dry_run { "would forget" } else { "forgot" },
                    id.short()
                );
            }
        },
    );
    Ok(0)
}

/// `prune`: lock-free maintenance, or with `exclusive` the exclusive prune.
pub async fn reclaim(
    g: &Global,
    dry_run: bool,
    exclusive: bool,
    wait_lock: std::time::Duration,
) -> anyhow::Result<u8> {
    let repo = open(g).await?;
    if exclusive {
        let r = repo
            .prune(&PruneOptions {
                dry_run,
                wait_lock,
                ..Default::default()
            })
            .await?;
        print(g, serde_json::to_value(&r)?, || {
            println!(
                "{}: {} packs deleted ({} repacked), {} blobs removed, {} live, {} bytes freed",
                if dry_run { "would prune" } else { "pruned" },
                r.packs_deleted,
                r.packs_repacked,
                r.blobs_removed,
                r.blobs_live,
                r.bytes_freed
            )
        });
        return Ok(OK);
    }
    let r = repo
        .maintain(&MaintainOptions {
            dry_run,
            wait_lock,
            ..Default::default()
        })
        .await?;
    print(g, serde_json::to_value(&r)?, || {
        let verb = if dry_run { "would " } else { "" };
        println!(
            "maintenance: {verb}mark {} packs, {verb}withdraw {} marks, {verb}delete {} packs \
             ({} bytes), {verb}replace {} indexes; {} bytes pending{}",
            r.packs_marked,
            r.marks_withdrawn,
            r.packs_deleted,
            r.bytes_freed,
            r.indexes_replaced,
            r.bytes_pending,
            r.reclaimable_at
                .map(|t| format!(", reclaimable from {}", t.format("%Y-%m-%dT%H:%M:%SZ")))
                .unwrap_or_default()
        );
        if let Some(why) = &r.deletion_held {
            println!("nothing deleted: {why}");
        }
    });
    Ok(OK)
}

fn new_passphrase(file: Option<&std::path::Path>) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    if let Some(f) = file {
        let t = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        return Ok(zeroize::Zeroizing::new(
            t.lines().next().unwrap_or("").as_bytes().to_vec(),
        ));
    }
    match std::env::var("SECRETSNAP_NEW_PASSWORD") {
        Ok(p) => Ok(zeroize::Zeroizing::new(p.into_bytes())),
        Err(_) => {
            bail!("no new passphrase: set SECRETSNAP_NEW_PASSWORD or pass --new-password-file")
        }
    }
}

pub async fn key(g: &Global, cmd: &KeyCmd) -> anyhow::Result<u8> {
    let mut repo = open(g).await?;
    match cmd {
        KeyCmd::List => {
            let keys = repo.list_keys().await?;
            print(g, json!({"keys": keys}), || {
                for k in &keys {
                    println!(
                        "{} {} {} {} {}",
                        if k.current { "*" } else { " " },
                        &k.id[..12],
                        k.created.format("%Y-%m-%d %H:%M"),
                        k.host,
                        k.label
                    );
                }
            });
        }
        KeyCmd::Add {
            new_password_file,
            label,
        } => {
            let id = repo
                .add_key(&new_passphrase(new_password_file.as_deref())?, label)
                .await?;
            print(g, json!({"added": id}), || {
                println!("added key {}", &id[..12])
            });
        }
        KeyCmd::Remove { id } => {
            let full = repo
                .list_keys()
                .await?
                .into_iter()
                .find(|k| k.id.starts_with(id.as_str()))
                .map(|k| k.id)
                .context("no such key")?;
            repo.remove_key(&full).await?;
            print(g, json!({"removed": full}), || {
                println!("removed key {}", &full[..12])
            });
        }
        KeyCmd::Passwd { new_password_file } => {
            let id = repo
                .change_passphrase(&new_passphrase(new_password_file.as_deref())?)
                .await?;
            print(g, json!({"key": id}), || {
                println!("passphrase changed (key {})", &id[..12])
            });
        }
    }
    Ok(0)
}
