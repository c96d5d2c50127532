//! Lock-free maintenance with real processes: the built binary, the Scaleway emulator on
//! 127.0.0.1, a local or S3 (moto) repository made with a short margin.
//!
//! - Chaos: rounds of two concurrent backups of different projects, a forget, a maintenance run
//!   (`prune`, lock-free) started at a random moment, and an occasional `kill -9` of any of them;
//!   fixed seed, bounded time. No backup is ever refused by a lock (exit 5) and no maintenance
//!   run fails; after every round `check --read-data` passes; space is really reclaimed; at the
//!   end every snapshot reported committed (and not forgotten) restores equal to its source.
//! - A backup that runs longer than the margin refuses to commit and says why; the repository
//!   stays whole and the next backup commits.

mod common;

use std::time::{Duration, Instant};

use common::procs::{
    fast, finish, restores_equal, s3_location, snapshot_count, spawn, url, Ledger, Rng,
};
use common::{World, A, C};
use secretsnap_scaleway::emulator::Config;
use serde_json::Value;

/// Margin 4 s, skew 1 s: a marked pack may be deleted 6 s after its mark.
const INIT: [&str; 5] = ["init", "--gc-margin", "4s", "--gc-skew", "1s"];

fn chaos(w: World, rounds: usize, seed: u64) {
    w.emu.seed("fr-par", C, 8, 2);
    w.json(&INIT, 0);
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(200);
    let mut ledger = Ledger::default();
    let (mut kills, mut runs, mut deleted) = (0, 0, 0);
    for round in 0..rounds {
        if Instant::now() > deadline {
            break;
        }
        ledger.forget_one(&w, &mut rng);
        let mut children = vec![
            (
                spawn(&w, &["backup", &url(A), "--read-disabled", "--json"]),
                Some(A),
            ),
            (
                spawn(&w, &["backup", &url(C), "--read-disabled", "--json"]),
                Some(C),
            ),
        ];
        std::thread::sleep(Duration::from_millis(rng.below(500)));
        children.push((spawn(&w, &["prune", "--json"]), None));
        if rng.below(3) == 0 {
            std::thread::sleep(Duration::from_millis(rng.below(500)));
            let _ = children[rng.below(3) as usize].0.kill();
            kills += 1;
        }
        for (child, project) in children {
            let (rc, out, err) = finish(child);
            match (rc, project) {
                (0, Some(project)) => {
                    let v: Value = serde_json::from_str(&out).unwrap();
                    ledger.committed.push((
                        v["backup"]["snapshot"].as_str().unwrap().to_string(),
                        project,
                    ));
                }
                (0, None) => {
                    let v: Value = serde_json::from_str(&out).unwrap();
                    deleted += v["packs_deleted"].as_u64().unwrap();
                    runs += 1;
                }
                (-9, _) => {}
                (rc, what) => panic!("round {round}: {what:?} exited {rc}: {err}"),
            }
        }
        let (rc, out, err) = w.run(&["check", "--read-data"]);
        assert_eq!(rc, 0, "round {round}: check failed:\n{out}\n{err}");
        // Let marks age past the margin now and then, so later runs delete.
        std::thread::sleep(Duration::from_millis(rng.below(3000)));
    }
    // Quiet maintenance until what the forgets left is reclaimed.
    std::thread::sleep(Duration::from_secs(7));
    let last = w.json(&["prune"], 0);
    deleted += last["packs_deleted"].as_u64().unwrap();
    w.json(&["check", "--read-data"], 0);
    let survivors = ledger.survivors();
    eprintln!(
        "maintenance chaos: {} commits, {} forgotten, {runs} maintenance runs, {deleted} packs \
         deleted, {kills} kills",
        ledger.committed.len(),
        ledger.forgotten.len()
    );
    assert!(
        survivors.len() >= 4,
        "too few commits: {:?}",
        ledger.committed
    );
    assert!(runs >= rounds / 2, "maintenance ran {runs} times");
    assert!(deleted > 0, "no space was ever reclaimed");
    for (i, (id, project)) in survivors.iter().enumerate() {
        let fresh = format!("{:08x}-4444-4000-8000-{:012x}", i, i);
        restores_equal(&w, id, project, &fresh);
    }
}

#[test]
fn chaos_backups_forget_maintenance_and_kills_never_refuse_a_backup_nor_lose_data_local() {
    chaos(
        World::new(Config {
            latency: Duration::from_millis(20),
            ..fast()
        }),
        12,
        0x5eed_2026_1206,
    );
}

#[test]
fn chaos_backups_forget_maintenance_and_kills_never_refuse_a_backup_nor_lose_data_s3() {
    if let Some(loc) = s3_location("maintenance-chaos") {
        chaos(
            World::new(Config {
                latency: Duration::from_millis(20),
                ..fast()
            })
            .at(loc),
            8,
            0x5eed_2026_1207,
        );
    }
}

#[test]
fn a_backup_running_past_the_margin_refuses_to_commit_and_says_why() {
    // Each API call takes 2 s: listing and reading the project outlasts a 4 s margin.
    let w = World::new(Config {
        latency: Duration::from_millis(2000),
        ..fast()
    });
    w.json(&INIT, 0);
    let (rc, _, err) = w.run(&["backup", &url(A), "--read-disabled"]);
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("longer than the repository's maintenance margin"),
        "{err}"
    );
    w.emu.configure(|c| c.latency = Duration::ZERO);
    assert_eq!(snapshot_count(&w), 0);
    w.json(&["check", "--read-data"], 0);
    w.json(&["backup", &url(A), "--read-disabled"], 0);
    w.json(&["check", "--read-data"], 0);
    restores_equal(&w, "latest", A, "dddddddd-4444-4000-8000-00000000000d");
}
