//! Mounts, against the real OpenBao server `tests/run.sh` starts: a KV v1 mount is read (one
//! value per path, every run) and written (the latest version only, into new paths, the rest named
//! in the plan); `vault://` alone reads every KV mount of a namespace, each path under its mount's
//! name, and writes each back into the mount of that name, failing by name where the target has
//! no such mount; listings are paged where the server pages (OpenBao) and taken whole where it
//! ignores paging (a KV v1 mount).

use reqwest::Method;
use secretsnap_core::conformance::{read_all, restore_all};
use secretsnap_core::{Action, Destination, Filter, RestoreOptions, Source};
use secretsnap_vault::client::ClientOptions;
use secretsnap_vault::fixtures::{
    admin, client, client_with, kv_mount, mount, second_server, server, token, unique, write,
};
use secretsnap_vault::{VaultClient, VaultDestination, VaultSource};
use serde_json::{json, Value};

async fn write_v1(c: &VaultClient, mount: &str, path: &str, data: Value) {
    admin(c, Method::POST, &format!("{mount}/{path}"), data).await;
}

async fn read_v1(c: &VaultClient, mount: &str, path: &str) -> Value {
    admin(c, Method::GET, &format!("{mount}/{path}"), Value::Null).await["data"].clone()
}

async fn namespace(c: &VaultClient) -> String {
    let ns = unique("ns");
    admin(c, Method::POST, &format!("sys/namespaces/{ns}"), json!({})).await;
    ns
}

#[tokio::test]
async fn a_kv_v1_mount_is_read_and_written_one_value_per_path() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let v1 = kv_mount(&root, "1").await;
    let typed = json!({"password": "p", "port": 5432, "tls": true, "hosts": ["a", {"b": null}]});
    write_v1(&root, &v1, "app/db", typed.clone()).await;
    write_v1(&root, &v1, "top", json!({"v": "t"})).await;

    // Read: one version each, types kept, and again on the next run (v1 tells nothing else).
    let source = VaultSource::new(root.clone(), &v1);
    let (secrets, failures) = read_all(&source, &Filter::default()).await;
    assert!(failures.is_empty(), "{failures:?}");
    let names: Vec<String> = secrets.iter().map(|s| s.full_name()).collect();
    assert_eq!(names, ["/app/db", "/top"]);
    for s in &secrets {
        assert_eq!(s.versions.len(), 1);
        assert!(s.versions[0].payload.has_value());
    }

    // v1 → v2: each path becomes version 1 with the same object.
    let v2 = mount(&root).await;
    let (_, report) = restore_all(
        &VaultDestination::new(root.clone(), &v2),
        &secrets,
        &RestoreOptions::default(),
        false,
    )
    .await;
    assert!(report.failed.is_empty(), "{report:?}");
    let back = admin(
        &root,
        Method::GET,
        &format!("{v2}/data/app/db"),
        Value::Null,
    )
    .await;
    assert_eq!(back["data"]["data"], typed);
    assert_eq!(back["data"]["metadata"]["version"], 1);

    // v2 with a history → v1: the latest live version, nothing else, said in the plan.
    write(&root, &v2, "app/db", json!({"password": "newer"})).await;
    let (history, _) = read_all(&VaultSource::new(root.clone(), &v2), &Filter::default()).await;
    let into_v1 = kv_mount(&root, "1").await;
    let dest = VaultDestination::new(root.clone(), &into_v1);
    let db = history.iter().find(|s| s.name == "db").unwrap();
    let item = dest.plan(db, &RestoreOptions::default()).await.unwrap();
    assert_eq!(item.creates(), 1, "{item:?}");
    assert!(
        item.notes.iter().any(|n| n.contains("one value per path")),
        "{:?}",
        item.notes
    );
    let (_, report) = restore_all(&dest, &history, &RestoreOptions::default(), false).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        read_v1(&root, &into_v1, "app/db").await,
        json!({"password": "newer"})
    );

    // An existing v1 path is never overwritten: skipped, even with append.
    write_v1(&root, &into_v1, "top", json!({"theirs": 1})).await;
    let append = RestoreOptions {
        conflict: secretsnap_core::ConflictMode::Append,
        ..Default::default()
    };
    let top = history.iter().find(|s| s.name == "top").unwrap();
    let item = dest.plan(top, &append).await.unwrap();
    assert!(matches!(item.action, Action::Skip { .. }), "{item:?}");
    assert_eq!(read_v1(&root, &into_v1, "top").await, json!({"theirs": 1}));
    // A drill's clean-up removes a v1 path it names.
    dest.remove("app/db").await.unwrap();
    let (left, _) = read_all(
        &VaultSource::new(root.clone(), &into_v1),
        &Filter::default(),
    )
    .await;
    assert_eq!(left.len(), 1);
}

#[tokio::test]
async fn every_mount_of_a_namespace_goes_back_into_the_mounts_of_the_same_names() {
    let (Some(addr), Some(addr2)) = (server(), second_server()) else {
        return;
    };
    let root = client(&addr, &token(), None);
    let ns = namespace(&root).await;
    let one = client(&addr, &token(), Some(&ns));
    let (a, b, old) = (
        mount(&one).await,
        mount(&one).await,
        kv_mount(&one, "1").await,
    );
    write(&one, &a, "app/db", json!({"v": 1})).await;
    write(&one, &a, "app/db", json!({"v": 2})).await;
    write(&one, &b, "top", json!({"b": true})).await;
    write_v1(&one, &old, "legacy/key", json!({"k": "v1"})).await;

    let every = VaultSource::new(one.clone(), "");
    assert_eq!(every.location().url(), format!("vault:///{ns}"));
    let (secrets, failures) = read_all(&every, &Filter::default()).await;
    assert!(failures.is_empty(), "{failures:?}");
    let mut names: Vec<String> = secrets.iter().map(|s| s.full_name()).collect();
    names.sort();
    let mut want = vec![
        format!("/{a}/app/db"),
        format!("/{b}/top"),
        format!("/{old}/legacy/key"),
    ];
    want.sort();
    assert_eq!(names, want);
    // A folder filter starts with the mount's name.
    let only_a = Filter {
        path_prefix: Some(format!("/{a}/app")),
        ..Default::default()
    };
    let listed = every.list(&only_a).await.unwrap();
    assert_eq!(listed.len(), 1);

    // Another server, the same mounts by name (v1 too): every path back where it was.
    let root2 = client(&addr2, &token(), None);
    let ns2 = namespace(&root2).await;
    let two = client(&addr2, &token(), Some(&ns2));
    for (name, version) in [(&a, "2"), (&b, "2"), (&old, "1")] {
        admin(
            &two,
            Method::POST,
            &format!("sys/mounts/{name}"),
            json!({"type": "kv", "options": {"version": version}}),
        )
        .await;
    }
    let (_, report) = restore_all(
        &VaultDestination::new(two.clone(), ""),
        &secrets,
        &RestoreOptions::default(),
        false,
    )
    .await;
    assert!(report.failed.is_empty(), "{report:?}");
    let db = admin(
        &two,
        Method::GET,
        &format!("{a}/metadata/app/db"),
        Value::Null,
    )
    .await;
    assert_eq!(db["data"]["current_version"], 2, "numbers kept");
    assert_eq!(read_v1(&two, &old, "legacy/key").await, json!({"k": "v1"}));

    // A target without one of the mounts: those secrets fail by name, the others are written.
    let ns3 = namespace(&root2).await;
    let three = client(&addr2, &token(), Some(&ns3));
    admin(
        &three,
        Method::POST,
        &format!("sys/mounts/{a}"),
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await;
    let (_, report) = restore_all(
        &VaultDestination::new(three.clone(), ""),
        &secrets,
        &RestoreOptions::default(),
        false,
    )
    .await;
    let failed: Vec<&str> = report.failed.iter().map(|f| f.item.as_str()).collect();
    assert_eq!(failed.len(), 2, "{report:?}");
    assert!(report
        .failed
        .iter()
        .all(|f| f.reason.contains("no KV mount")));
    let db = admin(
        &three,
        Method::GET,
        &format!("{a}/metadata/app/db"),
        Value::Null,
    )
    .await;
    assert_eq!(db["data"]["current_version"], 2);
}

#[tokio::test]
async fn listings_are_paged_where_the_server_pages_and_whole_where_it_does_not() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let (v2, v1) = (mount(&root).await, kv_mount(&root, "1").await);
    for k in ["a", "b", "c", "d", "e"] {
        write(&root, &v2, k, json!({"k": k})).await;
        write_v1(&root, &v1, k, json!({"k": k})).await;
    }
    let paged = client_with(
        &addr,
        &token(),
        None,
        ClientOptions {
            list_page: 2,
            ..Default::default()
        },
    );
    let source = VaultSource::new(paged.clone(), &v2);
    let listed = source.list(&Filter::default()).await.unwrap();
    assert_eq!(listed.len(), 5);
    // The mount lookup, then pages [a b] [c d] [e].
    assert_eq!(source.calls(), 1 + 3);
    // KV v1 ignores paging (OpenBao warns and answers everything): one call, all five.
    let source = VaultSource::new(paged, &v1);
    let listed = source.list(&Filter::default()).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert_eq!(source.calls() - (1 + 3), 1 + 1);
}

/// Keys holding `?`, `#`, `%`, spaces and non-ASCII name themselves in every request: listed,
/// read, restored into another mount and read back under the same names.
#[tokio::test]
async fn keys_with_reserved_characters_travel_under_their_own_names() {
    let Some(addr) = server() else { return };
    let root = client(&addr, &token(), None);
    let (a, b) = (mount(&root).await, mount(&root).await);
    let odd = ["we ird/a?b", "we ird/c#d", "pct%41", "ünï cödé"];
    for (i, k) in odd.iter().enumerate() {
        write(&root, &a, k, json!({ "i": i })).await;
    }
    let (secrets, failures) =
        read_all(&VaultSource::new(root.clone(), &a), &Filter::default()).await;
    assert!(failures.is_empty(), "{failures:?}");
    let mut names: Vec<String> = secrets.iter().map(|s| s.full_name()).collect();
    names.sort();
    let mut want: Vec<String> = odd.iter().map(|k| format!("/{k}")).collect();
    want.sort();
    assert_eq!(names, want);
    assert!(secrets.iter().all(|s| s.versions[0].payload.has_value()));
    let (_, report) = restore_all(
        &VaultDestination::new(root.clone(), &b),
        &secrets,
        &RestoreOptions::default(),
        false,
    )
    .await;
    assert!(report.failed.is_empty(), "{report:?}");
    let (back, _) = read_all(&VaultSource::new(root.clone(), &b), &Filter::default()).await;
    let mut again: Vec<String> = back.iter().map(|s| s.full_name()).collect();
    again.sort();
    assert_eq!(again, want);
}
