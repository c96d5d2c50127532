//! The API-bound benchmark: how close a backup and a restore come to the floor the provider's
//! rate limit sets (calls / 50 per second on Scaleway). It runs the engine against the emulator
//! with latency and the live API's limit (50 requests per key per one-second window), counts the
//! requests the emulator served and its 429 answers, and prints calls, wall time, the floor and
//! their ratio. With `SECRETSNAP_BENCH_MOTO=http://127.0.0.1:5055` it also backs up an AWS region
//! on moto twice, prints the calls of the unchanged run against its ListSecrets pages, and
//! restores it into another region against AWS's write quotas.
//!
//! The disaster-recovery line restores from a repository whose every object request takes
//! BENCH_REPO_LATENCY_MS (25: object storage in another region), opened as on a fresh host (no
//! cache), BENCH_DR_SECRETS × 3 versions (400), first as a dry run, then for real.
//!
//! `cargo bench --bench api` (sizes: BENCH_SECRETS=1000 BENCH_VERSIONS=5 BENCH_LATENCY_MS=30
//! BENCH_RESTORE=200 BENCH_AWS_SECRETS=300 BENCH_AWS_REGION=ap-east-1; BENCH_SKIP_SCALEWAY=1 runs
//! only the AWS part). Not a test: nothing here runs in `tests/run.sh`.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secretsnap::engine::{backup, restore_snapshot, BackupOptions, Silent};
use secretsnap_core::RestoreOptions;
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{
    Client, ClientOptions, Credentials, ScalewayDestination, ScalewaySource,
};
use secretsnap_store::backend::{Backend, Metered, ObjectStoreBackend};
use secretsnap_store::{KdfParams, OpenOptions, Repository};

const A: &str = "aaaaaaaa-3333-4000-8000-00000000000a";
const B: &str = "bbbbbbbb-3333-4000-8000-00000000000b";
const C: &str = "cccccccc-3333-4000-8000-00000000000c";
const D: &str = "dddddddd-3333-4000-8000-00000000000d";
const LIMIT: f64 = 50.0;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn repository() -> Repository {
    repository_on(Arc::new(ObjectStoreBackend::memory())).await
}

async fn repository_on(backend: Arc<dyn Backend>) -> Repository {
    Repository::init(
        backend,
        b"bench",
        OpenOptions {
            cache_dir: None,
            kdf: Some(KdfParams::insecure_fast()),
            ..Default::default()
        },
    )
    .await
    .expect("repository")
}

/// Requests and 429s the emulator served while `run` ran, and the wall time.
struct Measured {
    calls: u64,
    throttled: u64,
    wall: Duration,
}

fn line(what: &str, m: &Measured) {
    let floor = m.calls as f64 / LIMIT;
    println!(
        "{what:<44} {:>7} calls {:>8.1} s  floor {:>7.1} s  {:>5.2}×  {} × 429",
        m.calls,
        m.wall.as_secs_f64(),
        floor,
        m.wall.as_secs_f64() / floor,
        m.throttled
    );
}

async fn measured<T>(emu: &Emulator, run: impl std::future::Future<Output = T>) -> (T, Measured) {
    let c = emu.counters();
    let (r0, t0) = (
        c.requests.load(Ordering::Relaxed),
        c.rate_limited.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    let out = run.await;
    let wall = started.elapsed();
    let m = Measured {
        calls: c.requests.load(Ordering::Relaxed) - r0,
        throttled: c.rate_limited.load(Ordering::Relaxed) - t0,
        wall,
    };
    (out, m)
}

fn client(emu: &Emulator) -> Client {
    let creds = Credentials::new("bench-token", Some(A), Some("fr-par"), Some(&emu.url()));
    Client::new(creds, "fr-par", ClientOptions::default()).expect("client")
}

async fn scaleway(emu: &Emulator, latency: u64) {
    let (secrets, versions) = (env("BENCH_SECRETS", 1000), env("BENCH_VERSIONS", 5));
    let restored = env("BENCH_RESTORE", 200);
    emu.seed("fr-par", A, secrets, versions);
    println!(
        "Scaleway emulator: {secrets} secrets × {versions} versions, {latency} ms latency, \
         {LIMIT} requests per key per one-second window"
    );
    let repo = repository().await;
    let source = ScalewaySource::new(client(emu), A);
    let opts = BackupOptions::default();
    let (first, m) = measured(emu, backup(&repo, &source, &opts, &Silent)).await;
    let first = first.expect("backup");
    line("full backup", &m);
    let (_, m) = measured(emu, backup(&repo, &source, &opts, &Silent)).await;
    line("unchanged incremental backup", &m);

    let snap = first.snapshot.expect("snapshot");
    let names: BTreeSet<String> = secretsnap::engine::load_secrets(&repo, &snap, |_| true)
        .await
        .expect("snapshot")
        .iter()
        .map(|s| s.full_name())
        .take(restored)
        .collect();
    let dest = ScalewayDestination::new(client(emu), B);
    let (out, m) = measured(
        emu,
        restore_snapshot(
            &repo,
            &snap,
            &dest,
            &RestoreOptions::default(),
            false,
            |s| names.contains(&s.full_name()),
            &Silent,
        ),
    )
    .await;
    let (_, report) = out.expect("restore");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    line(
        &format!(
            "restore {} secrets, {} versions",
            report.created_secrets, report.created_versions
        ),
        &m,
    );
}

/// The disaster-recovery restore: a snapshot in a distant repository, restored on a fresh host.
async fn disaster_recovery(emu: &Emulator) {
    let n = env("BENCH_DR_SECRETS", 400);
    let latency = Duration::from_millis(env("BENCH_REPO_LATENCY_MS", 25) as u64);
    emu.seed("fr-par", C, n, 3);
    let objects: Arc<dyn Backend> = Arc::new(ObjectStoreBackend::memory());
    let snap = {
        let repo = repository_on(objects.clone()).await;
        let source = ScalewaySource::new(client(emu), C);
        backup(&repo, &source, &BackupOptions::default(), &Silent)
            .await
            .expect("backup")
            .snapshot
            .expect("snapshot")
    };
    for dry_run in [true, false] {
        let distant = Arc::new(Metered::new(objects.clone(), latency));
        let started = Instant::now();
        let repo = Repository::open(
            distant.clone(),
            b"bench",
            OpenOptions {
                cache_dir: None,
                ..Default::default()
            },
        )
        .await
        .expect("open");
        let dest = ScalewayDestination::new(client(emu), D);
        let (out, m) = measured(
            emu,
            restore_snapshot(
                &repo,
                &snap,
                &dest,
                &RestoreOptions::default(),
                dry_run,
                |_| true,
                &Silent,
            ),
        )
        .await;
        let (_, report) = out.expect("restore");
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        let m = Measured {
            wall: started.elapsed(),
            ..m
        };
        line(
            &format!(
                "DR {}restore, {} secrets, {} versions",
                if dry_run { "dry-run " } else { "" },
                if dry_run { n } else { report.created_secrets },
                report.created_versions
            ),
            &m,
        );
        println!(
            "  repository: {} requests at {} ms each (opening included)",
            distant.requests(),
            latency.as_millis()
        );
    }
}

/// Calls per AWS quota group and the time they need at its quota.
fn print_quotas(quotas: &secretsnap_aws::quota::Quotas) {
    for (api, calls) in quotas.counts() {
        if calls > 0 {
            println!(
                "  {:<56} {calls:>6} calls  {:>6.1} s at {}/s",
                api.name(),
                calls as f64 / api.quota(),
                api.quota()
            );
        }
    }
}

async fn aws(url: &str) {
    use secretsnap_aws::{fixtures, AwsSource};
    let n = env("BENCH_AWS_SECRETS", 300);
    // A region of its own per run: moto keeps what earlier runs created.
    let region = std::env::var("BENCH_AWS_REGION").unwrap_or_else(|_| "ap-east-1".into());
    let client = fixtures::client(&region, url).await;
    for i in 0..n {
        client
            .sdk()
            .create_secret()
            .name(format!("bench/s{i:05}"))
            .secret_string(format!("value {i}"))
            .send()
            .await
            .expect("seed");
    }
    let source = AwsSource::new(client.clone());
    let repo = repository().await;
    let opts = BackupOptions::default();
    let started = Instant::now();
    let first = backup(&repo, &source, &opts, &Silent)
        .await
        .expect("backup");
    let wall = started.elapsed().as_secs_f64();
    let floor = client.quotas().floor_seconds();
    println!(
        "AWS on moto, {n} secrets: full backup {} calls in {wall:.1} s, floor {floor:.1} s at \
         AWS's quotas ({:.2}×)",
        first.api_calls,
        wall / floor
    );
    print_quotas(client.quotas());
    let started = Instant::now();
    let again = backup(&repo, &source, &opts, &Silent)
        .await
        .expect("backup");
    let pages = n.div_ceil(100);
    println!(
        "AWS unchanged incremental: {} calls in {:.2} s for {pages} ListSecrets pages ({:.2}×)",
        again.api_calls,
        started.elapsed().as_secs_f64(),
        again.api_calls as f64 / pages as f64
    );

    // Restore into a region of its own: the floor is the busiest write quota group.
    let target_region =
        std::env::var("BENCH_AWS_TARGET_REGION").unwrap_or_else(|_| "ap-southeast-3".into());
    let target = fixtures::client(&target_region, url).await;
    let dest = secretsnap_aws::AwsDestination::new(target.clone());
    let started = Instant::now();
    let (_, report) = restore_snapshot(
        &repo,
        &first.snapshot.expect("snapshot"),
        &dest,
        &RestoreOptions::default(),
        false,
        |_| true,
        &Silent,
    )
    .await
    .expect("restore");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let wall = started.elapsed().as_secs_f64();
    let floor = target.quotas().floor_seconds();
    println!(
        "AWS restore of {} secrets: {} calls in {wall:.1} s, floor {floor:.1} s at AWS's quotas \
         ({:.2}×)",
        report.created_secrets,
        report.api_calls,
        wall / floor
    );
    print_quotas(target.quotas());
}

fn main() {
    // The emulator on its own threads, so its latency timers never wait for the engine.
    let emu_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let latency = env("BENCH_LATENCY_MS", 30) as u64;
    let config = Config {
        latency: Duration::from_millis(latency),
        rate_limit: Some(LIMIT),
        ..Default::default()
    };
    let emu = emu_rt
        .block_on(Emulator::start(
            config,
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("emulator");
    if std::env::var_os("BENCH_SKIP_SCALEWAY").is_none() {
        rt.block_on(scaleway(&emu, latency));
    }
    if std::env::var_os("BENCH_SKIP_DR").is_none() {
        rt.block_on(disaster_recovery(&emu));
    }
    if let Ok(url) = std::env::var("SECRETSNAP_BENCH_MOTO") {
        rt.block_on(aws(&url));
    }
}
