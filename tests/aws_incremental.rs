//! List-only incremental backups of AWS, on moto (SECRETSNAP_TEST_MOTO, set by tests/run.sh).
//! An unchanged region costs its ListSecrets pages and nothing else; each kind of change the
//! listing shows (a new value, a label move, a tag, a description) is read again and lands in
//! the snapshot; a resource policy change, which moto's listing does not show (docs/aws.md), is
//! carried stale by a list-only run and caught by `full_scan` and by the full-scan period.

mod common;

use std::time::Duration;

use secretsnap::engine::{backup, load_secrets, BackupOptions, Silent};
use secretsnap_aws::sdk::types::Tag;
use secretsnap_aws::{fixtures, AwsSource};
use secretsnap_core::{Filter, Secret};
use secretsnap_store::{Id, Repository};

const REGION: &str = "ap-northeast-1";

async fn snapshot(repo: &Repository, id: &Id) -> Vec<Secret> {
    load_secrets(repo, id, |_| true).await.unwrap()
}

fn named<'a>(secrets: &'a [Secret], name: &str) -> &'a Secret {
    secrets
        .iter()
        .find(|s| s.full_name() == name)
        .unwrap_or_else(|| panic!("{name} not in the snapshot"))
}

fn policy(s: &Secret) -> String {
    s.resource_policy.clone().unwrap_or_default()
}

#[tokio::test]
async fn an_unchanged_region_costs_its_list_pages_and_changes_are_read_again() {
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let client = fixtures::client(REGION, &url).await;
    fixtures::seed(&client, "inc").await.unwrap();
    let sdk = client.sdk().clone();
    let source = AwsSource::new(client);
    let repo = common::memory_repo().await;
    let mut opts = BackupOptions {
        filter: Filter {
            path_prefix: Some("/inc".into()),
            ..Default::default()
        },
        concurrency: 4,
        ..Default::default()
    };
    let first = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert!(first.api_calls > 10, "a first backup reads everything");

    // Unchanged: one ListSecrets page (4 secrets), nothing else.
    let same = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert_eq!(
        same.api_calls, 1,
        "an unchanged region costs its ListSecrets pages only"
    );
    assert_eq!(
        (same.secrets, same.versions),
        (first.secrets, first.versions)
    );
    assert_eq!(same.values_read, 0);
    assert!(same.failed.is_empty(), "{:?}", same.failed);
    let before = snapshot(&repo, &first.snapshot.unwrap()).await;
    let carried = snapshot(&repo, &same.snapshot.unwrap()).await;
    assert_eq!(fixtures::shape(&before), fixtures::shape(&carried));
    let db = "/inc/app/db-password";
    assert_eq!(policy(named(&carried, db)), policy(named(&before, db)));
    assert!(!policy(named(&before, db)).is_empty());

    // Each change the listing shows is read again (one secret's calls, not the region's).
    sdk.put_secret_value()
        .secret_id("inc/api-token")
        .secret_string("a new value")
        .send()
        .await
        .unwrap();
    let old = named(&before, "/inc/signing-key").versions[0].id.clone();
    sdk.update_secret_version_stage()
        .secret_id("inc/signing-key")
        .version_stage("BLUE")
        .move_to_version_id(&old)
        .send()
        .await
        .unwrap();
    sdk.tag_resource()
        .secret_id("inc/half-rotated")
        .tags(Tag::builder().key("owner").value("sre").build())
        .send()
        .await
        .unwrap();
    sdk.update_secret()
        .secret_id("inc/app/db-password")
        .description("primary database, moved")
        .send()
        .await
        .unwrap();
    let changed = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert!(changed.failed.is_empty(), "{:?}", changed.failed);
    assert_eq!(changed.values_read, 1, "only the new value is read");
    assert!(
        changed.api_calls < first.api_calls,
        "{} calls for 4 changed secrets, {} for the first backup",
        changed.api_calls,
        first.api_calls
    );
    let after = snapshot(&repo, &changed.snapshot.unwrap()).await;
    assert_eq!(
        named(&after, "/inc/api-token").versions.len(),
        named(&before, "/inc/api-token").versions.len() + 1
    );
    let moved = named(&after, "/inc/signing-key");
    assert!(moved
        .versions
        .iter()
        .any(|v| v.id == old && v.labels.contains(&"BLUE".into())));
    assert!(named(&after, "/inc/half-rotated")
        .tags
        .iter()
        .any(|t| t.contains("sre")));
    assert_eq!(named(&after, db).description, "primary database, moved");

    // A resource policy change moves nothing ListSecrets shows: a list-only run carries the old
    // policy; --full-scan (and the full-scan period) reads it.
    sdk.delete_resource_policy()
        .secret_id("inc/app/db-password")
        .send()
        .await
        .unwrap();
    let stale = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert_eq!(stale.api_calls, 1);
    let stale = snapshot(&repo, &stale.snapshot.unwrap()).await;
    assert!(
        !policy(named(&stale, db)).is_empty(),
        "invisible to the listing"
    );
    opts.full_scan = true;
    let full = backup(&repo, &source, &opts, &Silent).await.unwrap();
    // Per secret DescribeSecret, GetResourcePolicy and ListSecretVersionIds, plus the list.
    assert!(
        full.api_calls > 3 * 4,
        "a full scan reads every secret: {}",
        full.api_calls
    );
    assert_eq!(full.values_read, 0, "values are still known by VersionId");
    let full = snapshot(&repo, &full.snapshot.unwrap()).await;
    assert!(
        policy(named(&full, db)).is_empty(),
        "the full scan sees the deleted policy"
    );

    // The full-scan period: secrets last read in full longer ago are read again.
    opts.full_scan = false;
    opts.full_scan_every = Duration::ZERO;
    let periodic = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert!(periodic.api_calls > 3 * 4, "{} calls", periodic.api_calls);
}

/// ListSecrets is eventually consistent (AWS documents that it may miss the last few minutes'
/// changes; DescribeSecret is current). A list-only run whose listing lags carries a just-changed
/// secret as the parent recorded it; the next run, whose listing has caught up, reads it again,
/// so a change is late by one run at most and never lost.
#[tokio::test]
async fn a_change_a_lagging_listing_hides_is_caught_by_the_next_run() {
    use secretsnap_aws::lagging::LaggingListing;
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let region = "ap-northeast-3";
    let direct = fixtures::client(region, &url).await;
    fixtures::seed(&direct, "lag").await.unwrap();
    let proxy = LaggingListing::start(&url).await;
    let source = AwsSource::new(fixtures::client(region, &proxy.url).await);
    let repo = common::memory_repo().await;
    let opts = BackupOptions {
        filter: Filter {
            path_prefix: Some("/lag".into()),
            ..Default::default()
        },
        concurrency: 4,
        ..Default::default()
    };
    let first = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    let before = snapshot(&repo, &first.snapshot.unwrap()).await;
    let token = "/lag/api-token";

    // A new value, and a listing that does not show it yet.
    proxy.freeze();
    direct
        .sdk()
        .put_secret_value()
        .secret_id("lag/api-token")
        .secret_string("rotated just now")
        .send()
        .await
        .unwrap();
    let lagging = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert_eq!(
        lagging.api_calls, 1,
        "the stale listing says nothing changed"
    );
    let stale = snapshot(&repo, &lagging.snapshot.unwrap()).await;
    assert_eq!(
        named(&stale, token).versions.len(),
        named(&before, token).versions.len(),
        "carried as the parent recorded it: the change is late"
    );

    // The listing catches up: the next run reads the secret again.
    proxy.thaw();
    let next = backup(&repo, &source, &opts, &Silent).await.unwrap();
    assert!(next.failed.is_empty(), "{:?}", next.failed);
    assert_eq!(next.values_read, 1, "the new value, and only it");
    let caught = snapshot(&repo, &next.snapshot.unwrap()).await;
    assert_eq!(
        named(&caught, token).versions.len(),
        named(&before, token).versions.len() + 1
    );
}
