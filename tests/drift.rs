//! `secretsnap drift` through the built binary on the emulator: after a backup, a new version, a
//! disabled version, a deleted secret and a changed tag are each reported and the exit code is 6;
//! no value is read (the emulator counts `access` calls), and an unchanged source exits 0. On
//! moto: the engine's drift of realistic fixtures, and `drift @NAME` through the binary, whose
//! result reaches `status` and the metrics.

mod common;

use common::{changed, names, World, A};
use secretsnap_scaleway::emulator::Config;
use serde_json::json;

#[test]
fn drift_reports_each_change_from_metadata_only() {
    let w = World::new(Config::default());
    let url = format!("scaleway://fr-par/{A}");
    w.json(&["init"], 0);
    w.json(&["backup", &url], 0);

    let reads = w.emu.accesses();
    let same = w.json(&["drift", &url], 0);
    assert_eq!(same["drifted"], false, "{same}");
    assert_eq!(w.emu.accesses() - reads, 0, "no value read");

    // Four unprotected secrets of the project, by full name.
    let picked: Vec<(String, String)> = w.emu.with_state(|st| {
        let mut live: Vec<(String, String)> = st
            .secrets
            .values()
            .filter(|s| s.project_id == A && !s.protected && !s.managed)
            .map(|s| {
                let full = if s.path == "/" {
                    format!("/{}", s.name)
                } else {
                    format!("{}/{}", s.path, s.name)
                };
                (full, s.id.clone())
            })
            .collect();
        live.sort();
        live.truncate(4);
        live
    });
    assert_eq!(picked.len(), 4);
    w.emu.with_state(|st| {
        let add = serde_json::from_value(json!({"data": "bmV3IHZhbHVl"})).unwrap();
        st.create_version("fr-par", &picked[0].1, add).unwrap();
        st.set_version_status("fr-par", &picked[1].1, "1", "disable")
            .unwrap();
        st.delete_secret("fr-par", &picked[2].1).unwrap();
        st.update_secret("fr-par", &picked[3].1, json!({"tags": ["drifted"]}))
            .unwrap();
    });

    let reads = w.emu.accesses();
    let out = w.json(&["drift", &url], 6);
    assert_eq!(w.emu.accesses() - reads, 0, "drift read no value");
    assert_eq!(out["drifted"], true);
    let d = &out["drift"]["diff"];
    assert_eq!(
        names(&changed(d, &picked[0].0)["versions_added"]),
        ["4"],
        "{d}"
    );
    let disabled = &changed(d, &picked[1].0)["versions_changed"][0];
    assert_eq!(disabled["version"], "1", "{d}");
    assert_eq!(disabled["changes"][0]["field"], "status");
    assert_eq!(disabled["changes"][0]["after"], "disabled");
    let deleted = &picked[2].0;
    assert!(
        names(&d["removed"]).contains(deleted)
            || changed(d, deleted)["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["field"] == "deletion_requested_at"),
        "{d}"
    );
    let tags = &changed(d, &picked[3].0)["changes"];
    assert!(
        tags.as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "tags" && c["after"] == "drifted"),
        "{d}"
    );

    // Human output names the same, and the snapshot can be chosen explicitly.
    let snap = w.json(&["snapshots"], 0)["snapshots"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (rc, text, err) = w.run(&["drift", &url, "--snapshot", &snap]);
    assert_eq!(rc, 6, "{text}{err}");
    assert!(text.contains(&format!("M {}", picked[3].0)), "{text}");
    assert!(text.contains("drifted ("), "{text}");
}

/// The same on moto: right after a backup of realistic fixtures (labels, deprecated versions,
/// AWSPENDING, binary, KMS key) nothing drifts; a new value, a tag and a description are then
/// each reported.
#[tokio::test]
async fn drift_on_aws_reports_new_versions_tags_and_descriptions() {
    use secretsnap::engine::{backup, drift, BackupOptions, Silent};
    use secretsnap_aws::{fixtures, AwsSource};
    use secretsnap_core::Filter;

    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let c = fixtures::client("eu-south-2", &url).await;
    let names = fixtures::seed(&c, "drift").await.unwrap();
    let filter = Filter {
        path_prefix: Some("/drift".into()),
        ..Default::default()
    };
    let repo = common::memory_repo().await;
    let source = AwsSource::new(c.clone());
    let opts = BackupOptions {
        filter: filter.clone(),
        concurrency: 4,
        ..Default::default()
    };
    let snap = backup(&repo, &source, &opts, &Silent)
        .await
        .unwrap()
        .snapshot
        .unwrap();
    let same = drift(&repo, &snap, &source, &filter, 4).await.unwrap();
    assert!(!same.drifted(), "{:?}", same.diff);

    let sdk = c.sdk();
    sdk.put_secret_value()
        .secret_id(&names[0])
        .secret_string("rotated by hand")
        .send()
        .await
        .unwrap();
    sdk.tag_resource()
        .secret_id(&names[1])
        .tags(
            secretsnap_aws::sdk::types::Tag::builder()
                .key("owner")
                .value("someone-else")
                .build(),
        )
        .send()
        .await
        .unwrap();
    sdk.update_secret()
        .secret_id(&names[2])
        .description("changed behind our back")
        .send()
        .await
        .unwrap();
    let r = drift(&repo, &snap, &source, &filter, 4).await.unwrap();
    assert!(r.drifted());
    let find = |name: &str| {
        r.diff
            .changed
            .iter()
            .find(|c| c.secret.trim_start_matches('/') == name.trim_start_matches('/'))
            .unwrap_or_else(|| panic!("{name} not reported: {:?}", r.diff))
    };
    assert_eq!(find(&names[0]).versions_added.len(), 1);
    assert!(find(&names[1]).changes.iter().any(|f| f.field == "tags"));
    assert!(find(&names[2])
        .changes
        .iter()
        .any(|f| f.field == "description" && f.after == "changed behind our back"));
}

/// ListSecrets may lag (AWS documents it; DescribeSecret is current): a secret the snapshot holds
/// but a lagging listing does not show yet is confirmed by reading it, not reported removed; a
/// secret really deleted is still reported.
#[tokio::test]
async fn drift_confirms_what_a_lagging_listing_leaves_out() {
    use secretsnap::engine::{backup, drift, BackupOptions, Silent};
    use secretsnap_aws::lagging::LaggingListing;
    use secretsnap_aws::{fixtures, AwsSource};
    use secretsnap_core::Filter;

    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let region = "il-central-1";
    let direct = fixtures::client(region, &url).await;
    let names = fixtures::seed(&direct, "lagdrift").await.unwrap();
    let filter = Filter {
        path_prefix: Some("/lagdrift".into()),
        ..Default::default()
    };
    // The listing as it is before the new secret, then frozen there.
    let proxy = LaggingListing::start(&url).await;
    let lagging = AwsSource::new(fixtures::client(region, &proxy.url).await);
    secretsnap_core::Source::list(&lagging, &filter)
        .await
        .unwrap();
    proxy.freeze();
    direct
        .sdk()
        .create_secret()
        .name("lagdrift/just-created")
        .secret_string("new")
        .send()
        .await
        .unwrap();
    let repo = common::memory_repo().await;
    let opts = BackupOptions {
        filter: filter.clone(),
        concurrency: 4,
        ..Default::default()
    };
    let current = AwsSource::new(direct.clone());
    let snap = backup(&repo, &current, &opts, &Silent)
        .await
        .unwrap()
        .snapshot
        .unwrap();

    let r = drift(&repo, &snap, &lagging, &filter, 4).await.unwrap();
    assert!(
        !r.drifted(),
        "the lagging listing's gap is not drift: {:?}",
        r.diff
    );

    // A secret really gone (the listing caught up) is still reported removed, once
    // DescribeSecret says so too.
    proxy.thaw();
    direct
        .sdk()
        .delete_secret()
        .secret_id(&names[3])
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let r = drift(&repo, &snap, &lagging, &filter, 4).await.unwrap();
    assert_eq!(r.diff.removed.len(), 1, "{:?}", r.diff);
    assert!(
        r.diff.removed[0].ends_with(names[3].as_str()),
        "{:?}",
        r.diff
    );
}

/// Through the built binary on moto, for a configured source: `drift @NAME` exits 0 right
/// after a backup and 6 after a new value, and the result reaches `status` and the metrics.
#[test]
fn drift_of_a_configured_aws_source_reaches_status_and_metrics() {
    use secretsnap_aws::fixtures;

    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let region = "eu-central-2";
    let w = World::new(Config::default());
    let c = w.rt.block_on(fixtures::client(region, &url));
    let names = w.rt.block_on(fixtures::seed(&c, "bindrift")).unwrap();
    let config = w.write_config(&format!(
        "[sources.aws-prod]\nurl = \"aws://{region}?path=/bindrift\"\nrepository = \"main\"\n"
    ));
    let config = config.display().to_string();
    let run = |args: &[&str], code: i32| {
        let mut a = vec!["--config", config.as_str()];
        a.extend_from_slice(args);
        w.json(&a, code)
    };
    run(&["init"], 0);
    run(&["backup", "@aws-prod"], 0);
    assert_eq!(run(&["drift", "@aws-prod"], 0)["drifted"], false);

    w.rt.block_on(
        c.sdk()
            .put_secret_value()
            .secret_id(&names[0])
            .secret_string("a new value")
            .send(),
    )
    .unwrap();
    let out = run(&["drift", "@aws-prod"], 6);
    let changed = out["drift"]["diff"]["changed"].to_string();
    assert!(changed.contains(&names[0]), "{out}");
    let status = run(&["status"], 0);
    assert_eq!(
        status["sources"][0]["last_drift"]["drifted"], true,
        "{status}"
    );
    let (rc, metrics, _) = w.run(&["--config", &config, "status", "--prometheus"]);
    assert_eq!(rc, 0);
    assert!(
        metrics.lines().any(
            |l| l.starts_with("secretsnap_drift_detected{source=\"aws-prod\"") && l.ends_with(" 1")
        ),
        "{metrics}"
    );
}
