//! `forget --policy` and the retention step of a scheduled backup: each configured source's
//! retention policy applied in its repository, with the decisions printed (or only planned with
//! `--dry-run`).

use secretsnap::engine::retention;
use secretsnap::sla::config::Source;
use secretsnap_store::SnapshotInfo;
use serde_json::json;

use super::context::{load, open, with_repository};
use super::output::{print, OK};
use super::Global;

/// Applies each configured source's retention policy in its repository (or only `only`'s).
/// Returns the number of snapshots forgotten (or that would be).
pub async fn forget_by_policy(g: &Global, only: Option<&str>, dry_run: bool) -> anyhow::Result<u8> {
    let cfg = load(g)?;
    let mut decisions = Vec::new();
    let mut forgotten = Vec::new();
    for repo_name in cfg.repositories.keys() {
        let sources: Vec<&Source> = cfg
            .sources
            .values()
            .filter(|s| &s.repository == repo_name && only.is_none_or(|o| o == s.name))
            .collect();
        let with_policy: Vec<(&Source, _)> = sources
            .iter()
            .filter_map(|s| {
                cfg.policy_for(s)
                    .ok()
                    .flatten()
                    .filter(|p| !p.keep.is_empty())
                    .map(|p| (*s, p))
            })
            .collect();
        if with_policy.is_empty() {
            continue;
        }
        let rg = with_repository(g, &cfg, repo_name)?;
        let repo = open(&rg).await?;
        let list = repo.snapshots().await?.snapshots;
        let mut ids = Vec::new();
        for (s, p) in with_policy {
            let mine: Vec<SnapshotInfo> = list
                .iter()
                .filter(|x| x.header.meta.job.as_deref() == Some(s.job.as_str()))
                .cloned()
                .collect();
            for d in retention::decide(&mine, &p.keep) {
                if !d.keep {
                    ids.push(d.id);
                }
                decisions.push(json!({"repository": repo_name, "source": s.name, "policy": p.name,
                    "id": d.id, "time": d.time, "group": d.group, "keep": d.keep, "reasons": d.reasons}));
            }
        }
        if !dry_run && !ids.is_empty() {
            repo.forget(&ids).await?;
        }
        forgotten.extend(ids);
    }
    print(
        g,
        json!({"dry_run": dry_run, "forgotten": forgotten, "decisions": decisions}),
        || {
            for d in &decisions {
                println!(
                    "{} {} {} {} ({}, policy {}) {}",
                    if d["keep"] == true {
                        "keep  "
                    } else {
                        "remove"
                    },
                    d["id"].as_str().map(|i| &i[..8.min(i.len())]).unwrap_or(""),
                    d["time"].as_str().unwrap_or(""),
                    d["source"].as_str().unwrap_or(""),
                    d["repository"].as_str().unwrap_or(""),
                    d["policy"].as_str().unwrap_or(""),
                    d["reasons"]
                        .as_array()
                        .map(|r| r
                            .iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
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
