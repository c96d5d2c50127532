//! Prometheus metrics through the built binary, checked by the real tools: `schedule once
//! --metrics-file` and `status --prometheus --out` write a file `promtool check metrics` accepts,
//! with the SLA state per source and no secret name or snapshot id in it; two hours later the
//! production source reads out of SLA; Debian's `prometheus-node-exporter` serves the file from
//! its textfile collector on 127.0.0.1; and `promtool check rules` accepts the example alerting
//! rules in docs/deploy/. tests/run.sh installs both tools when missing; without them these
//! tests skip, unless SECRETSNAP_REQUIRE_SERVERS is set (as tests/run.sh does), then they fail.

mod common;

use std::process::{Command, Stdio};

use common::emulator;
use secretsnap_scaleway::emulator::Config;

const PROD: &str = "aaaaaaaa-8888-4000-8000-00000000000a";
const STAGING: &str = "bbbbbbbb-8888-4000-8000-00000000000b";

/// The tool's path, or `None` (skip) where it is missing and not required.
fn tool(name: &str) -> Option<String> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if found.is_none() {
        assert!(
            std::env::var_os("SECRETSNAP_REQUIRE_SERVERS").is_none(),
            "{name} is required (bash tests/run.sh installs Debian's prometheus packages)"
        );
        eprintln!("SKIPPED: {name} not found (bash tests/run.sh installs it)");
    }
    found
}

fn config(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        r#"
[schedule]
state_file = "{d}/state.json"

[repositories.main]
url = "{d}/repo"
password = {{ file = "{d}/passphrase" }}
cache_dir = "{d}/cache"

[sources.scw-prod]
url = "scaleway://fr-par/{PROD}"
repository = "main"
environment = "production"
data_classes = ["critical", "pci"]
credentials = {{ secret_key = {{ env = "E2E_SCW_SECRET" }} }}

[sources.scw-staging]
url = "scaleway://fr-par/{STAGING}"
repository = "main"
environment = "staging"
credentials = {{ secret_key = {{ env = "E2E_SCW_SECRET" }} }}

[policies.prod]
scope = {{ environment = "production" }}
every = "1h"
grace = "15m"
keep = {{ last = 3 }}
check = {{ every = "1d" }}
"#
    )
}

fn secretsnap(dir: &std::path::Path, api: &str, args: &[&str], now: Option<&str>) -> String {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("secretsnap"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("SECRETSNAP_CONFIG", dir.join("config.toml"))
        .env("SCW_API_URL", api)
        .env("E2E_SCW_SECRET", "e2e-token")
        .args(args);
    if let Some(n) = now {
        c.env("SECRETSNAP_NOW", n);
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value of the sample of `name` whose labels contain `has`.
fn sample(text: &str, name: &str, has: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(has))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} with {has} in:\n{text}"))
}

fn promtool_accepts(promtool: &str, file: &std::path::Path) {
    let out = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(file).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_pass_promtool_name_no_secret_and_reach_node_exporter() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let Some(node_exporter) = tool("prometheus-node-exporter") else {
        return;
    };
    let (_rt, emu) = emulator(Config::default());
    emu.seed_demo("fr-par", PROD);
    emu.seed("fr-par", STAGING, 3, 2);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("passphrase"), "metrics passphrase\n").unwrap();
    std::fs::write(d.join("config.toml"), config(d)).unwrap();
    let textfiles = d.join("textfile");
    std::fs::create_dir(&textfiles).unwrap();
    let prom = textfiles.join("secretsnap.prom");
    let api = emu.url();

    secretsnap(d, &api, &["init"], None);
    let file = prom.display().to_string();
    secretsnap(
        d,
        &api,
        &["schedule", "once", "--metrics-file", &file],
        None,
    );
    promtool_accepts(&promtool, &prom);
    let text = std::fs::read_to_string(&prom).unwrap();
    let prod = r#"source="scw-prod""#;
    assert_eq!(sample(&text, "secretsnap_sla_compliant", prod), 1.0);
    assert!(text.contains(
        r#"source="scw-prod",repository="main",environment="production",data_class="critical,pci",policy="prod""#
    ), "{text}");
    assert_eq!(sample(&text, "secretsnap_snapshots", prod), 1.0);
    assert_eq!(
        sample(
            &text,
            "secretsnap_backup_runs_total",
            r#"source="scw-prod",repository="main",environment="production",data_class="critical,pci",policy="prod",outcome="ok""#
        ),
        1.0
    );
    assert_eq!(sample(&text, "secretsnap_check_last_success", "main"), 1.0);
    assert_eq!(sample(&text, "secretsnap_repository_up", "main"), 1.0);
    // The scheduled prune was lock-free maintenance; its run shows, and what waits for deletion.
    assert!(
        sample(
            &text,
            "secretsnap_maintenance_last_timestamp_seconds",
            "main"
        ) > 1.7e9
    );
    assert!(sample(&text, "secretsnap_maintenance_pending_bytes", "main") >= 0.0);
    assert!(
        sample(
            &text,
            "secretsnap_backup_last_success_timestamp_seconds",
            prod
        ) > 1.7e9
    );
    // No secret name, path or snapshot id reaches a label.
    let snapshots = secretsnap(d, &api, &["--json", "snapshots"], None);
    let snapshots: serde_json::Value = serde_json::from_str(&snapshots).unwrap();
    for s in snapshots["snapshots"].as_array().unwrap() {
        let id = s["id"].as_str().unwrap();
        assert!(!text.contains(&id[..8]), "snapshot id {id} in metrics");
    }
    for secret in emu.with_state(|st| {
        st.secrets
            .values()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    }) {
        assert!(
            !text.contains(&format!("\"{secret}\"")),
            "secret {secret} in metrics"
        );
    }

    // Two hours later, status --prometheus says production is out of SLA (and exits 0).
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    secretsnap(
        d,
        &api,
        &["status", "--prometheus", "--out", &file],
        Some(&later),
    );
    promtool_accepts(&promtool, &prom);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(sample(&text, "secretsnap_sla_compliant", prod), 0.0);
    assert_eq!(
        sample(&text, "secretsnap_sla_compliant", r#"source="scw-staging""#),
        1.0,
        "no policy: never out of SLA"
    );

    // node_exporter's textfile collector serves it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut exporter = Command::new(node_exporter)
        .args([
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults",
            "--collector.textfile",
            &format!("--collector.textfile.directory={}", textfiles.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut scraped = String::new();
    for _ in 0..100 {
        if let Ok(out) = Command::new("curl")
            .args(["-fsS", &format!("http://127.0.0.1:{port}/metrics")])
            .output()
        {
            scraped = String::from_utf8_lossy(&out.stdout).into_owned();
            if scraped.contains("secretsnap_sla_compliant") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = exporter.kill();
    let _ = exporter.wait();
    assert_eq!(
        sample(&scraped, "secretsnap_sla_compliant", prod),
        0.0,
        "{scraped}"
    );
    assert!(
        !scraped.lines().any(|l| l == "node_textfile_scrape_error 1"),
        "node_exporter could not parse our file: {scraped}"
    );
}

#[test]
fn example_alerting_rules_pass_promtool() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy/alerts.yml");
    let out = Command::new(promtool)
        .args(["check", "rules", rules])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Someone who runs plain `backup` commands from cron, with no configuration file, still gets
/// per-source snapshot metrics from the repository alone (last time, count, size, partial), in a
/// file promtool accepts; no SLA family appears without policies.
#[test]
fn a_repository_alone_exports_per_source_snapshot_metrics() {
    let (_rt, emu) = emulator(Config::default());
    emu.seed("fr-par", PROD, 3, 2);
    emu.seed("fr-par", STAGING, 2, 1);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| -> (i32, String, String) {
        let out = Command::new(assert_cmd::cargo::cargo_bin("secretsnap"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", d)
            .env("SCW_API_URL", emu.url())
            .env("SCW_SECRET_KEY", "e2e-token")
            .env("SECRETSNAP_REPOSITORY", d.join("repo"))
            .env("SECRETSNAP_PASSWORD", "cron passphrase")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ok = |args: &[&str]| {
        let (rc, out, err) = run(args);
        assert_eq!(rc, 0, "{args:?}\n{out}{err}");
        out
    };
    ok(&["init"]);
    let prod = format!("scaleway://fr-par/{PROD}");
    let staging = format!("scaleway://fr-par/{STAGING}");
    ok(&[
        "backup",
        &prod,
        "--environment",
        "production",
        "--data-class",
        "critical",
    ]);
    ok(&[
        "backup",
        &prod,
        "--environment",
        "production",
        "--data-class",
        "critical",
    ]);
    ok(&["backup", &staging]);
    let text = ok(&["status", "--prometheus"]);
    let source = |url: &str| format!("source=\"{url}\"");
    assert_eq!(sample(&text, "secretsnap_snapshots", &source(&prod)), 2.0);
    assert_eq!(
        sample(&text, "secretsnap_snapshots", &source(&staging)),
        1.0
    );
    assert_eq!(
        sample(&text, "secretsnap_snapshot_last_partial", &source(&prod)),
        0.0
    );
    assert!(sample(&text, "secretsnap_snapshot_last_size_bytes", &source(&prod)) > 0.0);
    let last = sample(
        &text,
        "secretsnap_snapshot_last_timestamp_seconds",
        &source(&prod),
    );
    let success = sample(
        &text,
        "secretsnap_backup_last_success_timestamp_seconds",
        &source(&prod),
    );
    assert_eq!(last, success);
    assert!(
        text.contains("environment=\"production\",data_class=\"critical\""),
        "{text}"
    );
    assert_eq!(
        sample(&text, "secretsnap_repository_up", "repository="),
        1.0
    );
    assert!(
        !text.contains("secretsnap_sla_"),
        "no SLA family without policies"
    );

    // The same into a textfile, which promtool accepts.
    let prom = d.join("repo.prom");
    ok(&[
        "status",
        "--prometheus",
        "--out",
        &prom.display().to_string(),
    ]);
    if let Some(promtool) = tool("promtool") {
        promtool_accepts(&promtool, &prom);
    }
    // Without --prometheus, status still needs a configuration (exit 2, saying so).
    let (rc, _, err) = run(&["status"]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("configuration"), "{err}");
}
