//! `secretsnap demo`: a newcomer's first run, with no cloud account. Starts the embedded Scaleway
//! emulator on a free loopback port, seeds a realistic project, backs it up into a throw-away
//! repository (environment production, data class critical), restores the snapshot into another
//! region and project, verifies both sides are equal field by field, backs up again to show an
//! incremental run reads no value, checks the repository, and prints a summary.

use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use secretsnap::engine::{self, BackupOptions};
use secretsnap_core::fetch::read_all;
use secretsnap_core::verify::compare;
use secretsnap_core::{Filter, RestoreOptions};
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{
    Client, ClientOptions, Credentials, ScalewayDestination, ScalewaySource,
};
use secretsnap_store::{backend, KdfParams, OpenOptions, Repository, Subset};
use serde_json::json;

use super::output::{bytes, print, FAILED, OK};
use super::{progress, Global};

const PROJECT_A: &str = "11111111-aaaa-4aaa-8aaa-000000000001";
const PROJECT_B: &str = "22222222-bbbb-4bbb-8bbb-000000000002";
const PASSPHRASE: &str = "demo";

#[derive(Args, Debug)]
pub struct DemoCmd {
    /// Where to create the repository (default: a new folder under the temp directory).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

fn client(emu: &Emulator, region: &str) -> anyhow::Result<Client> {
    Ok(Client::new(
        Credentials::new("demo-token", None, Some(region), Some(&emu.url())),
        region,
        ClientOptions::default(),
    )?)
}

fn demo_dir(cmd: &DemoCmd) -> anyhow::Result<std::path::PathBuf> {
    let dir = match &cmd.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "secretsnap-demo-{}-{}",
            std::process::id(),
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if dir.join("repo").exists() {
        bail!("{} already holds a repository", dir.join("repo").display());
    }
    Ok(dir)
}

pub async fn run(g: &Global, cmd: &DemoCmd) -> anyhow::Result<u8> {
    let started = Instant::now();
    let emu = Emulator::start(Config::default(), "127.0.0.1:0".parse()?)
        .await
        .context("starting the emulator")?;
    emu.seed_demo("fr-par", PROJECT_A);
    let dir = demo_dir(cmd)?;
    let repo_path = dir.join("repo");
    let repo_url = repo_path.to_str().context("temp path is not UTF-8")?;
    let repo = Repository::init(
        backend::open_url(repo_url, &Default::default())?,
        PASSPHRASE.as_bytes(),
        OpenOptions {
            cache_dir: Some(dir.join("cache")),
            kdf: Some(KdfParams::default()),
            ..Default::default()
        },
    )
    .await?;
    let bar = progress::for_run(g);

    // 1. Backup fr-par/A, disabled versions included (enable → read → disable, on the emulator).
    let source = ScalewaySource::new(client(&emu, "fr-par")?, PROJECT_A);
    let opts = BackupOptions {
        filter: Filter {
            read_disabled: true,
            ..Default::default()
        },
        environment: Some("production".into()),
        data_classes: vec!["critical".into()],
        tags: vec!["demo".into()],
        job: Some("demo".into()),
        ..BackupOptions::default()
    };
    let first = engine::backup(&repo, &source, &opts, bar.as_ref()).await?;
    let snap = first.snapshot.context("no snapshot")?;

    // 2. Restore into nl-ams/B and compare both projects field by field.
    let dest = ScalewayDestination::new(client(&emu, "nl-ams")?, PROJECT_B);
    let (_, restored) = engine::restore_snapshot(
        &repo,
        &snap,
        &dest,
        &RestoreOptions::default(),
        false,
        |_| true,
        bar.as_ref(),
    )
    .await?;
    let reader = ScalewaySource::new(client(&emu, "nl-ams")?, PROJECT_B);
    let all = Filter {
        read_disabled: true,
        ..Default::default()
    };
    let (source_side, _) = read_all(
        &ScalewaySource::new(client(&emu, "fr-par")?, PROJECT_A),
        &all,
        8,
    )
    .await?;
    let (target_side, _) = read_all(&reader, &all, 8).await?;
    let diffs = compare(&source_side, &target_side);

    // 3. Incremental: nothing changed, so nothing is read.
    let plain = BackupOptions {
        filter: Filter::default(),
        ..opts.clone()
    };
    let reads_before = emu.accesses();
    let second = engine::backup(&repo, &source, &plain, bar.as_ref()).await?;
    let second_reads = emu.accesses() - reads_before;

    // 4. Verify every byte of the repository.
    let check = repo.check(Some(Subset::All)).await?;
    let ok = diffs.is_empty()
        && first.failed.is_empty()
        && restored.failed.is_empty()
        && second_reads == 0
        && check.ok();
    let seconds = started.elapsed().as_secs_f64();
    let summary = json!({
        "ok": ok,
        "emulator": emu.url(),
        "repository": repo_path,
        "passphrase": "SECRETSNAP_PASSWORD=demo (a demo repository; never do this with real data)",
        "source": first.source,
        "target": restored.target,
        "snapshot": snap,
        "secrets": first.secrets,
        "versions": first.versions,
        "values_read": first.values_read,
        "backup_api_calls": first.api_calls,
        "restore_api_calls": restored.api_calls,
        "restored_secrets": restored.created_secrets,
        "restored_versions": restored.created_versions,
        "differences": diffs,
        "incremental": {"snapshot": second.snapshot, "values_read": second.values_read,
                        "values_reused": second.values_reused, "new_bytes": second.new_bytes},
        "check_ok": check.ok(),
        "seconds": seconds,
    });
    print(g, summary, || {
        println!(
            "secretsnap demo — Scaleway Secret Manager emulator at {}",
            emu.url()
        );
        println!(
            "  backup    {} → snapshot {} (environment production, data class critical)",
            first.source,
            snap.short()
        );
        println!(
            "            {} secrets, {} versions ({} values read, disabled ones included), {} API \
             calls",
            first.secrets, first.versions, first.values_read, first.api_calls
        );
        println!(
            "  restore   → {}: {} secrets, {} versions created, {} API calls",
            restored.target,
            restored.created_secrets,
            restored.created_versions,
            restored.api_calls
        );
        if diffs.is_empty() {
            println!(
                "  verify    both projects equal: types, paths, tags, descriptions, \
             protection, version statuses and values"
            );
        } else {
            println!("  verify    DIFFERENCES:");
            for d in &diffs {
                println!("            {d}");
            }
        }
        println!(
            "  again     snapshot {}: {} values read, {} reused unread, {} new data",
            second.snapshot.map(|s| s.short()).unwrap_or_default(),
            second.values_read,
            second.values_reused,
            bytes(second.new_bytes)
        );
        println!(
            "  check     --read-data: {}",
            if check.ok() { "no errors" } else { "ERRORS" }
        );
        println!("  time      {seconds:.1}s");
        println!(
            "  explore   export SECRETSNAP_REPOSITORY={} SECRETSNAP_PASSWORD={PASSPHRASE}",
            repo_path.display()
        );
        println!(
            "            secretsnap snapshots --environment production; secretsnap ls latest; \
         secretsnap diff {} {}",
            snap.short(),
            second.snapshot.map(|s| s.short()).unwrap_or_default()
        );
        println!("{}", if ok { "demo OK" } else { "demo FAILED" });
    });
    Ok(if ok { OK } else { FAILED })
}
