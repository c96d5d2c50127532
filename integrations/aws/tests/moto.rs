//! The AWS connectors against moto's server on 127.0.0.1 (started by `tests/run.sh`, which sets
//! SECRETSNAP_TEST_MOTO): the shared conformance round trip, then AWS-specific equality (every
//! VersionId, staging label, value, tag and description; the current value checked with
//! VersionStage=AWSCURRENT because of moto's default-version bug), idempotent re-runs, a target
//! name pending deletion, and throttling through a small fake endpoint in front of moto (moto never
//! throttles): the SDK backs off and no version is created twice. Each test uses its own regions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use secretsnap_aws::{fixtures, AwsClient, AwsDestination, AwsSource};
use secretsnap_core::conformance::{read_all, restore_all, round_trip};
use secretsnap_core::{ConflictMode, Filter, RestoreOptions, Source};

fn under(prefix: &str) -> Filter {
    Filter {
        path_prefix: Some(format!("/{prefix}")),
        ..Default::default()
    }
}

async fn current(c: &AwsClient, name: &str) -> String {
    c.sdk()
        .get_secret_value()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn round_trip_keeps_version_ids_labels_values_and_tags() {
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let (a, b) = (
        fixtures::client("us-west-1", &url).await,
        fixtures::client("us-west-2", &url).await,
    );
    let names = fixtures::seed(&a, "rt").await.unwrap();
    let src = AwsSource::new(a.clone());
    let (before, failures) = read_all(&src, &under("rt")).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(before.len(), names.len());
    let db = before.iter().find(|s| s.name == "db-password").unwrap();
    assert_eq!(db.versions.len(), 4, "deprecated versions are listed");
    let golden = db
        .versions
        .iter()
        .find(|v| v.id == fixtures::token(0, 0))
        .unwrap();
    assert_eq!(golden.labels, ["GOLDEN"]);
    assert!(db.resource_policy.is_some());
    let half = before.iter().find(|s| s.name == "half-rotated").unwrap();
    assert!(
        half.versions
            .iter()
            .any(|v| v.labels.contains(&"AWSPENDING".to_string()) && v.not_read.is_some())
            || half.versions.len() == 1,
        "AWSPENDING without a value is recorded, not fatal: {:?}",
        half.versions
    );

    let rt = round_trip(
        &src,
        &AwsDestination::new(b.clone()),
        &AwsSource::new(b.clone()),
        &under("rt"),
        &RestoreOptions::default(),
    )
    .await;
    assert_eq!(rt.secrets, names.len());
    secretsnap_core::conformance::skips_what_the_source_was_deleting(&AwsDestination::new(
        b.clone(),
    ))
    .await;
    secretsnap_core::conformance::rules(&AwsDestination::new(b.clone())).await;
    let sdk = b.sdk().clone();
    secretsnap_core::conformance::refuses_what_the_target_is_deleting(
        &AwsDestination::new(b.clone()),
        |arn| async move {
            // A deletion with the default recovery window: pending, its name still taken.
            sdk.delete_secret().secret_id(arn).send().await.unwrap();
        },
    )
    .await;
    assert!(
        rt.first
            .notes
            .iter()
            .any(|n| n.contains("alias/fixture-key")),
        "an unmapped KMS key is reported: {:?}",
        rt.first.notes
    );

    let (after, _) = read_all(&AwsSource::new(b.clone()), &under("rt")).await;
    for s in &before {
        let t = after
            .iter()
            .find(|t| t.full_name() == s.full_name())
            .unwrap();
        assert_eq!(
            fixtures::versions(s),
            fixtures::versions(t),
            "{}: VersionIds, labels, values",
            s.name
        );
        assert_eq!(s.tags, t.tags, "{}", s.name);
        assert_eq!(s.description, t.description, "{}", s.name);
        assert_eq!(s.kind, t.kind, "{}: string vs binary", s.name);
        assert_eq!(s.resource_policy, t.resource_policy);
        let name = s.extras["aws_name"].as_str().unwrap();
        assert_eq!(
            current(&a, name).await,
            current(&b, name).await,
            "{name}: AWSCURRENT"
        );
    }

    // Restoring again with the default conflict mode touches nothing.
    let (_, again) = restore_all(
        &AwsDestination::new(b.clone()),
        &before,
        &RestoreOptions::default(),
        false,
    )
    .await;
    assert_eq!(again.skipped.len(), names.len());
    assert_eq!(again.created_versions, 0);
}

#[tokio::test]
async fn a_target_name_pending_deletion_is_reported_with_the_way_out() {
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let (a, b) = (
        fixtures::client("ap-southeast-1", &url).await,
        fixtures::client("ap-southeast-2", &url).await,
    );
    for c in [&a, &b] {
        c.sdk()
            .create_secret()
            .name("pd/taken")
            .secret_string("placeholder value")
            .send()
            .await
            .unwrap();
    }
    b.sdk()
        .delete_secret()
        .secret_id("pd/taken")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let (secrets, _) = read_all(&AwsSource::new(a), &under("pd")).await;
    let (plan, report) = restore_all(
        &AwsDestination::new(b),
        &secrets,
        &RestoreOptions {
            conflict: ConflictMode::Append,
            ..Default::default()
        },
        false,
    )
    .await;
    assert_eq!(report.failed.len(), 1, "{plan:?}");
    assert!(
        report.failed[0].reason.contains("restore-secret"),
        "{}",
        report.failed[0].reason
    );
}

/// Forwards to moto, answering ThrottlingException to two of every three PutSecretValue attempts.
async fn throttling_proxy(moto: String) -> (String, Arc<AtomicU64>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let throttled = Arc::new(AtomicU64::new(0));
    let puts = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::new();
    let (t, p) = (throttled.clone(), puts.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (t, p, http, moto) = (t.clone(), p.clone(), http.clone(), moto.clone());
        async move {
            let target = headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if target.ends_with("PutSecretValue") && p.fetch_add(1, Ordering::SeqCst) % 3 != 2 {
                t.fetch_add(1, Ordering::SeqCst);
                return (
                    StatusCode::BAD_REQUEST,
                    [("content-type", "application/x-amz-json-1.1".to_string())],
                    Bytes::from_static(
                        br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                    ),
                );
            }
            let mut req = http.post(format!("{moto}/")).body(body);
            for (k, v) in headers.iter() {
                if k != "host" && k != "content-length" {
                    req = req.header(k, v);
                }
            }
            let resp = req.send().await.unwrap();
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/x-amz-json-1.1")
                .to_string();
            (status, [("content-type", ct)], resp.bytes().await.unwrap())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), throttled)
}

#[tokio::test]
async fn throttling_backs_off_and_creates_no_duplicate_version() {
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let a = fixtures::client("ca-central-1", &url).await;
    fixtures::seed(&a, "th").await.unwrap();
    let (secrets, _) = read_all(&AwsSource::new(a), &under("th/app")).await;
    assert_eq!(secrets.len(), 1);
    let (proxy, throttled) = throttling_proxy(url.clone()).await;
    let through_proxy = fixtures::client("sa-east-1", &proxy).await;
    let dest = AwsDestination::new(through_proxy.clone());
    let started = Instant::now();
    let (_, report) = restore_all(&dest, &secrets, &RestoreOptions::default(), false).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let puts = 4;
    assert_eq!(report.created_versions, puts);
    assert_eq!(throttled.load(Ordering::SeqCst), 2 * puts as u64);
    assert!(
        through_proxy.calls() >= 3 * puts as u64,
        "every throttled attempt was retried ({} attempts)",
        through_proxy.calls()
    );
    assert!(
        started.elapsed().as_millis() > 200,
        "retries were spaced out by backoff"
    );
    let direct = AwsSource::new(fixtures::client("sa-east-1", &url).await);
    let (restored, _) = read_all(&direct, &under("th")).await;
    let ids: Vec<&str> = restored[0].versions.iter().map(|v| v.id.as_str()).collect();
    let mut expected: Vec<String> = (0..4).map(|n| fixtures::token(0, n)).collect();
    expected.sort();
    let mut got: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    got.sort();
    assert_eq!(got, expected, "exactly the source's versions, none twice");
    assert_eq!(
        fixtures::versions(&secrets[0]),
        fixtures::versions(&restored[0])
    );
    let _ = direct.calls();
}

/// A same-account clone opens a source and a destination of one credential in one region: they
/// share one set of quota buckets (AWS counts one quota per account and region), so the clone
/// runs at the account's quota, not twice it; another region gets buckets of its own.
#[tokio::test]
async fn connectors_of_one_account_and_region_share_their_quota_buckets() {
    use secretsnap_aws::quota::Api;
    use secretsnap_aws::AwsProvider;
    use secretsnap_core::{Access, Keys};
    let Some(url) = fixtures::moto_endpoint() else {
        return;
    };
    let provider = AwsProvider::default();
    let keys = Keys::default();
    let at = |region| Access {
        region,
        scope: "",
        keys: &keys,
        api_url: Some(&url),
        max_rate: None,
        profile: None,
    };
    let lists = |c: &secretsnap_aws::AwsClient| {
        c.quotas()
            .counts()
            .into_iter()
            .find(|(a, _)| *a == Api::List)
            .map_or(0, |(_, n)| n)
    };
    let source = provider.client(at("eu-west-1")).await.unwrap();
    let dest = provider.client(at("eu-west-1")).await.unwrap();
    let elsewhere = provider.client(at("us-west-2")).await.unwrap();
    AwsSource::new(source.clone())
        .list(&Filter::default())
        .await
        .unwrap();
    assert_eq!(lists(&source), 1);
    assert_eq!(lists(&dest), 1, "one bucket set for one account and region");
    assert_eq!(lists(&elsewhere), 0, "another region has its own quota");
}
