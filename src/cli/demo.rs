//! `secretsnap demo`: a newcomer's first run, with no cloud account. For now it shows the store
//! end to end on a throw-away repository (encrypt, deduplicate, incremental, verify, restore);
//! once the Scaleway emulator lands it will back up and restore a seeded emulated project.

use std::time::Instant;

use secretsnap_store::{backend, KdfParams, OpenOptions, Repository, SnapshotMeta, Subset};
use serde_json::json;

use super::Global;

fn sample_records() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let kinds = secretsnap_scaleway::emulator::SECRET_TYPES;
    (0..60)
        .map(|i| {
            let kind = kinds[i % kinds.len()];
            let path = format!("/demo/app-{}/secret-{i:02}", i % 5);
            let meta = json!({"type": kind, "version": 1}).to_string().into_bytes();
            let value = format!(
                "{{\"password\":\"demo-value-{i:04}-{}\"}}",
                "x".repeat(i * 13 % 300)
            )
            .into_bytes();
            (path, meta, value)
        })
        .collect()
}

pub async fn run(g: &Global) -> anyhow::Result<u8> {
    let started = Instant::now();
    let dir = tempfile_dir()?;
    let repo_path = dir.join("repo");
    let b = backend::open_url(repo_path.to_str().unwrap_or("repo"), &Default::default())?;
    let opts = OpenOptions {
        cache_dir: Some(dir.join("cache")),
        kdf: Some(KdfParams::default()),
    };
    let repo = Repository::init(b, b"demo passphrase (not secret)", opts).await?;
    let records = sample_records();
    let meta = SnapshotMeta {
        source: "demo://records".into(),
        environment: Some("production".into()),
        data_classes: vec!["critical".into()],
        tags: vec!["demo".into()],
        job: Some("demo".into()),
        ..Default::default()
    };
    let mut w = repo.writer().await?;
    for (p, m, v) in &records {
        w.add(p, m, Some(p), v).await?;
    }
    let (first, h1) = w.commit(meta.clone()).await?;
    repo.prepare_incremental().await?;
    let mut w = repo.writer().await?;
    for (p, m, v) in &records {
        match repo.known_item(p)? {
            Some(k) => w.add_known(p, m, Some(p), &k),
            None => w.add(p, m, Some(p), v).await?,
        }
    }
    let (second, h2) = w
        .commit(SnapshotMeta {
            parent: Some(first),
            ..meta
        })
        .await?;
    let entries = repo.entries(&h2).await?;
    let mut equal = 0;
    for e in &entries {
        if let Some(original) = records.iter().find(|r| r.0 == e.path).map(|r| &r.2) {
            if repo.read_content(e).await?[..] == original[..] {
                equal += 1;
            }
        }
    }
    let report = repo.check(Some(Subset::All)).await?;
    let summary = json!({
        "repository": repo_path,
        "snapshots": [first.to_hex(), second.to_hex()],
        "records": records.len(),
        "first_new_chunks": h1.stats.new_chunks,
        "second_new_chunks": h2.stats.new_chunks,
        "second_reused_entries": h2.stats.reused_entries,
        "restored_equal": equal,
        "check_ok": report.ok(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    if g.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "secretsnap demo (store only; the Scaleway emulator demo arrives with the connector)"
        );
        println!("  repository       {}", repo_path.display());
        println!(
            "  snapshot 1       {} ({} records, {} new chunks, env=production class=critical)",
            first.short(),
            h1.stats.entries,
            h1.stats.new_chunks
        );
        println!(
            "  snapshot 2       {} (incremental: {} records reused unread, {} new chunks)",
            second.short(),
            h2.stats.reused_entries,
            h2.stats.new_chunks
        );
        println!(
            "  restored         {equal}/{} records byte-identical",
            records.len()
        );
        println!(
            "  check --read-data {}",
            if report.ok() { "ok" } else { "FAILED" }
        );
        println!("  time             {:.2}s", started.elapsed().as_secs_f64());
    }
    Ok(if report.ok() && equal == records.len() {
        0
    } else {
        1
    })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("secretsnap-demo-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
