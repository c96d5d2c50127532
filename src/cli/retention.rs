//! `forget --policy` and the retention step of a scheduled backup: each configured source's
//! retention policy applied in its repository (decided by `sla::retention`), with the decisions
//! printed (or only planned with `--dry-run`).

use secretsnap::sla::config::Config;
use secretsnap::sla::retention;
use serde_json::json;

use super::context::{open, with_repository};
use super::output::{print, OK};
use super::Global;

/// Applies each configured source's retention policy in its repository (or only `only`'s).
pub async fn forget_by_policy(
    g: &Global,
    cfg: &Config,
    only: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<u8> {
    let mut decisions = Vec::new();
    let mut forgotten = Vec::new();
    for repo_name in cfg.repositories.keys() {
        if retention::sources_with_keep(cfg, repo_name, only).is_empty() {
            continue;
        }
        let repo = open(&with_repository(g, cfg, repo_name)?).await?;
        let list = repo.snapshots().await?.snapshots;
        let decided = retention::decide(cfg, repo_name, only, &list);
        let ids = retention::removed(&decided);
        if !dry_run && !ids.is_empty() {
            repo.forget(&ids).await?;
        }
        forgotten.extend(ids);
        decisions.extend(decided);
    }
    print(
        g,
        json!({"dry_run": dry_run, "forgotten": forgotten, "decisions": decisions}),
        || {
            for d in &decisions {
                let hex = d.decision.id.to_hex();
                println!(
                    "{} {} {} {} ({}, policy {}) {}",
                    if d.keep() { "keep  " } else { "remove" },
                    &hex[..8.min(hex.len())],
                    json!(d.decision.time).as_str().unwrap_or(""),
                    d.source,
                    d.repository,
                    d.policy,
                    d.decision.reasons.join(", ")
                );
            }
            println!(
                "{} {} snapshots",
                if dry_run { "would forget" } else { "forgot" },
                forgotten.len()
            );
        },
    );
    Ok(OK)
}
