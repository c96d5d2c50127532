//! Vault / OpenBao through the command, against the real server `tests/run.sh` starts
//! (SECRETSNAP_TEST_VAULT): a backup of a KV mount, a dry run that writes nothing, a restore into
//! another mount where every version keeps its number, state and typed value, an incremental
//! backup that reads no value again, and Vault → Scaleway → Vault, where what comes back is what
//! docs/cross-provider.md says: live values and custom metadata, renumbered versions; `ls`,
//! `drift` and `diff` on a KV mount; a configured source that logs in with AppRole, run by the
//! scheduler, in `status` and the metrics.

mod common;

use common::{changed, expect, names, World};
use secretsnap_scaleway::emulator::Config;
use secretsnap_vault::client::Method;
use secretsnap_vault::fixtures::{client, server, token};
use secretsnap_vault::VaultClient;
use serde_json::{json, Value};

struct Bao {
    addr: String,
    client: VaultClient,
}

impl Bao {
    fn new(addr: &str) -> Bao {
        let client = client(addr, &token(), None);
        Bao {
            addr: addr.into(),
            client,
        }
    }

    fn call(&self, w: &World, method: Method, path: &str, body: Value) -> Value {
        let bytes = body.to_string();
        let body = (!body.is_null()).then_some(bytes.as_bytes());
        w.rt.block_on(self.client.ok_json(method, path, body))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn mount(&self, w: &World, tag: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("cli-{tag}-{nanos:x}");
        self.call(
            w,
            Method::POST,
            &format!("sys/mounts/{name}"),
            json!({"type": "kv", "options": {"version": "2"}}),
        );
        name
    }

    /// (number, state, live data) of every version of `path`.
    fn history(&self, w: &World, mount: &str, path: &str) -> Vec<(u64, String, Value)> {
        let m = self.call(
            w,
            Method::GET,
            &format!("{mount}/metadata/{path}"),
            Value::Null,
        );
        let versions = m["data"]["versions"].as_object().unwrap().clone();
        let mut numbers: Vec<u64> = versions.keys().map(|k| k.parse().unwrap()).collect();
        numbers.sort();
        numbers
            .into_iter()
            .map(|n| {
                let v = &versions[&n.to_string()];
                if v["destroyed"] == true {
                    (n, "destroyed".into(), Value::Null)
                } else if v["deletion_time"] != "" {
                    (n, "deleted".into(), Value::Null)
                } else {
                    let path = format!("{mount}/data/{path}?version={n}");
                    let r = self.call(w, Method::GET, &path, Value::Null);
                    (n, "live".into(), r["data"]["data"].clone())
                }
            })
            .collect()
    }

    fn custom_metadata(&self, w: &World, mount: &str, path: &str) -> Value {
        let m = self.call(
            w,
            Method::GET,
            &format!("{mount}/metadata/{path}"),
            Value::Null,
        );
        m["data"]["custom_metadata"].clone()
    }

    /// The command with the server's address and token in its environment.
    fn json(&self, w: &World, args: &[&str], code: i32) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = w
            .std_cmd(&all)
            .env("VAULT_ADDR", &self.addr)
            .env("VAULT_TOKEN", token())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "secretsnap {args:?}\nstdout: {stdout}\nstderr: {stderr}"
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    }
}

/// The data of the live versions of a history, oldest first.
fn live_values(history: Vec<(u64, String, Value)>) -> Vec<Value> {
    history
        .into_iter()
        .filter(|v| v.1 == "live")
        .map(|v| v.2)
        .collect()
}

fn seed(bao: &Bao, w: &World, mount: &str) {
    for data in [
        json!({"password": "one", "port": 5432}),
        json!({"password": "two", "port": 5432, "tls": true}),
        json!({"password": "three", "hosts": ["a", "b"]}),
        json!({"password": "four", "ratio": 0.5}),
    ] {
        bao.call(
            w,
            Method::POST,
            &format!("{mount}/data/app/db"),
            json!({ "data": data }),
        );
    }
    bao.call(
        w,
        Method::PUT,
        &format!("{mount}/destroy/app/db"),
        json!({"versions": [1]}),
    );
    bao.call(
        w,
        Method::POST,
        &format!("{mount}/delete/app/db"),
        json!({"versions": [3]}),
    );
    bao.call(
        w,
        Method::POST,
        &format!("{mount}/metadata/app/db"),
        json!({"custom_metadata": {"team": "payments"}}),
    );
    bao.call(
        w,
        Method::POST,
        &format!("{mount}/data/ci/token"),
        json!({"data": {"token": "t-1"}}),
    );
}

#[test]
fn backup_dry_run_restore_and_incremental_keep_every_number() {
    let Some(addr) = server() else { return };
    let w = World::new(Config::default());
    let bao = Bao::new(&addr);
    let (a, b) = (bao.mount(&w, "a"), bao.mount(&w, "b"));
    seed(&bao, &w, &a);
    w.json(&["init"], 0);
    let source = format!("vault://{a}");
    let first = bao.json(&w, &["backup", &source], 0);
    assert_eq!(first["backup"]["secrets"], 2);
    assert_eq!(
        first["backup"]["values_read"], 3,
        "two live versions of db, one of token"
    );

    let target = format!("vault://{b}");
    let dry = bao.json(&w, &["restore", "latest", &target, "--dry-run"], 0);
    assert_eq!(dry["plan"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(dry["plan"]["items"][0]["action"], "create");
    let listed =
        w.rt.block_on(
            bao.client
                .call(Method::GET, &format!("{b}/metadata/?list=true"), None),
        )
        .unwrap();
    assert_eq!(listed.status.as_u16(), 404, "the dry run wrote nothing");

    let restored = bao.json(&w, &["restore", "latest", &target], 0);
    assert_eq!(restored["report"]["created_secrets"], 2);
    for path in ["app/db", "ci/token"] {
        assert_eq!(
            bao.history(&w, &a, path),
            bao.history(&w, &b, path),
            "{path}: numbers, states and typed values"
        );
    }
    assert_eq!(
        bao.custom_metadata(&w, &b, "app/db"),
        json!({"team": "payments"})
    );
    // Restoring again creates nothing.
    let again = bao.json(
        &w,
        &["restore", "latest", &target, "--on-conflict", "append"],
        0,
    );
    assert_eq!(again["report"]["created_versions"], 0);

    // Incremental: the mount lookup, one listing per folder (root, app/, ci/) and one metadata
    // read per path.
    let second = bao.json(&w, &["backup", &source], 0);
    assert_eq!(second["backup"]["values_read"], 0);
    assert_eq!(second["backup"]["api_calls"], 1 + 3 + 2);
}

#[test]
fn vault_to_scaleway_and_back_keeps_live_values_and_custom_metadata() {
    let Some(addr) = server() else { return };
    let w = World::new(Config::default());
    let bao = Bao::new(&addr);
    let (a, back) = (bao.mount(&w, "from"), bao.mount(&w, "back"));
    seed(&bao, &w, &a);
    let scw = format!("scaleway://fr-par/{}", common::C);
    let out = bao.json(&w, &["clone", &format!("vault://{a}"), &scw], 0);
    let said = out.to_string();
    assert!(
        said.contains("destroyed"),
        "the destroyed version is named: {out:#}"
    );
    let in_scw = w.read_project("fr-par", common::C);
    let db = in_scw.iter().find(|s| s.name == "db").unwrap();
    assert_eq!(db.tags, ["team=payments"]);
    let home = bao.json(&w, &["clone", &scw, &format!("vault://{back}")], 0);
    let there = bao.history(&w, &back, "app/db");
    let live = live_values(there.clone());
    let original_live = live_values(bao.history(&w, &a, "app/db"));
    assert_eq!(
        live, original_live,
        "live values come back, in order, types kept: {there:?} {home:#}"
    );
    assert_eq!(bao.custom_metadata(&w, &back, "app/db")["team"], "payments");
}

/// A drill into a scratch mount restores, verifies and deletes exactly what it created: the
/// mount ends as it began, with a path someone made by hand still there.
#[test]
fn a_drill_into_a_scratch_mount_cleans_up_only_its_own() {
    let Some(addr) = server() else { return };
    let w = World::new(Config::default());
    let bao = Bao::new(&addr);
    let (a, scratch) = (bao.mount(&w, "drilled"), bao.mount(&w, "scratch"));
    seed(&bao, &w, &a);
    bao.call(
        &w,
        Method::POST,
        &format!("{scratch}/data/hand/made"),
        json!({"data": {"keep": "me"}}),
    );
    w.json(&["init"], 0);
    bao.json(&w, &["backup", &format!("vault://{a}")], 0);
    let into = format!("vault://{scratch}");
    // A path the drill cannot show it made: refused without --allow-foreign, named.
    let refused = w
        .std_cmd(&["drill", "--into", &into])
        .env("VAULT_ADDR", &bao.addr)
        .env("VAULT_TOKEN", token())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("/hand/made"));
    let r = bao.json(&w, &["drill", "--into", &into, "--allow-foreign"], 0);
    let d = &r["drill"];
    assert_eq!(r["ok"], true, "{r:#}");
    assert_eq!(d["restored_secrets"], 2, "{d}");
    assert_eq!(d["removed"], 2, "{d}");
    assert_eq!(d["mismatches"], json!([]));
    let left = bao.call(
        &w,
        Method::GET,
        &format!("{scratch}/metadata/?list=true"),
        Value::Null,
    );
    assert_eq!(left["data"]["keys"], json!(["hand/"]), "{left}");
}

/// Vault → AWS → Vault (moto): JSON objects travel as JSON SecretStrings and come back as the
/// same objects with their types, in order; custom metadata travels as tags.
#[test]
fn vault_to_aws_and_back_keeps_live_values_and_custom_metadata() {
    let Some(addr) = server() else { return };
    let Some(_) = secretsnap_aws::fixtures::moto_endpoint() else {
        return;
    };
    let w = World::new(Config::default());
    let bao = Bao::new(&addr);
    let (a, back) = (bao.mount(&w, "to-aws"), bao.mount(&w, "from-aws"));
    seed(&bao, &w, &a);
    let out = bao.json(
        &w,
        &["clone", &format!("vault://{a}"), "aws://af-south-1"],
        0,
    );
    assert!(out.to_string().contains("destroyed"), "{out:#}");
    let home = bao.json(
        &w,
        &[
            "clone",
            "aws://af-south-1?path=/app",
            &format!("vault://{back}"),
        ],
        0,
    );
    // AWS keeps no label on all but the current version: older ones are "deprecated" there, and
    // come back soft-deleted, with their values (docs/cross-provider.md).
    let states: Vec<String> = bao
        .history(&w, &back, "app/db")
        .into_iter()
        .map(|v| v.1)
        .collect();
    assert_eq!(states, ["deleted", "live"], "{home:#}");
    bao.call(
        &w,
        Method::POST,
        &format!("{back}/undelete/app/db"),
        json!({"versions": [1]}),
    );
    let there = bao.history(&w, &back, "app/db");
    let live: Vec<Value> = there.iter().map(|v| v.2.clone()).collect();
    let original_live = live_values(bao.history(&w, &a, "app/db"));
    assert_eq!(live, original_live, "{home:#}");
    assert_eq!(bao.custom_metadata(&w, &back, "app/db")["team"], "payments");
}

/// The provider-neutral commands on a KV mount: `ls` lists every path with its numbered versions,
/// `drift` sees a new version, a soft delete and a new path from metadata alone, and `diff`
/// between the two backups says the same.
#[test]
fn ls_drift_and_diff_on_a_kv_mount() {
    let Some(addr) = server() else { return };
    let w = World::new(Config::default());
    let bao = Bao::new(&addr);
    let m = bao.mount(&w, "drift");
    seed(&bao, &w, &m);
    w.json(&["init"], 0);
    let source = format!("vault://{m}");
    let first = bao.json(&w, &["backup", &source], 0);
    let before = first["backup"]["snapshot"].as_str().unwrap().to_string();

    let ls = bao.json(&w, &["ls", "latest"], 0);
    let listed: Vec<(String, usize)> = ls["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["secret"].as_str().unwrap_or_default().to_string(),
                s["versions"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("/app/db".to_string(), 4), ("/ci/token".to_string(), 1)],
        "{ls}"
    );

    let same = bao.json(&w, &["drift", &source], 0);
    assert_eq!(same["drifted"], false, "{same}");
    let write = |path: &str, data: Value| {
        bao.call(
            &w,
            Method::POST,
            &format!("{m}/data/{path}"),
            json!({ "data": data }),
        )
    };
    write("app/db", json!({"password": "five"}));
    write("new/x", json!({"x": 1}));
    bao.call(
        &w,
        Method::POST,
        &format!("{m}/delete/ci/token"),
        json!({"versions": [1]}),
    );

    let out = bao.json(&w, &["drift", &source], 6);
    assert_eq!(out["drifted"], true, "{out}");
    let d = &out["drift"]["diff"];
    assert_eq!(names(&d["added"]), ["/new/x"], "{d}");
    assert_eq!(
        names(&changed(d, "/app/db")["versions_added"]),
        ["5"],
        "{d}"
    );
    let deleted = &changed(d, "/ci/token")["versions_changed"][0];
    assert_eq!(deleted["version"], "1", "{d}");
    assert_eq!(deleted["changes"][0]["field"], "status", "{d}");
    assert_eq!(deleted["changes"][0]["after"], "disabled", "{d}");

    let second = bao.json(&w, &["backup", &source], 0);
    let after = second["backup"]["snapshot"].as_str().unwrap().to_string();
    let diff = bao.json(&w, &["diff", &before, &after], 0);
    let d = &diff["diff"];
    assert_eq!(names(&d["added"]), ["/new/x"], "{d}");
    assert_eq!(
        names(&changed(d, "/app/db")["versions_added"]),
        ["5"],
        "{d}"
    );
}

/// A configured source that logs in with AppRole (role id and secret id by reference, no token
/// anywhere; the server's address in its URL, `?addr=`, no VAULT_ADDR) runs on its policy's
/// schedule: `schedule once` backs it up, `status` has it in SLA,
/// the metrics name it, and a drift of `@NAME` reads through the same login.
#[test]
fn a_configured_source_logs_in_with_approle_and_runs_on_schedule() {
    let Some(addr) = server() else { return };
    let w = World::new(Config::default());
    let bao = Bao::new(&addr);
    let m = bao.mount(&w, "sched");
    seed(&bao, &w, &m);
    let auth = format!("approle-{m}");
    bao.call(
        &w,
        Method::POST,
        &format!("sys/auth/{auth}"),
        json!({"type": "approle"}),
    );
    let rules = format!("path \"{m}/*\" {{ capabilities = [\"read\", \"list\"] }}\n");
    bao.call(
        &w,
        Method::PUT,
        &format!("sys/policies/acl/read-{m}"),
        json!({ "policy": rules }),
    );
    bao.call(
        &w,
        Method::POST,
        &format!("auth/{auth}/role/agent"),
        json!({"token_policies": [format!("read-{m}")], "token_ttl": "10m"}),
    );
    let role = bao.call(
        &w,
        Method::GET,
        &format!("auth/{auth}/role/agent/role-id"),
        Value::Null,
    );
    let secret = bao.call(
        &w,
        Method::POST,
        &format!("auth/{auth}/role/agent/secret-id"),
        json!({}),
    );
    let config = w.write_config(&format!(
        r#"[sources.vault-agent]
url = "vault://{m}?addr={addr}"
repository = "main"
environment = "production"
credentials = {{ access_key = {{ env = "E2E_VAULT_LOGIN" }}, secret_key = {{ env = "E2E_VAULT_SECRET_ID" }} }}

[policies.prod]
scope = {{ environment = "production" }}
every = "1h"
keep = {{ last = 2 }}
"#
    ));
    let login = format!(
        "approle@{auth}:{}",
        role["data"]["role_id"].as_str().unwrap()
    );
    let secret_id = secret["data"]["secret_id"].as_str().unwrap().to_string();
    let run = |args: &[&str], code: i32| -> String {
        let out = w
            .std_cmd(args)
            .env("SECRETSNAP_CONFIG", &config)
            .env("E2E_VAULT_LOGIN", &login)
            .env("E2E_VAULT_SECRET_ID", &secret_id)
            .output()
            .unwrap();
        expect(out, args, code)
    };
    let json = |args: &[&str], code: i32| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&run(&all, code)).unwrap()
    };
    json(&["init"], 0);
    let once = json(&["schedule", "once"], 0);
    let jobs: Vec<&str> = once["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["job"].as_str())
        .collect();
    assert!(jobs.contains(&"backup:vault-agent"), "{once}");
    let status = json(&["status"], 0);
    let source = &status["sources"][0];
    assert_eq!(source["source"], "vault-agent", "{status}");
    assert_eq!(source["in_sla"], true, "{status}");
    assert_eq!(source["snapshots"], 1, "{status}");
    let metrics = run(&["status", "--prometheus"], 0);
    assert!(
        metrics.lines().any(
            |l| l.starts_with("secretsnap_sla_compliant{source=\"vault-agent\"")
                && l.ends_with(" 1")
        ),
        "{metrics}"
    );
    let drift = json(&["drift", "@vault-agent"], 0);
    assert_eq!(drift["drifted"], false, "{drift}");
    // The secret id never reaches an output.
    assert!(!once.to_string().contains(&secret_id));
}
