//! What a restore of AWS secrets keeps, field by field, on moto (SECRETSNAP_TEST_MOTO, set by
//! tests/run.sh): a resource policy restored into another region of the same account, with the
//! source secret's ARN rewritten to the new one; replica regions recorded in the snapshot and
//! re-created only with `replicate`; a binary version whose bytes are valid UTF-8 still binary
//! after an incremental backup reused it unread; and, through the built binary, a restore into a
//! second account (an AWS profile with `role_arn` + `source_profile`, which moto ties to the
//! role's account) that keeps every VersionId, label, value, tag and description and applies the
//! policy only with `--map-account`.

mod common;

use secretsnap::engine::{backup, inventory, restore_snapshot, BackupOptions, Silent};
use secretsnap_aws::sdk::primitives::Blob;
use secretsnap_aws::sdk::types::ReplicaRegionType;
use secretsnap_aws::{fixtures, AwsClient, AwsDestination, AwsSource};
use secretsnap_core::conformance::read_all;
use secretsnap_core::{Filter, RestoreOptions};

/// moto's default account.
const SOURCE_ACCOUNT: &str = "123456789012";
const OTHER_ACCOUNT: &str = "222222222222";

fn under(prefix: &str) -> BackupOptions {
    BackupOptions {
        filter: Filter {
            path_prefix: Some(format!("/{prefix}")),
            ..Default::default()
        },
        concurrency: 4,
        ..Default::default()
    }
}

/// Restores `snap` into `target`; requires that nothing failed.
async fn restore(
    repo: &secretsnap_store::Repository,
    snap: &secretsnap_store::Id,
    target: &AwsClient,
    opts: &RestoreOptions,
) -> secretsnap_core::Report {
    let dest = AwsDestination::new(target.clone());
    let (_, report) = restore_snapshot(repo, snap, &dest, opts, false, |_| true, &Silent)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    report
}

/// A policy granting a role of `account` read access to the secret `arn`.
fn policy(account: &str, arn: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:role/app"}},"Action":"secretsmanager:GetSecretValue","Resource":"{arn}"}}]}}"#
    )
}

/// Creates `name` with one string value, a replica in `replica` and a policy naming its own ARN
/// and account; returns its ARN.
async fn seed_shared(c: &AwsClient, name: &str, replica: &str) -> String {
    let out = c
        .sdk()
        .create_secret()
        .name(name)
        .description("shared database")
        .secret_string("value-one")
        .add_replica_regions(ReplicaRegionType::builder().region(replica).build())
        .send()
        .await
        .unwrap();
    let arn = out.arn().unwrap().to_string();
    c.sdk()
        .put_resource_policy()
        .secret_id(name)
        .resource_policy(policy(SOURCE_ACCOUNT, &arn))
        .send()
        .await
        .unwrap();
    arn
}

async fn policy_of(c: &AwsClient, name: &str) -> Option<String> {
    c.sdk()
        .get_resource_policy()
        .secret_id(name)
        .send()
        .await
        .unwrap()
        .resource_policy()
        .map(String::from)
}

async fn replica_regions(c: &AwsClient, name: &str) -> Vec<String> {
    c.sdk()
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .unwrap()
        .replication_status()
        .iter()
        .filter_map(|r| r.region().map(String::from))
        .collect()
}

async fn string_value(c: &AwsClient, name: &str) -> Option<String> {
    c.sdk()
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .unwrap()
        .secret_string()
        .map(String::from)
}

/// A secret replicated to two regions, restored with `replicate` into a third region of the same
/// account where one original replica still exists: the plan looks at each replica region
/// first and says what will happen; the conflicting region is not asked for (AWS would leave it
/// `Failed`) and makes the restore partial, named with its reason; the free one is created and
/// its status reported.
#[tokio::test]
async fn replica_conflicts_are_planned_and_reported_per_region() {
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let name = "fid-replicas/db-main";
    let src = fixtures::client("eu-west-3", &url).await;
    src.sdk()
        .create_secret()
        .name(name)
        .secret_string("primary")
        .add_replica_regions(ReplicaRegionType::builder().region("eu-central-2").build())
        .add_replica_regions(ReplicaRegionType::builder().region("us-west-1").build())
        .send()
        .await
        .unwrap();
    let repo = common::memory_repo().await;
    let first = backup(
        &repo,
        &AwsSource::new(src.clone()),
        &under("fid-replicas"),
        &Silent,
    )
    .await
    .unwrap();
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    let snap = first.snapshot.unwrap();
    // us-west-1's replica is gone at the source; eu-central-2's still holds the name.
    src.sdk()
        .remove_regions_from_replication()
        .secret_id(name)
        .remove_replica_regions("us-west-1")
        .send()
        .await
        .unwrap();
    let _ = fixtures::client("us-west-1", &url)
        .await
        .sdk()
        .delete_secret()
        .secret_id(name)
        .force_delete_without_recovery(true)
        .send()
        .await;

    let target = fixtures::client("ap-south-2", &url).await;
    let dest = AwsDestination::new(target.clone());
    let replicate = RestoreOptions {
        replicate: true,
        ..Default::default()
    };
    let (plan, _) = restore_snapshot(&repo, &snap, &dest, &replicate, true, |_| true, &Silent)
        .await
        .unwrap();
    let said = plan.items[0].notes.join("\n");
    assert!(
        said.contains("replica eu-central-2: a secret named fid-replicas/db-main already exists"),
        "{said}"
    );
    assert!(
        said.contains("replica us-west-1: will be created"),
        "{said}"
    );

    let (_, report) = restore_snapshot(&repo, &snap, &dest, &replicate, false, |_| true, &Silent)
        .await
        .unwrap();
    assert_eq!(report.created_secrets, 1, "{report:?}");
    assert_eq!(report.failed.len(), 1, "partial: {:?}", report.failed);
    assert!(
        report.failed[0].item.contains("replica eu-central-2")
            && report.failed[0].reason.contains("already exists"),
        "{:?}",
        report.failed
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("replica us-west-1: InSync")),
        "{:#?}",
        report.notes
    );
    assert_eq!(replica_regions(&target, name).await, ["us-west-1"]);
}

#[tokio::test]
async fn same_account_restore_keeps_the_policy_and_replicates_on_request() {
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let name = "fid-same/shared-db";
    let src = fixtures::client("eu-west-1", &url).await;
    let source_arn = seed_shared(&src, name, "eu-north-1").await;
    let repo = common::memory_repo().await;
    let first = backup(
        &repo,
        &AwsSource::new(src.clone()),
        &under("fid-same"),
        &Silent,
    )
    .await
    .unwrap();
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    let snap = first.snapshot.unwrap();

    // `ls` shows the replica regions the snapshot recorded.
    let listed = inventory::list(&repo, &snap).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].replicas, ["eu-north-1"]);

    // Another region of the same account: the policy is restored, pointing at the new secret.
    let south = fixtures::client("eu-south-1", &url).await;
    let report = restore(&repo, &snap, &south, &RestoreOptions::default()).await;
    let new_arn = report.applied[&format!("/{name}")].target_id.clone();
    assert_ne!(new_arn, source_arn);
    assert_eq!(
        policy_of(&south, name).await.as_deref(),
        Some(policy(SOURCE_ACCOUNT, &new_arn).as_str()),
        "the same principal, the new secret's ARN"
    );
    assert!(
        !report.notes.iter().any(|n| n.contains("resource policy")),
        "nothing to say about the policy: {:#?}",
        report.notes
    );
    // Replication is opt-in: noted, with the flag that does it.
    assert!(replica_regions(&south, name).await.is_empty());
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("replicated to eu-north-1") && n.contains("--replicate")),
        "{:#?}",
        report.notes
    );

    // Disaster recovery: the source's replica is gone; restore with replicate re-creates it.
    src.sdk()
        .remove_regions_from_replication()
        .secret_id(name)
        .remove_replica_regions("eu-north-1")
        .send()
        .await
        .unwrap();
    let central = fixtures::client("eu-central-1", &url).await;
    let replicate = RestoreOptions {
        replicate: true,
        ..Default::default()
    };
    restore(&repo, &snap, &central, &replicate).await;
    assert_eq!(replica_regions(&central, name).await, ["eu-north-1"]);
    let north = fixtures::client("eu-north-1", &url).await;
    assert_eq!(
        string_value(&north, name).await.as_deref(),
        Some("value-one")
    );
}

#[tokio::test]
async fn a_binary_version_stays_binary_in_incremental_snapshots() {
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let name = "fid-bin/certificate";
    let src = fixtures::client("eu-west-1", &url).await;
    // Valid UTF-8, stored as SecretBinary: only the first read can tell.
    src.sdk()
        .create_secret()
        .name(name)
        .secret_binary(Blob::new(b"-----BEGIN CERTIFICATE----- ascii".to_vec()))
        .send()
        .await
        .unwrap();
    let repo = common::memory_repo().await;
    let source = AwsSource::new(src.clone());
    let first = backup(&repo, &source, &under("fid-bin"), &Silent)
        .await
        .unwrap();
    assert_eq!(first.values_read, 1);
    let second = backup(&repo, &source, &under("fid-bin"), &Silent)
        .await
        .unwrap();
    assert_eq!(second.values_read, 0, "the second backup reads nothing");
    assert_eq!(second.values_reused, 1);
    let snap = second.snapshot.unwrap();
    let listed = inventory::list(&repo, &snap).await.unwrap();
    assert_eq!(listed[0].kind, "binary", "{listed:?}");

    let target = fixtures::client("eu-south-1", &url).await;
    restore(&repo, &snap, &target, &RestoreOptions::default()).await;
    let got = target
        .sdk()
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .unwrap();
    assert!(got.secret_string().is_none(), "restored as SecretString");
    assert_eq!(
        got.secret_binary().map(|b| b.as_ref().to_vec()),
        Some(b"-----BEGIN CERTIFICATE----- ascii".to_vec())
    );
}

/// The built binary with moto's endpoint and a local repository; `profile`: act through that
/// profile of `config` (no keys in the environment), else with the environment's keys.
fn cli(
    dir: &std::path::Path,
    url: &str,
    profile: Option<&str>,
    args: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("secretsnap"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("SECRETSNAP_REPOSITORY", dir.join("repo"))
        .env("SECRETSNAP_PASSWORD", "correct horse")
        .env("SECRETSNAP_CACHE_DIR", dir.join("cache"))
        .env("AWS_ENDPOINT_URL", url)
        .env("AWS_CONFIG_FILE", dir.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws-credentials"))
        .args(args)
        .arg("--json");
    match profile {
        Some(p) => c.env("AWS_PROFILE", p),
        None => c
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing"),
    };
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\nstdout: {stdout}\nstderr: {stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn notes(json: &serde_json::Value) -> Vec<String> {
    json["report"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn another_account_applies_the_policy_only_with_map_account() {
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let name = "fid-acct/api-key";
    let src = fixtures::client("eu-west-1", &url).await;
    let source_arn = seed_shared(&src, name, "eu-north-1").await;
    // And the realistic fixtures: labels, deprecated versions, AWSPENDING, binary, KMS key.
    fixtures::seed(&src, "fid-acct").await.unwrap();
    let only = Filter {
        path_prefix: Some("/fid-acct".into()),
        ..Default::default()
    };
    let (original, _) = read_all(&AwsSource::new(src.clone()), &only).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("aws-config"),
        format!(
            "[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\n\n\
             [profile dr]\nrole_arn = arn:aws:iam::{OTHER_ACCOUNT}:role/restore\nsource_profile = \
              base\n"
        ),
    )
    .unwrap();
    let d = dir.path();
    let (rc, _, err) = cli(d, &url, None, &["init"]);
    assert_eq!(rc, 0, "{err}");
    let (rc, _, err) = cli(d, &url, None, &["backup", "aws://eu-west-1?path=/fid-acct"]);
    assert_eq!(rc, 0, "{err}");

    // Into the other account without a mapping: restored, the policy not applied, and the
    // report says exactly what to add.
    let (rc, json, err) = cli(
        d,
        &url,
        Some("dr"),
        &["restore", "latest", "aws://eu-west-1"],
    );
    assert_eq!(rc, 0, "{err}\n{json:#}");
    let n = notes(&json);
    let hint = format!("--map-account {SOURCE_ACCOUNT}={OTHER_ACCOUNT}");
    assert!(
        n.iter()
            .any(|n| n.contains("resource policy not restored") && n.contains(&hint)),
        "{n:#?}"
    );
    let target_arn = json["report"]["applied"][format!("/{name}")]["target_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        target_arn.contains(&format!(":{OTHER_ACCOUNT}:")),
        "{target_arn}"
    );
    let other = fixtures::in_account(&src, &url, "eu-west-1", OTHER_ACCOUNT)
        .await
        .unwrap();
    assert_eq!(policy_of(&other, name).await, None);
    let (restored, _) = read_all(&AwsSource::new(other.clone()), &only).await;
    assert_eq!(
        fixtures::shape(&original),
        fixtures::shape(&restored),
        "VersionIds, labels, values, tags and descriptions survive a restore into another account"
    );
    assert!(
        n.iter()
            .any(|n| n.contains("alias/fixture-key") && n.contains("--map-key")),
        "the KMS key that does not exist there is named: {n:#?}"
    );
    assert_eq!(
        string_value(&other, name).await.as_deref(),
        Some("value-one")
    );

    // With the mapping (and replication asked for): the policy names the target account and
    // the new secret, and the replica is re-created in the target account.
    let (rc, json, err) = cli(
        d,
        &url,
        Some("dr"),
        &[
            "restore",
            "latest",
            "aws://eu-central-1",
            "--map-account",
            &format!("{SOURCE_ACCOUNT}={OTHER_ACCOUNT}"),
            "--replicate",
        ],
    );
    assert_eq!(rc, 0, "{err}\n{json:#}");
    let target_arn = json["report"]["applied"][format!("/{name}")]["target_id"]
        .as_str()
        .unwrap()
        .to_string();
    let central = fixtures::in_account(&src, &url, "eu-central-1", OTHER_ACCOUNT)
        .await
        .unwrap();
    let restored = policy_of(&central, name).await.unwrap();
    assert_eq!(restored, policy(OTHER_ACCOUNT, &target_arn));
    assert!(!restored.contains(SOURCE_ACCOUNT) && !restored.contains(&source_arn));
    assert_eq!(replica_regions(&central, name).await, ["eu-north-1"]);
    let north = fixtures::in_account(&src, &url, "eu-north-1", OTHER_ACCOUNT)
        .await
        .unwrap();
    assert_eq!(
        string_value(&north, name).await.as_deref(),
        Some("value-one")
    );

    // A malformed mapping is a usage error that changes nothing.
    let (rc, _, _) = {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("secretsnap"));
        let out = c
            .env_clear()
            .env("SECRETSNAP_REPOSITORY", d.join("repo"))
            .env("SECRETSNAP_PASSWORD", "correct horse")
            .args([
                "restore",
                "latest",
                "aws://eu-west-2",
                "--map-account",
                "123=456",
            ])
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), (), ())
    };
    assert_eq!(rc, 2);
}
