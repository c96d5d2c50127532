//! A realistic AWS region for tests and demos, written through the real API (moto in our tests):
//! string and binary secrets, several versions, deprecated versions, a custom label on an old
//! version, AWSPENDING with a value, a rotation left half-done (AWSPENDING without a value),
//! tags, descriptions, KMS key ids and a resource policy. Values are fake.

use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{RotationRulesType, Tag};

use std::collections::BTreeMap;

use secretsnap_core::{Payload, Secret};

use crate::AwsClient;

/// moto's endpoint from SECRETSNAP_TEST_MOTO (set by `tests/run.sh`); `None` (the test skips,
/// saying why) when unset, a panic when SECRETSNAP_REQUIRE_SERVERS says servers must be there.
pub fn moto_endpoint() -> Option<String> {
    match std::env::var("SECRETSNAP_TEST_MOTO") {
        Ok(u) => Some(u),
        Err(_) if std::env::var_os("SECRETSNAP_REQUIRE_SERVERS").is_some() => {
            panic!("SECRETSNAP_TEST_MOTO is not set: run the tests through tests/run.sh")
        }
        Err(_) => {
            eprintln!("skipped: SECRETSNAP_TEST_MOTO is not set (tests/run.sh starts moto)");
            None
        }
    }
}

/// A client of `region` at `endpoint` with the environment's credentials.
pub async fn client(region: &str, endpoint: &str) -> AwsClient {
    AwsClient::connect(region, Some(endpoint), crate::AwsOptions::default())
        .await
        .expect("an AWS client for the test endpoint")
}

/// A client acting in `account` (moto ties credentials from AssumeRole to the role's account),
/// for tests that restore across accounts.
pub async fn in_account(
    c: &AwsClient,
    endpoint: &str,
    region: &str,
    account: &str,
) -> Result<AwsClient> {
    let role = format!("arn:aws:iam::{account}:role/secretsnap-restore");
    let out = c
        .sts
        .assume_role()
        .role_arn(role)
        .role_session_name("secretsnap-test")
        .send()
        .await?;
    let creds = out
        .credentials()
        .ok_or("AssumeRole returned no credentials")?;
    let keys = crate::StaticKeys {
        access_key_id: creds.access_key_id().to_string(),
        secret_access_key: zeroize::Zeroizing::new(creds.secret_access_key().to_string()),
        session_token: Some(zeroize::Zeroizing::new(creds.session_token().to_string())),
    };
    let opts = crate::AwsOptions {
        keys: Some(keys),
        ..Default::default()
    };
    Ok(AwsClient::connect(region, Some(endpoint), opts).await?)
}

/// A VersionId for fixture version `n` of secret `s`.
pub fn token(s: usize, n: usize) -> String {
    format!("00000000-0000-4000-8000-{s:06}{n:06}")
}

/// Fixture value `n` of secret `s`.
pub fn value(s: usize, n: usize) -> String {
    format!("{{\"user\":\"svc{s}\",\"password\":\"fixture-{s}-{n}-x7Qp\"}}")
}

/// Fixture binary value `n` of secret `s` (not valid UTF-8).
pub fn binary(s: usize, n: usize) -> Vec<u8> {
    let mut b = vec![0xff, 0xfe, s as u8, n as u8];
    b.extend((0..200u8).map(|i| i.wrapping_mul(31).wrapping_add(n as u8)));
    b
}

/// A resource policy naming no account and no ARN (restorable as it is).
pub const PORTABLE_POLICY: &str = concat!(
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","#,
    r#""Action":"secretsmanager:DeleteSecret","Resource":"*"}]}"#
);

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Seeds `prefix/…` secrets; returns their names.
pub async fn seed(c: &AwsClient, prefix: &str) -> Result<Vec<String>> {
    let sdk = c.sdk();
    let mut names = Vec::new();

    // 0: string, 4 versions: two deprecated, a custom label on the oldest, a resource policy.
    let name = format!("{prefix}/app/db-password");
    sdk.create_secret()
        .name(&name)
        .description("primary database")
        .tags(tag("team", "payments"))
        .tags(tag("env", "prod"))
        .send()
        .await?;
    for n in 0..4 {
        sdk.put_secret_value()
            .secret_id(&name)
            .client_request_token(token(0, n))
            .secret_string(value(0, n))
            .send()
            .await?;
    }
    sdk.update_secret_version_stage()
        .secret_id(&name)
        .version_stage("GOLDEN")
        .move_to_version_id(token(0, 0))
        .send()
        .await?;
    sdk.put_resource_policy()
        .secret_id(&name)
        .resource_policy(PORTABLE_POLICY)
        .send()
        .await?;
    names.push(name);

    // 1: binary, 2 versions, a KMS key id.
    let name = format!("{prefix}/signing-key");
    sdk.create_secret()
        .name(&name)
        .kms_key_id("alias/fixture-key")
        .tags(tag("kind", "binary"))
        .send()
        .await?;
    for n in 0..2 {
        sdk.put_secret_value()
            .secret_id(&name)
            .client_request_token(token(1, n))
            .secret_binary(Blob::new(binary(1, n)))
            .send()
            .await?;
    }
    names.push(name);

    // 2: current + AWSPENDING with a value (a rotation in flight).
    let name = format!("{prefix}/api-token");
    sdk.create_secret()
        .name(&name)
        .client_request_token(token(2, 0))
        .secret_string(value(2, 0))
        .send()
        .await?;
    sdk.put_secret_value()
        .secret_id(&name)
        .client_request_token(token(2, 1))
        .secret_string(value(2, 1))
        .version_stages("AWSPENDING")
        .send()
        .await?;
    names.push(name);

    // 3: a rotation that failed before putting a value: AWSPENDING without a value.
    let name = format!("{prefix}/half-rotated");
    sdk.create_secret()
        .name(&name)
        .client_request_token(token(3, 0))
        .secret_string(value(3, 0))
        .send()
        .await?;
    let _ = sdk
        .rotate_secret()
        .secret_id(&name)
        .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:missing")
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await; // moto: fails (no such Lambda) after marking the rotation, as the notes say
    names.push(name);
    Ok(names)
}

/// VersionId → (sorted labels, value) for versions with a value.
pub fn versions(s: &Secret) -> BTreeMap<String, (Vec<String>, Vec<u8>)> {
    s.versions
        .iter()
        .filter_map(|v| match &v.payload {
            Payload::Bytes(b) => {
                let mut l = v.labels.clone();
                l.sort();
                Some((v.id.clone(), (l, b.to_vec())))
            }
            _ => None,
        })
        .collect()
}

/// Per secret: (tags, description, VersionId → (sorted labels, value)).
pub type Shape = BTreeMap<
    String,
    (
        Vec<String>,
        String,
        BTreeMap<String, (Vec<String>, Vec<u8>)>,
    ),
>;

pub fn shape(secrets: &[Secret]) -> Shape {
    secrets
        .iter()
        .map(|s| {
            (
                s.full_name(),
                (s.tags.clone(), s.description.clone(), versions(s)),
            )
        })
        .collect()
}
