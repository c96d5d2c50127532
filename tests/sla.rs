//! SLA policies end to end with the built binary and the emulator: a configuration with two
//! sources (production/critical hourly, staging/internal daily), credentials by reference only →
//! `schedule once` backs both up, prunes and checks → `status` shows both in SLA → two hours
//! later `status` exits 4 naming the production source → `forget --policy` (dry run, then real)
//! + `prune` → `check --read-data` passes and every kept snapshot restores.

mod common;

use common::{emulator, expect};

use assert_cmd::Command;
use secretsnap_scaleway::emulator::{Config, Emulator};
use serde_json::{json, Value};

const PROD: &str = "aaaaaaaa-7777-4000-8000-00000000000a";
const STAGING: &str = "bbbbbbbb-7777-4000-8000-00000000000b";

struct Env {
    _rt: tokio::runtime::Runtime,
    emu: Emulator,
    dir: tempfile::TempDir,
}

impl Env {
    fn cmd(&self, args: &[&str], now: Option<&str>) -> Command {
        Command::from_std(self.std_cmd(args, now))
    }

    fn std_cmd(&self, args: &[&str], now: Option<&str>) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("secretsnap"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("SECRETSNAP_CONFIG", self.dir.path().join("config.toml"))
            .env("SCW_API_URL", self.emu.url())
            // The only credential: referenced by the configuration, never written in it.
            .env("E2E_SCW_SECRET", "e2e-token")
            .args(args);
        if let Some(n) = now {
            c.env("SECRETSNAP_NOW", n);
        }
        c
    }

    fn ok(&self, args: &[&str], now: Option<&str>, code: i32) -> String {
        expect(self.cmd(args, now).output().unwrap(), args, code)
    }

    fn json(&self, args: &[&str], now: Option<&str>, code: i32) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a, now, code)).unwrap()
    }

    fn snapshots(&self) -> Vec<Value> {
        self.json(&["snapshots"], None, 0)["snapshots"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// The schedule and repository `main` of a test configuration in folder `d` (its passphrase in
/// a file there).
fn head(d: &dyn std::fmt::Display) -> String {
    format!(
        "\n[schedule]\nstate_file = \"{d}/state.json\"\n\n[repositories.main]\nurl = \"{d}/repo\"\n\
         password = {{ file = \"{d}/passphrase\" }}\ncache_dir = \"{d}/cache\"\n"
    )
}

fn config(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        r#"
[schedule]
state_file = "{d}/state.json"
parallel = 2

[repositories.main]
url = "{d}/repo"
password = {{ file = "{d}/passphrase" }}
cache_dir = "{d}/cache"

[sources.scw-prod]
url = "scaleway://fr-par/{PROD}"
repository = "main"
environment = "production"
data_classes = ["critical"]
tags = ["payments"]
read_disabled = true
credentials = {{ secret_key = {{ env = "E2E_SCW_SECRET" }} }}

[sources.scw-staging]
url = "scaleway://fr-par/{STAGING}"
repository = "main"
environment = "staging"
data_classes = ["internal"]
credentials = {{ secret_key = {{ env = "E2E_SCW_SECRET" }} }}

[policies.prod-critical]
scope = {{ environment = "production", data_classes = ["critical"] }}
every = "1h"
grace = "15m"
keep = {{ last = 1 }}
check = {{ every = "1d", read_data = "100%" }}

[policies.staging]
scope = {{ environment = "staging" }}
every = "1d"
keep = {{ last = 2 }}
"#
    )
}

#[test]
fn two_sources_scheduled_breached_forgotten_pruned_checked_restored() {
    let (rt, emu) = emulator(Config::default());
    emu.seed_demo("fr-par", PROD);
    emu.seed("fr-par", STAGING, 4, 2);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("passphrase"), "e2e passphrase\n").unwrap();
    std::fs::write(dir.path().join("config.toml"), config(dir.path())).unwrap();
    let env = Env { _rt: rt, emu, dir };

    env.ok(&["init"], None, 0);
    let once = env.json(&["schedule", "once"], None, 0);
    let mut jobs: Vec<&str> = once["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["job"].as_str().unwrap())
        .collect();
    jobs.sort();
    assert_eq!(
        jobs,
        [
            "backup:scw-prod",
            "backup:scw-staging",
            "check:main",
            "prune:main"
        ]
    );
    // Nothing is due right after.
    assert_eq!(env.json(&["schedule", "once"], None, 0)["runs"], json!([]));

    let status = env.json(&["status"], None, 0);
    for s in status["sources"].as_array().unwrap() {
        assert_eq!(s["in_sla"], true, "{s}");
        assert_eq!(s["snapshots"], 1, "{s}");
        assert_eq!(s["last_check_outcome"], "ok", "{s}");
    }
    assert_eq!(status["sources"][0]["policy"], "prod-critical");
    // Snapshots carry the source's SLA fields and tags.
    let prod = &env.json(&["snapshots", "--environment", "production"], None, 0)["snapshots"][0];
    assert_eq!(prod["data_classes"], json!(["critical"]));
    assert_eq!(prod["tags"], json!(["payments"]));
    assert_eq!(prod["job"], "scw-prod");

    // Two hours later the hourly source is out of its SLA; the daily one is not.
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let out = env.ok(&["status"], Some(&later), 4);
    assert!(out.contains("out of SLA: scw-prod"), "{out}");
    assert!(!out.contains("out of SLA: scw-staging"), "{out}");
    let breached = env.json(&["status"], Some(&later), 4);
    assert_eq!(breached["out_of_sla"], json!(["scw-prod"]));

    // More snapshots than the policies keep, then retention by policy.
    env.ok(&["backup", "@scw-prod"], None, 0);
    env.ok(&["backup", "@scw-staging"], None, 0);
    env.ok(&["backup", "@scw-staging"], None, 0);
    let dry = env.json(&["forget", "--policy", "--dry-run"], None, 0);
    let decisions = dry["decisions"].as_array().unwrap();
    let removed = decisions.iter().filter(|d| d["keep"] == false).count();
    assert_eq!(
        removed, 2,
        "prod keeps 1 of 2, staging 2 of 3: {decisions:#?}"
    );
    for d in decisions.iter().filter(|d| d["keep"] == true) {
        assert!(
            !d["reasons"].as_array().unwrap().is_empty(),
            "the rule that kept it: {d}"
        );
    }
    assert_eq!(env.snapshots().len(), 5, "a dry run deletes nothing");
    env.ok(&["forget", "--policy"], None, 0);
    env.ok(&["prune"], None, 0);
    env.ok(&["check", "--read-data"], None, 0);
    let kept = env.snapshots();
    assert_eq!(kept.len(), 3);
    let status = env.json(&["status"], None, 0);
    assert_eq!(status["out_of_sla"], json!([]));
    // The prune was lock-free maintenance: the forgotten snapshots' data is marked, pending
    // deletion until the repository's margin has passed, and status says so.
    let m = &status["maintenance"]["main"];
    assert!(m["last_run"]["at"].is_string(), "{status}");
    assert!(
        m["last_run"]["packs_marked"].as_u64().unwrap() > 0,
        "{status}"
    );
    assert!(m["bytes_pending"].as_u64().unwrap() > 0, "{status}");
    assert!(m["reclaimable_at"].is_string(), "{status}");

    // Every kept snapshot restores (into fresh projects, with explicit credentials).
    for (i, s) in kept.iter().enumerate() {
        let target = format!("scaleway://nl-ams/cccccccc-7777-4000-8000-00000000000{i}");
        let args = ["--json", "restore", s["id"].as_str().unwrap(), &target];
        let out = env
            .cmd(&args, None)
            .env("SCW_SECRET_KEY", "e2e-token")
            .output()
            .unwrap();
        let r: Value = serde_json::from_str(&expect(out, &args, 0)).unwrap();
        assert!(r["report"]["created_secrets"].as_u64().unwrap() > 0, "{r}");
    }

    // The exports name every job.
    let cron = env.ok(&["schedule", "export", "cron"], None, 0);
    assert!(
        cron.contains("0 * * * * /") && cron.contains("secretsnap --config /"),
        "{cron}"
    );
    assert!(cron.contains("schedule job backup:scw-staging"), "{cron}");
    let k8s = env.ok(&["schedule", "export", "kubernetes"], None, 0);
    assert_eq!(k8s.matches("kind: CronJob").count(), 4, "{k8s}");
    let systemd = env.ok(&["schedule", "export", "systemd"], None, 0);
    assert_eq!(systemd.matches("[Timer]").count(), 4, "{systemd}");
    assert!(systemd.contains("KillMode=mixed"), "{systemd}");
    // No secret reaches the generated files or the state file.
    let state = std::fs::read_to_string(env.dir.path().join("state.json")).unwrap();
    for text in [&cron, &k8s, &systemd, &state] {
        assert!(!text.contains("e2e-token") && !text.contains("e2e passphrase"));
    }
}

/// Three sources in one repository with `parallel = 3`: every `schedule once` pass (a day apart,
/// so every job is due) runs the three backups, the check and the prune without ever colliding
/// with itself: exit 0 on all 20 passes, prune after the backups, no run recorded as failed.
#[test]
fn three_sources_one_repository_parallel_3_never_collide() {
    let (rt, emu) = emulator(Config {
        rate_limit: None,
        ..Default::default()
    });
    let projects = [PROD, STAGING, "cccccccc-7777-4000-8000-00000000000c"];
    for p in projects {
        emu.seed("fr-par", p, 3, 2);
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("passphrase"), "e2e passphrase\n").unwrap();
    let mut text = format!(
        r#"
[schedule]
state_file = "{d}/state.json"
parallel = 3

[repositories.vault]
url = "{d}/repo"
password = {{ file = "{d}/passphrase" }}
cache_dir = "{d}/cache"

[policies.all]
scope = {{ environment = "production" }}
every = "1h"
keep = {{ last = 2 }}
check = {{ every = "1d" }}
"#
    );
    for (i, p) in projects.iter().enumerate() {
        text.push_str(&format!(
            r#"
[sources.s{i}]
url = "scaleway://fr-par/{p}"
repository = "vault"
environment = "production"
credentials = {{ secret_key = {{ env = "E2E_SCW_SECRET" }} }}
"#
        ));
    }
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
    let env = Env { _rt: rt, emu, dir };
    env.ok(&["init", "-r", "@vault"], None, 0);
    // The fake clock starts a day after the real one: the snapshots carry the real time, so every
    // pass (one fake day apart) finds every job due, whatever day the suite runs.
    let start = chrono::Utc::now() + chrono::Duration::days(1);
    for pass in 0..20 {
        let now = (start + chrono::Duration::days(pass)).to_rfc3339();
        let once = env.json(&["schedule", "once"], Some(&now), 0);
        let runs = once["runs"].as_array().unwrap();
        let jobs: Vec<&str> = runs.iter().map(|r| r["job"].as_str().unwrap()).collect();
        assert_eq!(runs.len(), 5, "pass {pass}: {jobs:?}");
        assert!(
            runs.iter().all(|r| r["outcome"] == "ok"),
            "pass {pass}: {once}"
        );
        // Lock-free maintenance: the prune runs beside the backups, none waits for another.
        assert!(jobs.contains(&"prune:vault"), "pass {pass}: {jobs:?}");
    }
    let state: Value =
        serde_json::from_slice(&std::fs::read(env.dir.path().join("state.json")).unwrap()).unwrap();
    assert!(state["history"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["outcome"] == "ok"));
}

/// An emulator seeded with two projects, an initialised repository and an hourly policy over
/// the source `first`; returns the environment, that configuration (written) and the text of a
/// source `second` to add to it.
fn hourly_two_sources() -> (Env, String, String) {
    let (rt, emu) = emulator(Config::default());
    emu.seed("fr-par", PROD, 2, 1);
    emu.seed("fr-par", STAGING, 2, 1);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("passphrase"), "e2e passphrase\n").unwrap();
    let source = |name: &str, project: &str| {
        format!(
            "\n[sources.{name}]\nurl = \"scaleway://fr-par/{project}\"\nrepository = \"main\"\n\
             environment = \"production\"\n\
             credentials = {{ secret_key = {{ env = \"E2E_SCW_SECRET\" }} }}\n"
        )
    };
    let base = format!(
        r#"{}
[policies.hourly]
scope = {{ environment = "production" }}
every = "1h"
{}"#,
        head(&d),
        source("first", PROD)
    );
    std::fs::write(dir.path().join("config.toml"), &base).unwrap();
    let env = Env { _rt: rt, emu, dir };
    env.ok(&["init", "-r", "@main"], None, 0);
    (env, base, source("second", STAGING))
}

/// `schedule run` takes a valid configuration on SIGHUP (and says which jobs changed), refuses a
/// broken one with its file, line and key while the one in force stays, and stops on SIGTERM.
#[test]
fn sighup_reloads_a_valid_configuration_and_refuses_a_broken_one() {
    let (env, base, second) = hourly_two_sources();
    let config = env.dir.path().join("config.toml");
    let log = env.dir.path().join("run.log");
    let metrics = env.dir.path().join("secretsnap.prom");
    let metrics_arg = metrics.display().to_string();
    let mut child = env
        .std_cmd(&["schedule", "run", "--metrics-file", &metrics_arg], None)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let ran = |job: &str| {
        std::fs::read(env.dir.path().join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|s| s["jobs"][job]["last_outcome"] == "ok")
    };
    let wait = |what: &dyn Fn() -> bool, why: &str| {
        let start = std::time::Instant::now();
        while !what() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "timed out: {why}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let hup = |sig: &str| {
        let st = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    };
    wait(&|| ran("backup:first"), "the first backup");
    assert!(!ran("backup:second"));
    // The metrics file is refreshed after the job.
    wait(
        &|| {
            std::fs::read_to_string(&metrics).is_ok_and(|t| {
                t.lines().any(|l| {
                    l.starts_with("secretsnap_backup_runs_total{source=\"first\"")
                        && l.contains("outcome=\"ok\"")
                        && l.ends_with(" 1")
                })
            })
        },
        "metrics refreshed after the first backup",
    );

    std::fs::write(&config, format!("{base}{second}")).unwrap();
    hup("-HUP");
    wait(
        &|| ran("backup:second"),
        "the added source's backup after SIGHUP",
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("configuration reloaded: +backup:second"),
        "{text}"
    );

    let in_force = env.dir.path().join("config-in-force.toml");
    let good = std::fs::read_to_string(&in_force).unwrap();
    std::fs::write(&config, base.replace("every = \"1h\"", "every = \"often\"")).unwrap();
    hup("-HUP");
    wait(
        &|| {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("not reloaded")
        },
        "the refusal",
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("config.toml:") && text.contains("policies.hourly.every"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&in_force).unwrap(),
        good,
        "the old one stays in force"
    );

    hup("-TERM");
    assert!(child.wait().unwrap().success());
}

/// A package upgrade replaces the binary under a running `schedule run`: Linux then names the
/// running one `…/secretsnap (deleted)`, and jobs started by that name would all fail. Jobs
/// start the binary at the path the scheduler started from, so they run the new one; the log
/// says which binary runs.
#[test]
fn a_replaced_binary_keeps_schedule_run_working() {
    let (env, base, second) = hourly_two_sources();
    let config = env.dir.path().join("config.toml");

    // The "installed" binary: a copy the test can replace as a package manager does.
    let bin = env.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let installed = bin.join("secretsnap");
    let built = assert_cmd::cargo::cargo_bin("secretsnap");
    std::fs::copy(&built, &installed).unwrap();
    let log = env.dir.path().join("run.log");
    let c = env.std_cmd(&["schedule", "run"], None);
    let mut cmd = std::process::Command::new(&installed);
    cmd.env_clear()
        .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args(c.get_args());
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let job = |name: &str| -> Value {
        std::fs::read(env.dir.path().join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|s| s["jobs"][name].clone())
            .unwrap_or(Value::Null)
    };
    let wait = |name: &str| {
        let start = std::time::Instant::now();
        while job(name)["last_outcome"].is_null() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "{name} never ran\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        job(name)
    };
    assert_eq!(wait("backup:first")["last_outcome"], "ok");

    // The upgrade: a new file renamed over the old one (the running binary is now "deleted").
    let staged = bin.join(".secretsnap.new");
    std::fs::copy(&built, &staged).unwrap();
    std::fs::rename(&staged, &installed).unwrap();
    std::fs::write(&config, format!("{base}{second}")).unwrap();
    let signal = |sig: &str| {
        let st = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    };
    signal("-HUP");
    let second = wait("backup:second");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(second["last_outcome"], "ok", "{second}\n{text}");
    assert!(
        text.contains(&format!("jobs run {}", installed.display())),
        "the log names the binary: {text}"
    );
    signal("-TERM");
    assert!(child.wait().unwrap().success());
}

/// A scheduled job that fails says why: its last `error:` line is the run's message, not only
/// its exit code.
#[test]
fn a_failed_scheduled_job_says_why() {
    let (rt, emu) = emulator(Config::default());
    emu.seed("fr-par", PROD, 2, 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("passphrase"), "e2e passphrase\n").unwrap();
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            r#"{}
[sources.no-key]
url = "scaleway://fr-par/{PROD}"
repository = "main"
environment = "production"
credentials = {{ secret_key = {{ env = "E2E_NEVER_SET" }} }}

[policies.prod]
scope = {{ environment = "production" }}
every = "1h"
"#,
            head(&d)
        ),
    )
    .unwrap();
    let env = Env { _rt: rt, emu, dir };
    env.ok(&["init"], None, 0);
    // A job failed: the pass is partial (exit 3).
    let once = env.json(&["schedule", "once"], None, 3);
    let run = once["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["job"] == "backup:no-key")
        .unwrap_or_else(|| panic!("{once}"))
        .clone();
    assert_eq!(run["outcome"], "failed", "{run}");
    let message = run["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("exit code "), "{run}");
    assert!(message.contains("E2E_NEVER_SET"), "{run}");
}
