//! The built `secretsnap` binary end to end (assert_cmd) against the Scaleway emulator on
//! 127.0.0.1 and a local repository: backup → snapshots (filtered by environment and data class)
//! → ls → diff after a change → restore into another region and project → both projects equal
//! field by field → restore again creates nothing → check passes → check fails after one flipped
//! byte. Also: an unchanged second backup reads no value and adds nothing but its snapshot; no
//! command but `cat` ever prints a value, even with -vv; exit codes 2 and 3.

mod common;

use std::collections::BTreeSet;

use common::{repo_files, World, A, B, C, SECRETS, VERSIONS};
use secretsnap_core::conformance::compare;
use secretsnap_scaleway::emulator::{sample_payload, state, Config, Grant, SeedSecret};
use serde_json::Value;

fn a_url() -> String {
    format!("scaleway://fr-par/{A}")
}

#[test]
fn backup_browse_diff_restore_check() {
    let w = World::new(Config::default());
    w.json(&["init"], 0);
    let first = w.json(
        &[
            "backup",
            &a_url(),
            "--environment",
            "production",
            "--data-class",
            "critical",
            "--read-disabled",
        ],
        0,
    );
    assert_eq!(first["backup"]["secrets"], SECRETS);
    assert_eq!(first["backup"]["values_read"], SECRETS * VERSIONS);
    // Another source with another SLA: filters must tell them apart.
    w.emu.seed("pl-waw", C, 2, 1);
    w.json(
        &[
            "backup",
            &format!("scaleway://pl-waw/{C}"),
            "--environment",
            "staging",
            "--data-class",
            "internal",
        ],
        0,
    );
    let prod = w.json(&["snapshots", "--environment", "production"], 0);
    assert_eq!(prod["snapshots"].as_array().unwrap().len(), 1);
    assert_eq!(prod["snapshots"][0]["source"], a_url());
    let internal = w.json(&["snapshots", "--data-class", "internal"], 0);
    assert_eq!(internal["snapshots"].as_array().unwrap().len(), 1);
    assert_eq!(internal["snapshots"][0]["environment"], "staging");
    let everything = w.json(&["snapshots"], 0);
    assert_eq!(everything["snapshots"].as_array().unwrap().len(), 2);

    let ls = w.json(&["ls", "latest", "--environment", "production"], 0);
    let listed = ls["secrets"].as_array().unwrap();
    assert_eq!(listed.len(), SECRETS);
    assert!(listed
        .iter()
        .all(|s| s["versions"].as_array().unwrap().len() == VERSIONS));
    let (rc, human, _) = w.run(&["ls", "latest", "--data-class", "critical"]);
    assert_eq!(rc, 0);
    assert!(human.contains("/apps/app-1/") && human.contains("disabled"));

    // Change the source: one new version, one version disabled, one new secret.
    let ids: Vec<String> = listed
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let first_name = listed[0]["secret"].as_str().unwrap().to_string();
    let second_name = listed[1]["secret"].as_str().unwrap().to_string();
    let rotated = sample_payload(listed[0]["type"].as_str().unwrap(), 1000, 0);
    w.emu.with_state(|st| {
        st.create_version(
            "fr-par",
            &ids[0],
            state::CreateVersion {
                data: Some(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    &rotated,
                )),
                description: Some("rotated".into()),
                disable_previous: false,
                data_crc32: None,
            },
        )
        .unwrap();
        let status = st
            .list_versions("fr-par", &ids[1], &state::Query::parse(None))
            .unwrap();
        let rev = status["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["status"] == "enabled")
            .unwrap()["revision"]
            .to_string();
        st.set_version_status("fr-par", &ids[1], &rev, "disable")
            .unwrap();
    });
    w.emu.seed_secrets(
        "fr-par",
        A,
        &[SeedSecret {
            path: "/new".into(),
            name: "fresh".into(),
            kind: "opaque".into(),
            tags: vec![],
            description: "added later".into(),
            protected: false,
            versions: vec![(sample_payload("opaque", 99, 0), "v1".into())],
            disabled: vec![],
        }],
    );
    let before = prod["snapshots"][0]["id"].as_str().unwrap().to_string();
    let third = w.json(
        &[
            "backup",
            &a_url(),
            "--environment",
            "production",
            "--data-class",
            "critical",
            "--read-disabled",
        ],
        0,
    );
    let after = third["backup"]["snapshot"].as_str().unwrap().to_string();
    assert_eq!(
        third["backup"]["values_read"], 2,
        "only the new version and the new secret are read"
    );
    let d = w.json(&["diff", &before[..12], &after], 0);
    let diff = &d["diff"];
    assert_eq!(diff["added"], serde_json::json!(["/new/fresh"]));
    assert_eq!(diff["removed"], serde_json::json!([]));
    let changed = diff["changed"].as_array().unwrap();
    let names: Vec<&str> = changed
        .iter()
        .map(|c| c["secret"].as_str().unwrap())
        .collect();
    assert!(names.contains(&first_name.as_str()), "{diff}");
    assert!(names.contains(&second_name.as_str()), "{diff}");
    let first_change = changed.iter().find(|c| c["secret"] == first_name).unwrap();
    assert_eq!(first_change["versions_added"].as_array().unwrap().len(), 1);
    let (_, human_diff, _) = w.run(&["diff", &before, &after]);
    assert!(human_diff.contains("+ /new/fresh"), "{human_diff}");

    // Restore into another region and project, with a dry run first that changes nothing.
    let target = format!("scaleway://nl-ams/{B}");
    let dry = w.json(
        &[
            "restore",
            "latest",
            &target,
            "--environment",
            "production",
            "--dry-run",
        ],
        0,
    );
    assert_eq!(dry["report"]["created_secrets"], 0);
    assert_eq!(dry["plan"]["items"].as_array().unwrap().len(), SECRETS + 1);
    assert!(
        w.read_project("nl-ams", B).is_empty(),
        "a dry run writes nothing"
    );
    let restored = w.json(
        &["restore", "latest", &target, "--environment", "production"],
        0,
    );
    assert_eq!(restored["report"]["created_secrets"], SECRETS + 1);
    assert!(restored["report"]["api_calls"].as_u64().unwrap() > 0);
    let diffs = compare(&w.read_project("fr-par", A), &w.read_project("nl-ams", B));
    assert!(diffs.is_empty(), "{diffs:#?}");
    let again = w.json(&["restore", &after, &target, "--on-conflict", "append"], 0);
    assert_eq!(again["report"]["created_secrets"], 0);
    assert_eq!(again["report"]["created_versions"], 0);
    let skip = w.json(&["restore", &after, &target], 0);
    assert_eq!(
        skip["report"]["skipped"].as_array().unwrap().len(),
        SECRETS + 1,
        "existing secrets are skipped by default"
    );

    // Verify, then damage one byte of one pack.
    let ok = w.json(&["check", "--read-data"], 0);
    assert_eq!(ok["errors"], serde_json::json!([]));
    let pack = repo_files(&w.repo())
        .into_iter()
        .find(|f| f.starts_with("data/"))
        .expect("a pack");
    let path = w.repo().join(&pack);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let (rc, out, err) = w.run(&["check", "--read-data"]);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(out.contains("the repository is damaged"), "{out}");
}

#[test]
fn unchanged_second_backup_reads_nothing_and_adds_only_its_snapshot() {
    let w = World::new(Config::default());
    w.json(&["init"], 0);
    w.json(&["backup", &a_url()], 0);
    let files = repo_files(&w.repo());
    let reads = w.emu.accesses();
    let second = w.json(&["backup", &a_url()], 0);
    assert_eq!(w.emu.accesses() - reads, 0, "no value read");
    assert_eq!(second["backup"]["values_read"], 0);
    assert_eq!(second["backup"]["new_bytes"], 0);
    assert_eq!(second["backup"]["uploaded_bytes"], 0);
    let added: Vec<String> = repo_files(&w.repo()).difference(&files).cloned().collect();
    let id = second["backup"]["snapshot"].as_str().unwrap();
    assert_eq!(
        added,
        vec![format!("snapshots/{id}")],
        "only the snapshot is new"
    );
}

#[test]
fn no_value_reaches_output_except_through_cat() {
    let w = World::new(Config::default());
    let values: Vec<String> = (0..SECRETS)
        .flat_map(|i| {
            (0..VERSIONS).map(move |v| {
                sample_payload(secretsnap_scaleway::emulator::SECRET_TYPES[i % 6], i, v)
            })
        })
        .collect();
    let target = format!("scaleway://nl-ams/{B}");
    let clone_target = format!("scaleway://pl-waw/{C}");
    let runs: Vec<Vec<&str>> = vec![
        vec!["init"],
        vec![
            "backup",
            "scaleway://fr-par",
            "--read-disabled",
            "--dry-run",
        ],
        vec![
            "backup",
            "scaleway://fr-par",
            "--read-disabled",
            "--environment",
            "production",
        ],
        vec!["backup", "scaleway://fr-par"],
        vec!["snapshots"],
        vec!["ls", "latest"],
        vec!["diff", "latest", "latest"],
        vec!["restore", "latest", &target, "--dry-run"],
        vec!["restore", "latest", &target],
        vec!["restore", "latest", &target, "--on-conflict", "append"],
        vec!["clone", "scaleway://fr-par", &clone_target, "--dry-run"],
        vec![
            "clone",
            "scaleway://fr-par",
            &clone_target,
            "--read-disabled",
        ],
        vec!["check", "--read-data"],
        vec!["forget", "latest", "--dry-run"],
        vec!["prune", "--dry-run"],
        vec!["key", "list"],
        vec!["cat", "latest", "/no/such/secret"],
    ];
    for args in &runs {
        for json in [false, true] {
            let mut all = vec!["-vv"];
            all.extend(args.iter().copied());
            if json {
                all.push("--json");
            }
            if all.contains(&"init") && json {
                continue;
            }
            let (rc, out, err) = w.run(&all);
            let expected_fail = args[0] == "cat";
            assert!(
                rc == 0 || expected_fail,
                "secretsnap {all:?} exited {rc}: {err}"
            );
            for v in &values {
                assert!(
                    !out.contains(v.as_str()),
                    "{all:?} printed a value on stdout"
                );
                assert!(
                    !err.contains(v.as_str()),
                    "{all:?} printed a value on stderr"
                );
            }
        }
    }
    // The positive control: cat does print the value it is asked for.
    let ls = w.json(&["ls", "latest"], 0);
    let name = ls["secrets"][0]["secret"].as_str().unwrap().to_string();
    let (rc, out, _) = w.run(&["cat", "latest", &name, "--version", "1"]);
    assert_eq!(rc, 0);
    assert!(values.contains(&out), "cat prints exactly the value");
}

#[test]
fn exit_codes_usage_partial_and_missing_passphrase() {
    let mut tokens = std::collections::HashMap::new();
    tokens.insert(
        "test-token".to_string(),
        Grant {
            projects: None,
            write: true,
        },
    );
    tokens.insert(
        "read-only".to_string(),
        Grant {
            projects: None,
            write: false,
        },
    );
    let w = World::new(Config {
        tokens,
        ..Default::default()
    });
    w.json(&["init"], 0);
    w.json(&["backup", &a_url()], 0);
    // Usage errors: 2.
    for args in [
        vec!["backup", "gcp://x/y"],
        vec!["restore", "latest", "scaleway://nl-ams/b?path=/x"],
        vec![
            "restore",
            "latest",
            "scaleway://nl-ams/b",
            "--on-conflict",
            "overwrite",
        ],
        vec!["snapshots", "--before", "yesterday-ish"],
        vec!["check", "--read-data=7/3"],
        vec!["backup", "--no-such-flag"],
    ] {
        let (rc, _, err) = w.run(&args);
        assert_eq!(rc, 2, "{args:?}: {err}");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
    // A token that cannot write: every item fails, each is named, exit code 3.
    let out = w
        .cmd(&[
            "restore",
            "latest",
            &format!("scaleway://nl-ams/{B}"),
            "--json",
        ])
        .env("SCW_SECRET_KEY", "read-only")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["report"]["failed"].as_array().unwrap().len(),
        SECRETS
    );
    // No passphrase on a non-interactive run: a clear error, exit 1.
    let out = w
        .cmd(&["snapshots"])
        .env_remove("SECRETSNAP_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SECRETSNAP_PASSWORD"));
    // Completions.
    let (rc, out, _) = w.run(&["completions", "bash"]);
    assert_eq!(rc, 0);
    assert!(out.contains("secretsnap"));
}

#[test]
fn forget_by_keep_rules_then_prune_and_check() {
    let w = World::new(Config::default());
    w.json(&["init"], 0);
    for env in ["production", "production", "production", "staging"] {
        w.json(&["backup", &a_url(), "--environment", env], 0);
    }
    let plan = w.json(&["forget", "--keep-last", "1", "--dry-run"], 0);
    assert_eq!(plan["decisions"].as_array().unwrap().len(), 4);
    assert_eq!(
        plan["forgotten"].as_array().unwrap().len(),
        2,
        "the staging group keeps its own newest: {plan}"
    );
    assert_eq!(
        w.json(&["snapshots"], 0)["snapshots"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "a dry run deletes nothing"
    );
    w.json(&["forget", "--keep-last", "1"], 0);
    let left = w.json(&["snapshots"], 0);
    let envs: BTreeSet<&str> = left["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, BTreeSet::from(["production", "staging"]));
    w.json(&["prune"], 0);
    w.json(&["check", "--read-data"], 0);
    let (rc, _, err) = w.run(&["forget", "--keep-last", "1", "latest"]);
    assert_eq!(rc, 2, "{err}");
}

/// The binary runs as it was started: no re-execution with allocator tunables (memory is kept
/// low by reusing pack buffers, `store/src/buffers.rs`), so nothing leaks into the environment
/// of password commands, credential commands or scheduled children, and a user's own
/// `GLIBC_TUNABLES` is theirs.
#[cfg(target_os = "linux")]
#[test]
fn the_binary_does_not_re_execute_itself_with_tunables() {
    use std::io::BufRead;
    let w = World::new(Config::default());
    for set in [None, Some("glibc.malloc.arena_max=2")] {
        let mut c = w.std_cmd(&["--json", "emulator", "scaleway", "--listen", "127.0.0.1:0"]);
        c.env_remove("GLIBC_TUNABLES");
        if let Some(v) = set {
            c.env("GLIBC_TUNABLES", v);
        }
        let mut child = c.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(line.contains("url"), "{line}");
        let tunables: Vec<&[u8]> = environ
            .split(|b| *b == 0)
            .filter(|kv| kv.starts_with(b"GLIBC_TUNABLES="))
            .collect();
        let want: Vec<Vec<u8>> = set
            .map(|v| format!("GLIBC_TUNABLES={v}").into_bytes())
            .into_iter()
            .collect();
        assert_eq!(tunables, want.iter().map(|v| &v[..]).collect::<Vec<_>>());
    }
}
