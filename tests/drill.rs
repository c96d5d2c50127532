//! Restore drills through the built binary: a seeded project drilled into a scratch project is
//! verified, timed and cleaned up, twice in a row (the first drill's secrets are still pending
//! deletion when the second runs); a scratch project holding someone else's secret is refused
//! unless allowed, and that secret survives; what an interrupted drill left is cleaned first; a
//! value altered in the scratch project behind the drill's back fails it, named without the
//! value; and the same drill on AWS (moto).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{World, A, B};
use secretsnap_scaleway::emulator::Config;
use serde_json::json;

fn live_in(w: &World, project: &str) -> Vec<String> {
    w.emu.with_state(|st| {
        st.secrets
            .values()
            .filter(|s| s.project_id == project && s.deletion_requested_at.is_none())
            .map(|s| format!("{}/{}", s.path.trim_end_matches('/'), s.name))
            .collect()
    })
}

fn create_in(w: &World, project: &str, path: &str, name: &str) {
    w.emu.with_state(|st| {
        let req =
            serde_json::from_value(json!({"project_id": project, "name": name, "path": path}))
                .unwrap();
        st.create_secret("fr-par", req).unwrap();
    });
}

#[test]
fn drills_verify_time_and_clean_up_twice_in_a_row() {
    let w = World::new(Config::default());
    let scratch = format!("scaleway://fr-par/{B}");
    w.json(&["init"], 0);
    w.json(&["backup", &format!("scaleway://fr-par/{A}")], 0);

    let first = w.json(&["drill", "--into", &scratch], 0);
    let d = &first["drill"];
    assert_eq!(first["ok"], true, "{first}");
    assert!(d["restored_secrets"].as_u64().unwrap() > 0, "{d}");
    assert!(d["rto_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(d["mismatches"], json!([]));
    assert_eq!(d["removed"], d["restored_secrets"], "{d}");
    assert!(live_in(&w, B).is_empty(), "scratch left as it was");
    assert!(d["prefix"]
        .as_str()
        .unwrap()
        .starts_with("/secretsnap-drill-"));

    // Again at once: the first drill's names are still pending deletion, this one's are new.
    let second = w.json(&["drill", "latest", "--into", &scratch], 0);
    assert_eq!(second["ok"], true, "{second}");
    assert_ne!(second["drill"]["prefix"], d["prefix"]);
    assert!(live_in(&w, B).is_empty());
    assert_eq!(
        live_in(&w, A).len(),
        common::SECRETS,
        "the source is untouched"
    );
}

#[test]
fn a_scratch_target_with_foreign_secrets_is_refused_and_drill_shaped_ones_survive() {
    let w = World::new(Config::default());
    let scratch = format!("scaleway://fr-par/{B}");
    w.json(&["init"], 0);
    w.json(&["backup", &format!("scaleway://fr-par/{A}")], 0);
    create_in(&w, B, "/team", "not-ours");
    let (rc, out, err) = w.run(&["drill", "--into", &scratch]);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(
        err.contains("no drill of this repository") && err.contains("/team/not-ours"),
        "{err}"
    );

    // Shaped like a drill's folder, made by hand (one protected, one with a forged mark):
    // a folder's name proves nothing, so no drill may delete or unprotect them.
    let old = "/secretsnap-drill-20240606t120000-00ff";
    create_in(&w, B, old, "left-behind");
    create_in(&w, B, &format!("{old}/billing"), "stripe");
    w.emu.with_state(|st| {
        for s in st.secrets.values_mut().filter(|s| s.project_id == B) {
            if s.name == "stripe" {
                s.protected = true;
            }
            if s.name == "left-behind" {
                s.tags = vec![format!("secretsnap-drill={}", "0".repeat(32))];
            }
        }
    });
    let r = w.json(&["drill", "--into", &scratch, "--allow-foreign"], 0);
    assert_eq!(r["drill"]["leftovers_removed"], 0, "{r}");
    let mut left = live_in(&w, B);
    left.sort();
    assert_eq!(
        left,
        [
            format!("{old}/billing/stripe"),
            format!("{old}/left-behind"),
            "/team/not-ours".to_string()
        ],
        "every secret the drill did not create remains"
    );
    let protected = w.emu.with_state(|st| {
        st.secrets
            .values()
            .any(|s| s.project_id == B && s.name == "stripe" && s.protected)
    });
    assert!(protected, "never unprotected");
}

/// Two drills into one scratch project at once (every source of a policy drills into its
/// `into`): neither touches the other's secrets, both pass, and the project ends empty.
#[test]
fn two_drills_at_once_into_one_target_both_pass() {
    let w = World::new(Config {
        latency: std::time::Duration::from_millis(10),
        ..Config::default()
    });
    let scratch = format!("scaleway://fr-par/{B}");
    w.json(&["init"], 0);
    w.json(&["backup", &format!("scaleway://fr-par/{A}")], 0);
    let args = ["drill", "--into", scratch.as_str(), "--json"];
    let results: Vec<(i32, String, String)> = std::thread::scope(|scope| {
        let first = scope.spawn(|| w.run(&args));
        // The second starts while the first is restoring.
        let start = std::time::Instant::now();
        while live_in(&w, B).is_empty() && start.elapsed() < std::time::Duration::from_secs(30) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let second = scope.spawn(|| w.run(&args));
        vec![first.join().unwrap(), second.join().unwrap()]
    });
    let mut prefixes = Vec::new();
    for (rc, out, err) in &results {
        let r: serde_json::Value =
            serde_json::from_str(out).unwrap_or_else(|_| panic!("{out}{err}"));
        assert_eq!((*rc, &r["ok"]), (0, &json!(true)), "{r}\n{err}");
        assert_eq!(r["drill"]["mismatches"], json!([]), "{r}");
        assert_eq!(r["drill"]["leftovers_removed"], 0, "{r}");
        assert_eq!(r["drill"]["removed"], r["drill"]["restored_secrets"], "{r}");
        prefixes.push(r["drill"]["prefix"].as_str().unwrap().to_string());
    }
    assert_ne!(prefixes[0], prefixes[1]);
    assert!(live_in(&w, B).is_empty(), "{:?}", live_in(&w, B));
}

/// A drill killed halfway leaves marked secrets; a later drill sweeps them only once they are
/// stale (older than any drill runs), and never a running drill's.
#[test]
fn an_interrupted_drills_marked_leftovers_are_swept_once_stale() {
    let w = World::new(Config {
        latency: std::time::Duration::from_millis(20),
        ..Config::default()
    });
    let scratch = format!("scaleway://fr-par/{B}");
    w.json(&["init"], 0);
    w.json(&["backup", &format!("scaleway://fr-par/{A}")], 0);
    // Started "two days ago" (its folder says so), killed while restoring.
    let then = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    let mut child = w
        .std_cmd(&["drill", "--into", &scratch, "--now", &then])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while live_in(&w, B).len() < 2 && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = live_in(&w, B);
    assert!(!left.is_empty(), "the killed drill left secrets");

    // Fresh by the provider's clock (created just now): a later drill leaves them alone.
    let r = w.json(&["drill", "--into", &scratch], 0);
    assert_eq!(r["drill"]["leftovers_removed"], 0, "{r}");
    assert_eq!(live_in(&w, B).len(), left.len());

    // Two days old by the provider's clock too: swept.
    w.emu.with_state(|st| {
        for s in st.secrets.values_mut().filter(|s| s.project_id == B) {
            s.created_at -= chrono::Duration::days(2);
        }
    });
    // Two drills at once now: both may try to sweep the same leftovers; both pass, and together
    // they sweep each leftover once.
    let args = ["drill", "--into", scratch.as_str(), "--json"];
    let runs: Vec<(i32, String, String)> = std::thread::scope(|scope| {
        let a = scope.spawn(|| w.run(&args));
        let b = scope.spawn(|| w.run(&args));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let mut swept = 0;
    for (rc, out, err) in &runs {
        let r: serde_json::Value =
            serde_json::from_str(out).unwrap_or_else(|_| panic!("{out}{err}"));
        assert_eq!((*rc, &r["ok"]), (0, &json!(true)), "{r}\n{err}");
        swept += r["drill"]["leftovers_removed"].as_u64().unwrap() as usize;
    }
    assert!(
        swept >= left.len(),
        "every leftover swept: {swept} of {}",
        left.len()
    );
    assert!(live_in(&w, B).is_empty());
}

#[test]
fn a_value_altered_behind_the_drills_back_fails_it() {
    let w = World::new(Config {
        latency: std::time::Duration::from_millis(15),
        ..Config::default()
    });
    let scratch = format!("scaleway://fr-par/{B}");
    w.json(&["init"], 0);
    w.json(&["backup", &format!("scaleway://fr-par/{A}")], 0);

    // Alter the first value the drill writes into the scratch project, as soon as it lands.
    let done = Arc::new(AtomicBool::new(false));
    let altered = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| loop {
            let hit = w.emu.with_state(|st| {
                for s in st.secrets.values_mut() {
                    if s.project_id == B && s.path.starts_with("/secretsnap-drill-") {
                        if let Some(v) = s.versions.values_mut().find(|v| !v.data.is_empty()) {
                            v.data[0] ^= 0x20;
                            return Some(format!("{}/{}", s.path, s.name));
                        }
                    }
                }
                None
            });
            if hit.is_some() || done.load(Ordering::SeqCst) {
                return hit;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        });
        let (rc, out, err) = w.run(&["drill", "--into", &scratch, "--json"]);
        done.store(true, Ordering::SeqCst);
        let altered = watcher
            .join()
            .unwrap()
            .expect("the watcher altered a value");
        assert_eq!(rc, 1, "{out}{err}");
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["ok"], false);
        let mismatches = r["drill"]["mismatches"].to_string();
        assert!(mismatches.contains("values differ"), "{mismatches}");
        assert_eq!(
            r["drill"]["removed"], r["drill"]["restored_secrets"],
            "still cleaned up"
        );
        altered
    });
    assert!(altered.starts_with("/secretsnap-drill-"));
    assert!(live_in(&w, B).is_empty());
}

/// The same drill on moto, through the built binary: realistic fixtures (labels, deprecated
/// versions, AWSPENDING, binary, KMS key, a resource policy) restored into another region,
/// verified, then force-deleted, leaving the scratch region empty.
#[test]
fn a_drill_on_aws_verifies_and_force_deletes() {
    use secretsnap_aws::{fixtures, AwsSource};
    use secretsnap_core::{Filter, Source};

    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let w = World::new(Config::default());
    let src = w.rt.block_on(fixtures::client("sa-east-1", &url));
    w.rt.block_on(fixtures::seed(&src, "drilled")).unwrap();
    w.json(&["init"], 0);
    w.json(&["backup", "aws://sa-east-1?path=/drilled"], 0);
    // Made by hand in a drill-shaped folder: a drill must never force-delete it.
    let scratch = w.rt.block_on(fixtures::client("me-central-1", &url));
    let hand_made = "secretsnap-drill-20240606t120000-00ff/billing/stripe";
    w.rt.block_on(
        scratch
            .sdk()
            .create_secret()
            .name(hand_made)
            .secret_string("not a drill's")
            .send(),
    )
    .unwrap();
    let (rc, out, err) = w.run(&["drill", "--into", "aws://me-central-1"]);
    assert!(
        rc == 1 && err.contains("billing/stripe"),
        "refused: {out}{err}"
    );
    let r = w.json(
        &["drill", "--into", "aws://me-central-1", "--allow-foreign"],
        0,
    );
    let d = &r["drill"];
    assert_eq!(r["ok"], true, "{r}");
    assert!(d["restored_secrets"].as_u64().unwrap() >= 4, "{d}");
    assert_eq!(d["removed"], d["restored_secrets"], "{d}");
    assert_eq!(d["mismatches"], json!([]));
    assert_eq!(d["leftovers_removed"], 0, "{d}");
    let left =
        w.rt.block_on(AwsSource::new(scratch).list(&Filter::default()))
            .unwrap();
    let names: Vec<String> = left.iter().map(|s| s.full_name()).collect();
    assert!(
        names.len() == 1 && names[0].trim_start_matches('/') == hand_made,
        "the drill's own deleted without a recovery window, the hand-made one kept: {names:?}"
    );
}

/// A policy with a drill: `schedule once` backs the source up, then drills it (after the
/// backup, in the same pass); `status` shows the drill and stays in SLA; the next drill, with a
/// value altered behind its back, fails and puts the source out of SLA (exit 4) naming why; the
/// exports carry the drill job.
#[test]
fn a_policy_drill_is_scheduled_shown_and_breaches_the_sla_when_it_fails() {
    let w = World::new(Config {
        latency: std::time::Duration::from_millis(15),
        ..Config::default()
    });
    let d = w.dir.path().display().to_string();
    let repo = w.repo_location();
    std::fs::write(
        w.dir.path().join("config.toml"),
        format!(
            r#"
[schedule]
state_file = "{d}/state.json"
parallel = 3

[repositories.main]
url = "{repo}"
password = {{ env = "SECRETSNAP_PASSWORD" }}
cache_dir = "{d}/cache"

[sources.prod]
url = "scaleway://fr-par/{A}"
repository = "main"
environment = "production"

[policies.prod]
scope = {{ environment = "production" }}
every = "1h"
drill = {{ every = "1d", into = "scaleway://fr-par/{B}" }}
"#
        ),
    )
    .unwrap();
    let config = w.dir.path().join("config.toml").display().to_string();
    let with = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--config".to_string(), config.clone()];
        a.extend(args.iter().map(|s| s.to_string()));
        a
    };
    let run = |args: &[&str], code: i32| -> serde_json::Value {
        let a = with(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        w.json(&a, code)
    };
    run(&["init"], 0);
    let once = run(&["schedule", "once"], 0);
    let jobs: Vec<(&str, &str)> = once["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["job"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    let at = |name: &str| jobs.iter().position(|(j, _)| *j == name).unwrap();
    assert!(at("backup:prod") < at("drill:prod"), "{jobs:?}");
    assert!(jobs.iter().all(|(_, o)| *o == "ok"), "{once}");
    let status = run(&["status"], 0);
    let prod = &status["sources"][0];
    assert_eq!(prod["last_drill"]["ok"], true, "{prod}");
    assert!(prod["last_drill"]["rto_seconds"].as_f64().unwrap() > 0.0);
    assert!(prod["drill_deadline"].is_string(), "{prod}");
    assert!(live_in(&w, B).is_empty());
    let cron = w.run(
        &with(&["schedule", "export", "cron"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(cron.1.contains("schedule job drill:prod"), "{}", cron.1);

    // The next drill, with one value altered in the scratch project as it lands.
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| loop {
            let hit = w.emu.with_state(|st| {
                st.secrets
                    .values_mut()
                    .filter(|s| s.project_id == B && s.deletion_requested_at.is_none())
                    .find_map(|s| s.versions.values_mut().find(|v| !v.data.is_empty()))
                    .map(|v| v.data[0] ^= 0x20)
            });
            if hit.is_some() || done.load(Ordering::SeqCst) {
                return hit.is_some();
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        });
        let (rc, out, err) = w.run(
            &with(&[
                "drill",
                "@prod",
                "--into",
                &format!("scaleway://fr-par/{B}"),
            ])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        );
        done.store(true, Ordering::SeqCst);
        assert!(watcher.join().unwrap(), "the watcher altered a value");
        assert_eq!(rc, 1, "{out}{err}");
        assert!(
            out.contains("MISMATCH") && out.contains("values differ"),
            "{out}"
        );
    });
    let (rc, out, _) = w.run(
        &with(&["status"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(rc, 4, "{out}");
    assert!(
        out.contains("out of SLA: prod: the last restore drill failed"),
        "{out}"
    );
    let status = run(&["status"], 4);
    assert_eq!(status["sources"][0]["last_drill"]["ok"], false);
    let (rc, metrics, _) = w.run(
        &with(&["status", "--prometheus"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(rc, 0);
    assert!(
        metrics.lines().any(
            |l| l.starts_with("secretsnap_drill_last_success{source=\"prod\"") && l.ends_with(" 0")
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("secretsnap_drill_last_rto_seconds{"),
        "{metrics}"
    );
}
