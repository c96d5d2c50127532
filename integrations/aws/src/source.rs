//! Reading an AWS region: ListSecrets (planned deletions included, every page), then per secret
//! DescribeSecret (authoritative metadata, rotation, replica regions, labels of value-less
//! versions),
//! GetResourcePolicy, ListSecretVersionIds with IncludeDeprecated following every NextToken, and
//! GetSecretValue per version not already in the repository (VersionIds are immutable). Failures
//! of one version are recorded on it and never abort the run: a deprecated version pruned in
//! between, AWSPENDING without a value, DecryptionFailure. Secrets pending deletion give metadata
//! only (reading them would need RestoreSecret, a write). Read-only: no call here writes.
//!
//! List-only incremental runs: ListSecrets shows `LastChangedDate` (moved by a new value, a
//! description or key change), the labelled versions (moved by a label move), tags, description,
//! key and rotation; a secret listed exactly as the parent snapshot recorded it is carried from
//! there with no further call (`unchanged::carry`). Resource policies and replica regions are
//! not in the listing (moto moves no listed field when they change; docs/aws.md): the periodic
//! full scan and `--full-scan` catch them.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use futures::{StreamExt, TryStreamExt};
use secretsnap_core::{
    Error, Filter, ItemFailure, Known, ListPages, Location, Payload, Secret, Source, Version,
    VersionStatus,
};
use serde_json::json;
use zeroize::Zeroizing;

use secretsnap_core::unchanged;

use crate::client::{error, AwsClient};
use crate::convert::{self, Meta};
use crate::quota::Api;

/// `aws://REGION` as a source.
pub struct AwsSource {
    client: AwsClient,
    location: Location,
}

impl AwsSource {
    /// One ListSecrets page from `token` (the first with `None`): the matching secrets and the
    /// next page's token, if there is one.
    async fn list_page(
        &self,
        filter: &Filter,
        token: Option<String>,
    ) -> Result<(Vec<Secret>, Option<String>), Error> {
        self.client.slot(Api::List).await;
        let page = self
            .client
            .sdk
            .list_secrets()
            .include_planned_deletion(true)
            .max_results(100)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| error("ListSecrets", e))?;
        let mut out = Vec::new();
        for e in page.secret_list() {
            let s = convert::secret(
                Meta {
                    arn: e.arn().unwrap_or_default(),
                    name: e.name().unwrap_or_default(),
                    description: e.description(),
                    kms_key_id: e.kms_key_id(),
                    tags: e.tags(),
                    deleted: e.deleted_date(),
                    created: e.created_date(),
                    changed: e.last_changed_date(),
                    owning_service: e.owning_service(),
                    primary_region: e.primary_region(),
                    rotation: serde_json::Value::Null,
                    external: convert::external(
                        e.r#type(),
                        e.external_secret_rotation_metadata(),
                        e.external_secret_rotation_role_arn(),
                    ),
                },
                &self.location,
            );
            if filter.matches(&s) {
                let mut s = s;
                s.listing = Some(listed_state(e, &s));
                out.push(s);
            }
        }
        let next = match page.next_token() {
            Some(t) if !t.is_empty() && token.as_deref() != Some(t) => Some(t.to_string()),
            _ => None,
        };
        Ok((out, next))
    }

    pub fn new(client: AwsClient) -> Self {
        let location = Location {
            provider: "aws".into(),
            region: client.region.clone(),
            scope: String::new(),
        };
        AwsSource { client, location }
    }

    async fn describe(&self, arn: &str) -> Result<(Secret, BTreeMap<String, Vec<String>>), Error> {
        self.client.slot(Api::Read).await;
        let d = self
            .client
            .sdk
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| error(&format!("DescribeSecret {arn}"), e))?;
        let rotation = json!({
            "enabled": d.rotation_enabled(),
            "lambda_arn": d.rotation_lambda_arn(),
            "automatically_after_days":
                d.rotation_rules().and_then(|r| r.automatically_after_days()),
            "schedule_expression": d.rotation_rules().and_then(|r| r.schedule_expression()),
            "duration": d.rotation_rules().and_then(|r| r.duration()),
        });
        let mut s = convert::secret(
            Meta {
                arn: d.arn().unwrap_or(arn),
                name: d.name().unwrap_or_default(),
                description: d.description(),
                kms_key_id: d.kms_key_id(),
                tags: d.tags(),
                deleted: d.deleted_date(),
                created: d.created_date(),
                changed: d.last_changed_date(),
                owning_service: d.owning_service(),
                primary_region: d.primary_region(),
                rotation: if d.rotation_enabled() == Some(true) || d.rotation_lambda_arn().is_some()
                {
                    rotation
                } else {
                    serde_json::Value::Null
                },
                external: convert::external(
                    d.r#type(),
                    d.external_secret_rotation_metadata(),
                    d.external_secret_rotation_role_arn(),
                ),
            },
            &self.location,
        );
        let replicas: Vec<serde_json::Value> = d
            .replication_status()
            .iter()
            .filter_map(|r| {
                Some(json!({
                    "region": r.region()?,
                    "kms_key_id": r.kms_key_id(),
                    "status": r.status().map(|s| s.as_str()),
                }))
            })
            .collect();
        s.replicas = replicas
            .into_iter()
            .filter_map(|r| serde_json::from_value(r).ok())
            .collect();
        let stages = d
            .version_ids_to_stages()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok((s, stages))
    }

    async fn policy(&self, arn: &str) -> Result<Option<String>, Error> {
        self.client.slot(Api::Policy).await;
        match self
            .client
            .sdk
            .get_resource_policy()
            .secret_id(arn)
            .send()
            .await
        {
            Ok(p) => Ok(p.resource_policy().map(String::from)),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(error(&format!("GetResourcePolicy {arn}"), e)),
        }
    }

    async fn versions(&self, arn: &str) -> Result<Vec<Version>, Error> {
        let mut out = Vec::new();
        for v in self.client.list_versions(arn).await? {
            let mut version = Version {
                id: v.version_id().unwrap_or_default().to_string(),
                created_at: convert::when(v.created_date()),
                status: VersionStatus::Enabled,
                labels: v.version_stages().to_vec(),
                ..Default::default()
            };
            if !v.kms_key_ids().is_empty() {
                version
                    .extras
                    .insert("kms_key_ids".into(), json!(v.kms_key_ids()));
            }
            out.push(version);
        }
        Ok(out)
    }

    async fn value(&self, arn: &str, v: &mut Version) {
        self.client.slot(Api::Read).await;
        let got = self
            .client
            .sdk
            .get_secret_value()
            .secret_id(arn)
            .version_id(&v.id)
            .send()
            .await;
        match got {
            Ok(mut out) => {
                if let Some(t) = out.created_date() {
                    v.created_at = convert::when(Some(t));
                }
                // The SDK's own buffers are moved into zeroizing ones, not copied (a copy would
                // leave the value in freed memory).
                let (text, blob) = (out.secret_string.take(), out.secret_binary.take());
                let (bytes, binary) = match (text, blob) {
                    (Some(s), _) => (Zeroizing::new(s.into_bytes()), false),
                    (None, Some(b)) => (Zeroizing::new(b.into_inner()), true),
                    (None, None) => {
                        v.not_read_because("no value");
                        return;
                    }
                };
                v.binary = Some(binary);
                v.payload = Payload::Bytes(bytes);
            }
            Err(e)
                if e.code() == Some("ResourceNotFoundException")
                    && v.labels.iter().all(|l| l == "AWSPENDING") =>
            {
                let why = if v.labels.is_empty() {
                    "deprecated version pruned by AWS between listing and reading"
                } else {
                    "AWSPENDING without a value (a rotation that never completed)"
                };
                v.status = VersionStatus::Pending;
                v.not_read_because(why);
            }
            Err(e) => {
                let reason = match e.code() {
                    Some("DecryptionFailure") => format!(
                        "DecryptionFailure: its KMS key ({}) cannot decrypt it",
                        v.extras
                            .get("kms_key_ids")
                            .map(|k| k.to_string())
                            .unwrap_or_else(|| "unknown".into())
                    ),
                    _ => error(&format!("GetSecretValue version {}", v.id), e).to_string(),
                };
                v.failed(reason);
            }
        }
    }
}

/// Oldest first; among equal times (moto has second resolution) labelled versions last, in the
/// order AWSPREVIOUS, AWSCURRENT, AWSPENDING.
fn order(v: &Version) -> (Option<chrono::DateTime<chrono::Utc>>, u8) {
    let rank = if v.labels.iter().any(|l| l == "AWSPENDING") {
        4
    } else if v.labels.iter().any(|l| l == "AWSCURRENT") {
        3
    } else if v.labels.iter().any(|l| l == "AWSPREVIOUS") {
        2
    } else if v.labels.is_empty() {
        0
    } else {
        1
    };
    (v.created_at, rank)
}

#[async_trait::async_trait]
impl Source for AwsSource {
    fn location(&self) -> Location {
        self.location.clone()
    }

    async fn list(&self, filter: &Filter) -> Result<Vec<Secret>, Error> {
        let pages: Vec<Vec<Secret>> = self.list_pages(filter).try_collect().await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// ListSecrets pages as they arrive (NextToken is a cursor: a change elsewhere in the list
    /// does not shift it).
    fn list_pages<'a>(&'a self, filter: &'a Filter) -> ListPages<'a> {
        // `None` once the last page is in; `Some(token)` for the next one (`None` token: first).
        let start: Option<Option<String>> = Some(None);
        futures::stream::try_unfold(start, move |next| async move {
            let Some(token) = next else {
                return Ok(None);
            };
            let (secrets, after) = self.list_page(filter, token).await?;
            Ok(Some((secrets, after.map(Some))))
        })
        .boxed()
    }

    async fn fetch(
        &self,
        listed: Secret,
        _filter: &Filter,
        known: &dyn Known,
    ) -> Result<Secret, ItemFailure> {
        if let Some(carried) = known
            .secret(&listed.id)
            .and_then(|recorded| unchanged::carry(&listed, &recorded))
        {
            return Ok(carried);
        }
        let fail = ItemFailure::naming(listed.full_name());
        // The three metadata calls need only the ARN and count against three different quotas:
        // sent together, a secret costs one round trip of latency, not three.
        let (described, policy, versions) = futures::join!(
            self.describe(&listed.id),
            self.policy(&listed.id),
            self.versions(&listed.id)
        );
        let (mut secret, stages) = described.map_err(&fail)?;
        secret.listing.clone_from(&listed.listing);
        unchanged::mark_scanned(&mut secret);
        if let Some(p) = policy.map_err(&fail)? {
            secret.resource_policy = Some(p);
        }
        let mut versions = versions.map_err(&fail)?;
        // Labelled versions without a value (AWSPENDING of a rotation that never put one) are only
        // in DescribeSecret.
        for (id, labels) in &stages {
            if !versions.iter().any(|v| &v.id == id) {
                let why = format!(
                    "{} without a value (rotation never completed)",
                    labels.join(",")
                );
                let mut v = Version {
                    id: id.clone(),
                    status: VersionStatus::Pending,
                    labels: labels.clone(),
                    ..Default::default()
                };
                v.not_read_because(why);
                versions.push(v);
            }
        }
        let mut to_read = Vec::new();
        for v in &mut versions {
            if let Some(labels) = stages.get(&v.id) {
                v.labels = labels.clone();
            }
            if !matches!(v.payload, Payload::Absent) {
                continue;
            }
            if known.reuse(&secret.item_key(v), v) {
                continue;
            }
            if secret.deletion_requested_at.is_some() {
                let why =
                    "secret scheduled for deletion: metadata only (reading it needs RestoreSecret)";
                v.not_read_because(why);
            } else {
                to_read.push(v);
            }
        }
        // Values are independent reads under the 10 000/s quota: read together.
        futures::future::join_all(to_read.into_iter().map(|v| self.value(&secret.id, v))).await;
        versions.sort_by_key(order);
        let current_binary = versions
            .iter()
            .find(|v| v.labels.iter().any(|l| l == "AWSCURRENT"))
            .map(secretsnap_core::portable::is_binary);
        secret.kind = if current_binary == Some(true) {
            "binary".into()
        } else {
            "string".into()
        };
        secret.versions = versions;
        Ok(secret)
    }

    fn calls(&self) -> u64 {
        self.client.calls()
    }

    fn lists_changes(&self) -> bool {
        true
    }
}

/// Everything ListSecrets says that a change would move (not `LastAccessedDate`, which reads
/// move): compared as a whole with the parent snapshot's.
fn listed_state(
    e: &aws_sdk_secretsmanager::types::SecretListEntry,
    s: &Secret,
) -> serde_json::Value {
    let stages: BTreeMap<&String, Vec<&String>> = e
        .secret_versions_to_stages()
        .map(|m| {
            m.iter()
                .map(|(id, labels)| {
                    let mut labels: Vec<&String> = labels.iter().collect();
                    labels.sort();
                    (id, labels)
                })
                .collect()
        })
        .unwrap_or_default();
    let rules = e.rotation_rules();
    let external = s.extras.get("external").cloned();
    let mut listed = json!({
        "last_changed": convert::time(e.last_changed_date()),
        "stages": stages,
        "name": s.name,
        "description": s.description,
        "tags": s.extras.get("aws_tags"),
        "key_id": s.key_id,
        // As format-1 records wrote it, so listings compare equal across the upgrade.
        "deleted": s.deletion_requested_at.map(|d| {
            d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        }),
        "owning_service": e.owning_service(),
        "primary_region": e.primary_region(),
        "rotation": {
            "enabled": e.rotation_enabled(),
            "lambda_arn": e.rotation_lambda_arn(),
            "after_days": rules.and_then(|r| r.automatically_after_days()),
            "schedule": rules.and_then(|r| r.schedule_expression()),
            "duration": rules.and_then(|r| r.duration()),
            "last_rotated": convert::time(e.last_rotated_date()),
        },
    });
    // Only where there is one, so the fingerprint of every other secret stays as it was.
    if let Some(x) = external {
        listed["external"] = x;
    }
    listed
}
