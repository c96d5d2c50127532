//! The Vault connectors against a real OpenBao server on 127.0.0.1 (`bao server -dev`, started by
//! `tests/run.sh`, which sets SECRETSNAP_TEST_VAULT and the root token): the shared conformance
//! suite, then what only KV has — every version keeps its number and its state (live, deleted,
//! destroyed), typed JSON values, custom metadata and settings, into another mount and into a
//! namespace; an incremental read costs the listing and one metadata read per path; a token
//! whose policy forbids a path fails that secret by name and the others are read; a 429 from a
//! rate-limit quota is waited out. Each test works in mounts and folders of its own.

use reqwest::Method;
use secretsnap_core::conformance::{
    read_all, restore_all, round_trip, rules, skips_what_the_source_was_deleting,
};
use secretsnap_core::fetch::fetch_each;
use secretsnap_core::{
    Destination, Filter, Payload, RestoreOptions, Source, Version, VersionStatus,
};
use secretsnap_vault::fixtures::{
    admin, client, mount, policy, second_server, server, token, unique, write,
};
use secretsnap_vault::{VaultClient, VaultDestination, VaultSource};
use serde_json::{json, Value};

async fn versions_act(c: &VaultClient, mount: &str, act: &str, path: &str, n: u64) {
    let method = if act == "destroy" {
        Method::PUT
    } else {
        Method::POST
    };
    admin(
        c,
        method,
        &format!("{mount}/{act}/{path}"),
        json!({ "versions": [n] }),
    )
    .await;
}

/// Seeds `mount` under `app/`: typed values over several versions, one soft-deleted and one
/// destroyed version, custom metadata and settings, and a path two folders down.
async fn seed(c: &VaultClient, mount: &str) {
    for (i, data) in [
        json!({"password": "one", "port": 5432}),
        json!({"password": "two", "port": 5432, "tls": true}),
        json!({"password": "three", "ratio": 0.25, "hosts": ["a", "b"], "nested": {"k": null}}),
        json!({"password": "four"}),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(write(c, mount, "app/db", data).await, i as u64 + 1);
    }
    versions_act(c, mount, "destroy", "app/db", 1).await;
    versions_act(c, mount, "delete", "app/db", 3).await;
    admin(
        c,
        Method::POST,
        &format!("{mount}/metadata/app/db"),
        json!({"custom_metadata": {"team": "payments", "owner": "dba"}, "max_versions": 7,
               "delete_version_after": "0s"}),
    )
    .await;
    write(c, mount, "app/deep/er/token", json!({"t": "x"})).await;
    write(c, mount, "top", json!({"v": 1})).await;
    admin(
        c,
        Method::POST,
        &format!("{mount}/metadata/top"),
        json!({"cas_required": true}),
    )
    .await;
}

/// Number, state and (for live versions) data of every version of `path`, as the server says.
async fn history(c: &VaultClient, mount: &str, path: &str) -> Vec<(u64, &'static str, Value)> {
    let m = admin(
        c,
        Method::GET,
        &format!("{mount}/metadata/{path}"),
        Value::Null,
    )
    .await;
    let mut out = Vec::new();
    let versions = m["data"]["versions"].as_object().unwrap();
    let mut numbers: Vec<u64> = versions.keys().map(|k| k.parse().unwrap()).collect();
    numbers.sort();
    for n in numbers {
        let v = &versions[&n.to_string()];
        let (state, data) = if v["destroyed"] == true {
            ("destroyed", Value::Null)
        } else if v["deletion_time"] != "" {
            ("deleted", Value::Null)
        } else {
            let r = admin(
                c,
                Method::GET,
                &format!("{mount}/data/{path}?version={n}"),
                Value::Null,
            )
            .await;
            ("live", r["data"]["data"].clone())
        };
        out.push((n, state, data));
    }
    out
}

async fn settings(c: &VaultClient, mount: &str, path: &str) -> Value {
    let m = admin(
        c,
        Method::GET,
        &format!("{mount}/metadata/{path}"),
        Value::Null,
    )
    .await;
    let d = &m["data"];
    json!({"custom_metadata": d["custom_metadata"], "max_versions": d["max_versions"],
           "cas_required": d["cas_required"], "delete_version_after": d["delete_version_after"]})
}

/// Seeds a new mount through `one`, runs the conformance round trip into a new mount through
/// `two`, and requires every path's history (number, state, typed data) and settings equal.
/// Returns the target mount.
async fn round_trip_keeping_numbers(one: &VaultClient, two: &VaultClient) -> String {
    let (a, b) = (mount(one).await, mount(two).await);
    seed(one, &a).await;
    let trip = round_trip(
        &VaultSource::new(one.clone(), &a),
        &VaultDestination::new(two.clone(), &b),
        &VaultSource::new(two.clone(), &b),
        &Filter::default(),
        &RestoreOptions::default(),
    )
    .await;
    assert_eq!(trip.secrets, 3);
    for path in ["app/db", "app/deep/er/token", "top"] {
        let (x, y) = (history(one, &a, path).await, history(two, &b, path).await);
        assert_eq!(x, y, "{path}");
        let (x, y) = (settings(one, &a, path).await, settings(two, &b, path).await);
        assert_eq!(x, y, "{path}");
    }
    b
}

#[tokio::test]
async fn every_version_keeps_its_number_state_and_types_into_another_mount() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let b = round_trip_keeping_numbers(&root, &root).await;
    let db = history(&root, &b, "app/db").await;
    let states: Vec<&str> = db.iter().map(|v| v.1).collect();
    assert_eq!(states, ["destroyed", "live", "deleted", "live"]);
    assert_eq!(db[1].2["tls"], true, "types kept");
}

#[tokio::test]
async fn every_version_keeps_its_number_on_another_server() {
    let (Some(addr), Some(addr2)) = (server(), second_server()) else {
        return;
    };
    let (one, two) = (
        client(&addr, &token(), None),
        client(&addr2, &token(), None),
    );
    round_trip_keeping_numbers(&one, &two).await;
}

#[tokio::test]
async fn into_a_namespace_and_back_with_read_deleted() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let a = mount(&root).await;
    seed(&root, &a).await;
    let ns = unique("ns");
    admin(
        &root,
        Method::POST,
        &format!("sys/namespaces/{ns}"),
        json!({}),
    )
    .await;
    let inside = client(&addr, &token(), Some(&ns));
    let b = mount(&inside).await;
    let read_deleted = Filter {
        read_disabled: true,
        ..Default::default()
    };
    let source = VaultSource::new(root.clone(), &a);
    let (secrets, failures) = read_all(&source, &read_deleted).await;
    assert!(failures.is_empty(), "{failures:?}");
    let db = secrets.iter().find(|s| s.name == "db").unwrap();
    assert!(
        db.versions[2].payload.has_value(),
        "the deleted version was read"
    );
    assert_eq!(db.versions[2].status, VersionStatus::Disabled);
    assert_eq!(
        history(&root, &a, "app/db").await[2].1,
        "deleted",
        "and deleted again at the source"
    );
    let dest = VaultDestination::new(inside.clone(), &b);
    assert_eq!(dest.location().url(), format!("vault://{b}/{ns}"));
    let (_, report) = secretsnap_core::conformance::restore_all(
        &dest,
        &secrets,
        &RestoreOptions::default(),
        false,
    )
    .await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        history(&root, &a, "app/db").await.len(),
        history(&inside, &b, "app/db").await.len()
    );
    // The deleted version came with its value: undeleting it at the target gives it back.
    versions_act(&inside, &b, "undelete", "app/db", 3).await;
    let back = history(&inside, &b, "app/db").await;
    assert_eq!(back[2].2["hosts"], json!(["a", "b"]));
    // Not visible from the root namespace: no such mount there.
    let outside = VaultSource::new(root.clone(), &b)
        .list(&Filter::default())
        .await
        .unwrap_err();
    assert!(outside.to_string().contains("no mount"), "{outside}");
}

#[tokio::test]
async fn conformance_rules_and_sources_being_deleted() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let b = mount(&root).await;
    let dest = VaultDestination::new(root.clone(), &b);
    rules(&dest).await;
    skips_what_the_source_was_deleting(&dest).await;
}

#[tokio::test]
async fn an_incremental_read_costs_the_listing_and_one_metadata_read_per_path() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let a = mount(&root).await;
    seed(&root, &a).await;
    let source = VaultSource::new(root.clone(), &a);
    let filter = Filter::default();
    let before = source.calls();
    let listed = source.list(&filter).await.unwrap();
    // The mount's kind (once per run), then the folders: the root, app/, app/deep/, app/deep/er/.
    assert_eq!(source.calls() - before, 1 + 4);
    let everything = |_: &str| Some(Version::default());
    let before = source.calls();
    let n = listed.len() as u64;
    let fetched: Vec<_> = {
        use futures::StreamExt;
        fetch_each(&source, listed, &filter, &everything, 4, |_| ())
            .collect()
            .await
    };
    assert_eq!(
        source.calls() - before,
        n,
        "one metadata read per path, no data read"
    );
    for (_, r) in fetched {
        let s = r.unwrap();
        assert!(s
            .versions
            .iter()
            .all(|v| matches!(v.payload, Payload::Known)));
    }
}

#[tokio::test]
async fn a_forbidden_path_fails_by_name_and_the_rest_is_read() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let a = mount(&root).await;
    seed(&root, &a).await;
    let rules = format!(
        "path \"{a}/*\" {{ capabilities = [\"read\", \"list\"] }}\n\
         path \"{a}/data/app/db\" {{ capabilities = [\"deny\"] }}\n"
    );
    let policy = policy(&root, &rules).await;
    let t = admin(
        &root,
        Method::POST,
        "auth/token/create",
        json!({"policies": [policy], "ttl": "10m"}),
    )
    .await;
    let limited = client(&addr, t["auth"]["client_token"].as_str().unwrap(), None);
    let (secrets, _) = read_all(&VaultSource::new(limited, &a), &Filter::default()).await;
    assert_eq!(secrets.len(), 3);
    let db = secrets.iter().find(|s| s.name == "db").unwrap();
    let failed: Vec<&Version> = db
        .versions
        .iter()
        .filter(|v| matches!(v.payload, Payload::Failed(_)))
        .collect();
    assert_eq!(failed.len(), 2, "{:?}", db.versions);
    assert!(failed[0]
        .not_read
        .as_deref()
        .unwrap()
        .contains("permission denied"));
    let top = secrets.iter().find(|s| s.name == "top").unwrap();
    assert!(top.versions[0].payload.has_value());
}

#[tokio::test]
async fn a_rate_limit_quota_is_waited_out() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let a = mount(&root).await;
    for i in 0..12 {
        write(&root, &a, &format!("many/s{i}"), json!({"i": i})).await;
    }
    let quota = unique("q");
    admin(
        &root,
        Method::POST,
        &format!("sys/quotas/rate-limit/{quota}"),
        json!({"path": format!("{a}/"), "rate": 5, "interval": "1s"}),
    )
    .await;
    let source = VaultSource::new(root.clone(), &a);
    let (secrets, failures) = read_all(&source, &Filter::default()).await;
    admin(
        &root,
        Method::DELETE,
        &format!("sys/quotas/rate-limit/{quota}"),
        Value::Null,
    )
    .await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(secrets.len(), 12);
    assert!(secrets.iter().all(|s| s.versions[0].payload.has_value()));
    // 1 listing + 2 per path were needed; the 429s were retried.
    assert!(source.calls() > 25, "calls {}", source.calls());
}

/// `append` continues the target's numbering from where its plan saw it: a path someone wrote to
/// between the plan and the write is refused, and nothing is written.
#[tokio::test]
async fn an_append_refuses_a_path_written_since_its_plan() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let (a, b) = (mount(&root).await, mount(&root).await);
    write(&root, &a, "x", json!({"v": 1})).await;
    write(&root, &a, "x", json!({"v": 2})).await;
    // The target holds version 1: a restore that stopped half-way.
    write(&root, &b, "x", json!({"v": 1})).await;
    let (secrets, _) = read_all(&VaultSource::new(root.clone(), &a), &Filter::default()).await;
    let dest = VaultDestination::new(root.clone(), &b);
    let append = RestoreOptions {
        conflict: secretsnap_core::ConflictMode::Append,
        ..Default::default()
    };
    let item = dest.plan(&secrets[0], &append).await.unwrap();
    assert_eq!(item.creates(), 1, "{item:?}");
    write(&root, &b, "x", json!({"someone": "else"})).await;
    let err = dest.apply(&item, &secrets[0], &append).await.unwrap_err();
    assert!(err.reason.contains("since the plan"), "{}", err.reason);
    assert_eq!(history(&root, &b, "x").await.len(), 2, "nothing written");
}

/// Into a new path without custom metadata, whose history the mount keeps by default, no call
/// makes room for the history first; where the mount keeps fewer versions, one does, and every
/// version is still there.
#[tokio::test]
async fn room_is_made_for_a_history_only_where_the_mount_would_prune_it() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let a = mount(&root).await;
    for path in ["x", "y", "z"] {
        for i in 1..=3 {
            write(&root, &a, path, json!({ "v": i })).await;
        }
    }
    let (secrets, _) = read_all(&VaultSource::new(root.clone(), &a), &Filter::default()).await;
    let restore = |m: String| {
        let secrets = secrets.clone();
        let root = root.clone();
        async move {
            let dest = VaultDestination::new(root, &m);
            let before = dest.calls();
            let (_, report) = restore_all(&dest, &secrets, &RestoreOptions::default(), false).await;
            assert!(report.failed.is_empty(), "{report:?}");
            dest.calls() - before
        }
    };
    // The mount lookup and its config once, then per path the plan's metadata read, 3 writes
    // and the settings (it was 1 + 3 × 6 with a room call per path).
    let roomy = mount(&root).await;
    assert_eq!(restore(roomy.clone()).await, 1 + 1 + 3 * (1 + 3 + 1));
    assert_eq!(history(&root, &roomy, "x").await.len(), 3);
    // A mount keeping 2 versions: the room call comes back, and nothing is pruned.
    let tight = mount(&root).await;
    admin(
        &root,
        Method::POST,
        &format!("{tight}/config"),
        json!({"max_versions": 2}),
    )
    .await;
    assert_eq!(restore(tight.clone()).await, 1 + 1 + 3 * (1 + 3 + 1 + 1));
    let kept = history(&root, &tight, "x").await;
    assert_eq!(kept.len(), 3, "{kept:?}");
}
