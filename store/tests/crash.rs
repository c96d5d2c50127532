//! Crash test: a child process writes snapshots in a loop and is killed with SIGKILL at a random
//! instant, 50 times (override with SECRETSNAP_CRASH_ITERATIONS). After every kill, each snapshot
//! the child reported committed must read back byte-identical and `check` must pass (unreferenced
//! data and temp files are allowed, as warnings).
//!
//! The child is this same test binary re-run with `CRASH_CHILD_REPO` set (see `crash_child`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secretsnap_store::backend::{Backend, LocalBackend};
use secretsnap_store::{Id, Repository};

fn content(seed: u64, i: u64) -> Vec<u8> {
    let n = ((seed * 7919 + i * 104_729) % 40_000) as usize
        + (if i.is_multiple_of(17) { 600_000 } else { 0 });
    (0..n)
        .map(|k| ((k as u64).wrapping_mul(seed + 1).wrapping_add(i) % 251) as u8)
        .collect()
}

/// The writer side: runs only when re-executed by `sigkill_never_damages_committed_snapshots`.
#[tokio::test]
async fn crash_child() {
    let Ok(repo_dir) = std::env::var("CRASH_CHILD_REPO") else {
        return;
    };
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(&repo_dir));
    let repo = Repository::open(backend, common::PW, common::opts(None))
        .await
        .unwrap();
    let mut seed: u64 = std::env::var("CRASH_CHILD_SEED").unwrap().parse().unwrap();
    loop {
        let mut w = repo.writer().await.unwrap();
        for i in 0..40 {
            w.add(
                &format!("rec/{i}"),
                format!("meta {seed} {i}").as_bytes(),
                None,
                &content(seed, i),
            )
            .await
            .unwrap();
        }
        let (id, _) = w.commit(common::meta("test://crash")).await.unwrap();
        println!("COMMITTED {id} {seed}");
        seed += 1;
    }
}

#[tokio::test]
async fn sigkill_never_damages_committed_snapshots() {
    let iterations: u64 = std::env::var("SECRETSNAP_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let (backend, _repo) = common::local_repo(dir.path()).await;
    let repo_dir = dir.path().join("repo");
    let mut committed: Vec<(Id, u64)> = Vec::new();
    let mut seed = 1u64;
    let started = Instant::now();
    for iter in 0..iterations {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("CRASH_CHILD_REPO", &repo_dir)
            .env("CRASH_CHILD_SEED", seed.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    let mut p = l.strip_prefix("COMMITTED ")?.split(' ');
                    Some((Id::from_hex(p.next()?)?, p.next()?.parse::<u64>().ok()?))
                })
                .collect::<Vec<_>>()
        });
        let delay = 20 + (rand_u64(iter) % 1200);
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let got = reader.join().unwrap();
        let got_len = got.len();
        seed += got.len() as u64 + 1;
        committed.extend(got);
        // Every committed snapshot so far must still open (header and trees) from a fresh handle;
        // the ones committed in this run are also read back in full.
        let repo = Repository::open(backend.clone(), common::PW, common::opts(None))
            .await
            .unwrap();
        for (n, (id, s)) in committed.iter().enumerate() {
            let fresh = n + got_len >= committed.len();
            verify(&repo, id, *s, fresh)
                .await
                .unwrap_or_else(|e| panic!("iteration {iter}: committed snapshot {id}: {e}"));
        }
        let report = repo.check(None).await.unwrap();
        assert!(
            report.ok(),
            "iteration {iter}: check failed after SIGKILL: {:?}",
            report.errors
        );
    }
    let repo = Repository::open(backend, common::PW, common::opts(None))
        .await
        .unwrap();
    let report = repo
        .check(Some(secretsnap_store::Subset::All))
        .await
        .unwrap();
    assert!(report.ok(), "final read-data check: {:?}", report.errors);
    eprintln!(
        "crash test: {iterations} SIGKILLs, {} committed snapshots verified, {} warnings \
         (unreferenced data), {:?}",
        committed.len(),
        report.warnings.len(),
        started.elapsed()
    );
    assert!(
        !committed.is_empty(),
        "the child must have committed something in {iterations} runs"
    );
}

/// Opens a committed snapshot; with `contents`, reads every entry and compares it byte for byte.
async fn verify(repo: &Repository, id: &Id, seed: u64, contents: bool) -> Result<(), String> {
    let info = repo.snapshot(id).await.map_err(|e| e.to_string())?;
    let entries = repo
        .entries(&info.header)
        .await
        .map_err(|e| e.to_string())?;
    if entries.len() != 40 {
        return Err(format!("{} entries instead of 40", entries.len()));
    }
    if contents {
        for e in &entries {
            let i: u64 = e
                .path
                .trim_start_matches("rec/")
                .parse()
                .map_err(|_| "bad path".to_string())?;
            let got = repo.read_content(e).await.map_err(|err| err.to_string())?;
            if got[..] != content(seed, i)[..] {
                return Err(format!("content of {} differs", e.path));
            }
        }
    }
    Ok(())
}

fn rand_u64(i: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ std::process::id() as u64
        ^ (Instant::now().elapsed().as_nanos() as u64);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}
