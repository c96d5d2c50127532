//! Ingest benchmarks of the store (criterion), plus the per-core speeds of the two primitives that
//! bound it, measured in the same run so docs/benchmarks.md can compare like with like:
//! (a) 100 000 records of 64 B–64 KiB (log-uniform sizes, deterministic pseudo-random bytes);
//! (b) 1 GiB of large blobs (16 × 64 MiB). Both into a local directory repository in a tempdir.
//! `benches/vs-restic.sh` writes the same records as files and times restic on them.
//! Run: `cargo bench -p secretsnap-store --bench ingest` (a target of the store crate, so it builds
//! without any connector; SECRETSNAP_BENCH_QUICK=1 for a 10× smaller run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use secretsnap_store::backend::{Backend, LocalBackend};
use secretsnap_store::{KdfParams, OpenOptions, Repository};

/// Deterministic record sizes and contents shared with `vs-restic.sh` (via `--dump-records`).
pub fn records(n: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let exp = (next() % 10_000) as f64 / 10_000.0 * 10.0; // 2^6 .. 2^16
            let len = (64.0 * 2f64.powf(exp)) as usize;
            let mut v = vec![0u8; len.min(65_536)];
            for chunk in v.chunks_mut(8) {
                let r = next().to_le_bytes();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
            v
        })
        .collect()
}

fn blobs(total: usize, each: usize) -> Vec<Vec<u8>> {
    (0..total / each)
        .map(|b| {
            let mut x: u64 = 0x9E37_79B9 + b as u64;
            let mut v = vec![0u8; each];
            for chunk in v.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            v
        })
        .collect()
}

fn ingest(rt: &tokio::runtime::Runtime, items: &[Vec<u8>]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(dir.path().join("repo")));
    let opts = OpenOptions {
        cache_dir: Some(dir.path().join("cache")),
        kdf: Some(KdfParams::insecure_fast()),
        ..Default::default()
    };
    rt.block_on(async {
        let repo = Repository::init(backend, b"bench", opts).await.unwrap();
        let start = Instant::now();
        let mut w = repo.writer().await.unwrap();
        for (i, item) in items.iter().enumerate() {
            w.add(
                &format!("r/{i:06}"),
                b"{\"type\":\"opaque\"}",
                Some(&format!("item/{i}")),
                item,
            )
            .await
            .unwrap();
        }
        w.commit(Default::default()).await.unwrap();
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let quick = std::env::var("SECRETSNAP_BENCH_QUICK").is_ok();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let mut prim = c.benchmark_group("primitives (one core)");
    let buf = vec![7u8; 1 << 20];
    prim.throughput(Throughput::Bytes(buf.len() as u64));
    let key = [1u8; 32];
    prim.bench_function("blake3 keyed 1 MiB", |b| {
        b.iter(|| blake3::keyed_hash(&key, &buf))
    });
    let keys = secretsnap_store::crypto::Keys::new(
        &secretsnap_store::crypto::MasterKey::generate(),
        [0; 16],
    );
    let id = secretsnap_store::Id([0; 32]);
    prim.bench_function("xchacha20-poly1305 seal 1 MiB", |b| {
        b.iter(|| keys.seal(secretsnap_store::crypto::Kind::Data, &id, &buf))
    });
    prim.finish();

    let n = if quick { 10_000 } else { 100_000 };
    let recs = records(n);
    let bytes: usize = recs.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(
        format!("{n} records 64B-64KiB ({} MiB)", bytes >> 20),
        |b| b.iter_custom(|iters| (0..iters).map(|_| ingest(&rt, &recs)).sum()),
    );
    drop(recs);
    let total = if quick { 128 << 20 } else { 1 << 30 };
    let big = blobs(total, 64 << 20);
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function(format!("{} MiB of 64 MiB blobs", total >> 20), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest(&rt, &big)).sum())
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    // `cargo bench -p secretsnap-store --bench ingest -- --dump-records DIR N` writes the records as files for restic.
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--dump-records") {
        let dir = std::path::PathBuf::from(&args[i + 1]);
        let n: usize = args
            .get(i + 2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000);
        for (k, r) in records(n).iter().enumerate() {
            let d = dir.join(format!("{:03}", k / 1000));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{k:06}")), r).unwrap();
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--dump-blobs") {
        let dir = std::path::PathBuf::from(&args[i + 1]);
        std::fs::create_dir_all(&dir).unwrap();
        for (k, b) in blobs(1 << 30, 64 << 20).iter().enumerate() {
            std::fs::write(dir.join(format!("blob{k:02}")), b).unwrap();
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
