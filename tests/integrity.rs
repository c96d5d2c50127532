//! Repository integrity with real processes: the built binary, the Scaleway emulator on
//! 127.0.0.1, and a local or S3 (moto) repository.
//!
//! - A backup still listing a slow API while `forget` + `prune` run: prune is refused (the
//!   backup holds its lock from its very first read), the backup commits, `check --read-data`
//!   passes and the newest snapshot restores equal to the source; local and S3.
//! - The lock object deleted under a running backup, then a prune: the backup fails before
//!   committing, and the repository stays whole.
//! - Chaos: rounds of two concurrent backups of different projects + forget + prune + an
//!   occasional `kill -9`, fixed seed, bounded time; after every round `check --read-data`
//!   passes; at the end every snapshot reported committed (and not forgotten) restores equal to
//!   its source.
//! - `prune --wait-lock` waits for a backup run by another process, or ends with exit 5 naming
//!   the holder.
//! - Under umask 022, the repository, the cache and the scheduler's state are private.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::procs::{
    fast, finish, restores_equal, s3_location, snapshot_count, spawn, url, wait_until, Ledger, Rng,
};
use common::{World, A, C};
use secretsnap_scaleway::emulator::Config;
use serde_json::Value;

fn lock_objects(w: &World) -> usize {
    let b = secretsnap_store::backend::open_url(&w.repo_location(), &Default::default()).unwrap();
    w.rt.block_on(b.list("locks/")).unwrap().len()
}

fn delete_locks(w: &World) {
    let b = secretsnap_store::backend::open_url(&w.repo_location(), &Default::default()).unwrap();
    w.rt.block_on(async {
        for o in b.list("locks/").await.unwrap() {
            b.delete(&o.name).await.unwrap();
        }
    });
}

fn overlapping_backup_forget_and_prune(w: World) {
    w.json(&["init"], 0);
    let s1 = w.json(&["backup", &url(A), "--read-disabled"], 0)["backup"]["snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    w.emu.configure(|c| c.latency = Duration::from_millis(1500));
    let running = spawn(&w, &["backup", &url(A), "--read-disabled", "--json"]);
    // The backup holds its lock before its first API call (each takes 1.5 s).
    wait_until("the backup's lock", Duration::from_secs(30), || {
        lock_objects(&w) > 0
    });
    let requests_before = w.emu.requests();
    w.json(&["forget", &s1], 0);
    let (rc, _, err) = w.run(&["prune", "--exclusive"]);
    assert_eq!(rc, 5, "prune during a backup must be refused: {err}");
    assert!(err.contains("locked") && err.contains("backup"), "{err}");
    assert!(
        w.emu.requests() <= requests_before + 2,
        "the backup was still listing when prune ran"
    );
    let (rc, out, err) = finish(running);
    assert_eq!(rc, 0, "{out}\n{err}");
    let s2: Value = serde_json::from_str(&out).unwrap();
    w.emu.configure(|c| c.latency = Duration::ZERO);

    w.json(&["check", "--read-data"], 0);
    restores_equal(&w, "latest", A, "dddddddd-2222-4000-8000-00000000000d");
    assert_eq!(
        w.json(&["snapshots"], 0)["snapshots"][0]["id"],
        s2["backup"]["snapshot"]
    );
    // Once the backup is done, prune reclaims S1's unique data and nothing else.
    w.json(&["prune", "--exclusive"], 0);
    w.json(&["check", "--read-data"], 0);
    restores_equal(&w, "latest", A, "eeeeeeee-2222-4000-8000-00000000000e");
}

#[test]
fn backup_overlapping_forget_and_prune_stays_restorable_local() {
    overlapping_backup_forget_and_prune(World::new(fast()));
}

#[test]
fn backup_overlapping_forget_and_prune_stays_restorable_s3() {
    if let Some(loc) = s3_location("overlap") {
        overlapping_backup_forget_and_prune(World::new(fast()).at(loc));
    }
}

#[test]
fn a_backup_whose_lock_is_deleted_fails_before_commit() {
    let w = World::new(fast());
    w.json(&["init"], 0);
    let s1 = w.json(&["backup", &url(A), "--read-disabled"], 0)["backup"]["snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    w.emu.configure(|c| c.latency = Duration::from_millis(1000));
    let running = spawn(&w, &["backup", &url(A), "--read-disabled", "--json"]);
    wait_until("the backup's lock", Duration::from_secs(30), || {
        lock_objects(&w) > 0
    });
    delete_locks(&w);
    // With the lock gone, nothing stops a prune: it deletes S1's data under the backup.
    w.json(&["forget", &s1], 0);
    let pruned = w.json(&["prune", "--exclusive"], 0);
    assert!(pruned["packs_deleted"].as_u64().unwrap() > 0, "{pruned}");
    let (rc, out, err) = finish(running);
    assert_eq!(rc, 1, "{out}\n{err}");
    assert!(err.contains("lock was lost"), "{err}");
    w.emu.configure(|c| c.latency = Duration::ZERO);
    assert_eq!(snapshot_count(&w), 0, "no snapshot was committed");
    w.json(&["check", "--read-data"], 0);
    // A new backup after all this is whole.
    w.json(&["backup", &url(A), "--read-disabled"], 0);
    w.json(&["check", "--read-data"], 0);
    restores_equal(&w, "latest", A, "dddddddd-2222-4000-8000-00000000000d");
}

/// A failure that is the lock doing its job, not damage (exit 5, the holder named).
fn refused_by_lock(rc: i32, err: &str) -> bool {
    rc == 5 && err.contains("locked")
}

#[test]
fn chaos_backups_forget_prune_and_kills_never_leave_a_dangling_snapshot() {
    let w = World::new(Config {
        latency: Duration::from_millis(20),
        ..fast()
    });
    w.emu.seed("fr-par", C, 8, 2);
    w.json(&["init"], 0);
    let mut rng = Rng(0x5eed_2026_1130);
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut ledger = Ledger::default();
    let mut kills = 0;
    let mut prunes = 0;
    for round in 0..10 {
        if Instant::now() > deadline {
            break;
        }
        ledger.forget_one(&w, &mut rng);
        // Prune before or after the two backups start, a random moment apart.
        let prune_first = rng.below(2) == 0;
        let mut prune = prune_first.then(|| spawn(&w, &["prune", "--exclusive", "--json"]));
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        let mut backups = vec![
            (
                spawn(&w, &["backup", &url(A), "--read-disabled", "--json"]),
                A,
            ),
            (
                spawn(&w, &["backup", &url(C), "--read-disabled", "--json"]),
                C,
            ),
        ];
        if !prune_first {
            std::thread::sleep(Duration::from_millis(rng.below(400)));
            prune = Some(spawn(&w, &["prune", "--exclusive", "--json"]));
        }
        // Sometimes kill -9 one of them at a random moment.
        if rng.below(3) == 0 {
            std::thread::sleep(Duration::from_millis(rng.below(600)));
            let victim = rng.below(3);
            let child = match victim {
                0 | 1 => &mut backups[victim as usize].0,
                _ => prune.as_mut().unwrap(),
            };
            let _ = child.kill();
            kills += 1;
        }
        for (child, project) in backups {
            let (rc, out, err) = finish(child);
            match rc {
                0 => {
                    let v: Value = serde_json::from_str(&out).unwrap();
                    ledger.committed.push((
                        v["backup"]["snapshot"].as_str().unwrap().to_string(),
                        project,
                    ));
                }
                -9 => {}
                _ => assert!(
                    refused_by_lock(rc, &err),
                    "round {round}: backup {rc}: {err}"
                ),
            }
        }
        let (rc, _, err) = finish(prune.take().unwrap());
        assert!(
            rc == 0 || rc == -9 || refused_by_lock(rc, &err),
            "round {round}: prune {rc}: {err}"
        );
        prunes += usize::from(rc == 0);
        let (rc, out, err) = w.run(&["check", "--read-data"]);
        assert_eq!(rc, 0, "round {round}: check failed:\n{out}\n{err}");
    }
    // A final prune with nothing running must succeed, then everything committed must restore.
    w.json(&["prune", "--exclusive"], 0);
    w.json(&["check", "--read-data"], 0);
    let survivors = ledger.survivors();
    assert!(
        survivors.len() >= 4,
        "too few commits to mean anything: {:?}",
        ledger.committed
    );
    eprintln!(
        "chaos: {} commits, {} forgotten, {prunes} prunes, {kills} kills",
        ledger.committed.len(),
        ledger.forgotten.len()
    );
    assert!(prunes >= 1, "no prune ever ran next to the backups");
    for (i, (id, project)) in survivors.iter().enumerate() {
        let fresh = format!("{:08x}-3333-4000-8000-{:012x}", i, i);
        restores_equal(&w, id, project, &fresh);
    }
}

#[test]
fn repository_cache_and_state_are_private_under_umask_022() {
    let w = World::new(fast());
    let d = w.dir.path();
    std::fs::write(d.join("passphrase"), "correct horse\n").unwrap();
    let config = format!(
        r#"
[schedule]
state_file = "{d}/state/state.json"
parallel = 1

[repositories.main]
url = "{d}/repo"
password = {{ file = "{d}/passphrase" }}
cache_dir = "{d}/cache"

[sources.a]
url = "scaleway://fr-par/{A}"
repository = "main"
read_disabled = true
credentials = {{ secret_key = {{ env = "SCW_SECRET_KEY" }} }}

[policies.all]
scope = {{}}
every = "1h"
keep = {{ last = 3 }}
"#,
        d = d.display()
    );
    std::fs::write(d.join("secretsnap.toml"), config).unwrap();
    let under_umask = |args: &[&str]| {
        let mut all = vec!["-c", "umask 022; exec \"$0\" \"$@\""];
        let bin = assert_cmd::cargo::cargo_bin("secretsnap");
        all.push(bin.to_str().unwrap());
        all.extend_from_slice(args);
        let c = w.std_cmd(&[]);
        let out = std::process::Command::new("sh")
            .args(&all)
            .envs(
                c.get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .env_remove("SECRETSNAP_REPOSITORY")
            .env_remove("SECRETSNAP_CACHE_DIR")
            .env("SECRETSNAP_CONFIG", d.join("secretsnap.toml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    under_umask(&["init", "-r", "@main"]);
    under_umask(&["schedule", "once"]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for base in ["repo", "cache", "state"] {
        let base = d.join(base);
        assert_eq!(mode(&base), 0o700, "{}", base.display());
        let files = common::repo_files(&base);
        assert!(!files.is_empty(), "{}", base.display());
        for f in files {
            let f = base.join(f);
            assert_eq!(mode(&f), 0o600, "{}", f.display());
            assert_eq!(mode(f.parent().unwrap()), 0o700, "{}", f.display());
        }
    }
    assert!(d.join("state/state.json").exists());
}

#[test]
fn prune_waits_for_a_backup_of_another_process_then_gives_up_with_the_holder_named() {
    let w = World::new(fast());
    w.json(&["init"], 0);
    w.json(&["backup", &url(A), "--read-disabled"], 0);
    w.emu.configure(|c| c.latency = Duration::from_millis(400));
    // Waits long enough: the backup finishes, then prune runs.
    let running = spawn(&w, &["backup", &url(A), "--read-disabled", "--json"]);
    wait_until("the backup's lock", Duration::from_secs(30), || {
        lock_objects(&w) > 0
    });
    let start = Instant::now();
    w.json(&["prune", "--exclusive", "--wait-lock", "60s"], 0);
    assert!(
        start.elapsed() > Duration::from_millis(500),
        "prune did wait"
    );
    let (rc, out, err) = finish(running);
    assert_eq!(rc, 0, "{out}\n{err}");
    // Too short a wait: a distinct exit code and the holder named.
    let running = spawn(&w, &["backup", &url(A), "--read-disabled", "--json"]);
    wait_until("the backup's lock", Duration::from_secs(30), || {
        lock_objects(&w) > 0
    });
    let (rc, _, err) = w.run(&["prune", "--exclusive", "--wait-lock", "1s"]);
    assert_eq!(rc, 5, "{err}");
    assert!(
        err.contains("shared lock by") && err.contains("backup"),
        "{err}"
    );
    assert_eq!(finish(running).0, 0);
    w.emu.configure(|c| c.latency = Duration::ZERO);
    w.json(&["check", "--read-data"], 0);
}
