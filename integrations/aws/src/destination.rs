//! Re-creating secrets in an AWS region with their original VersionIds, "current-first" (the
//! order that behaves the same on AWS and moto, `docs/aws.md`): CreateSecret without a value
//! (name, description, tags, KMS key only when mapped) → PutSecretValue of the AWSCURRENT version
//! with its labels → every other version with its labels, or a temporary label for deprecated
//! ones, each with ClientRequestToken = its original VersionId → the temporary label removed →
//! the resource policy, only when it names neither the source secret's ARN nor its account.
//! Rotation is reported, never re-enabled. Re-running is a no-op: the same token with the same
//! value does nothing, and existing secrets are skipped (or, with `append`, only missing
//! VersionIds are added, without moving a label another version holds).

use std::collections::BTreeSet;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::primitives::Blob;
use secretsnap_core::plan::{oversized, Applied, VersionStep};
use secretsnap_core::portable::{adapt, is_binary};
use secretsnap_core::{
    Action, ConflictMode, Destination, Error, ItemFailure, Location, Payload, PlanItem,
    RestoreOptions, Secret, Version,
};
use serde_json::Value;

use crate::client::{error, AwsClient};
use crate::convert::{aws_name, aws_tags};

/// The label that holds a deprecated version while it is restored.
pub const TEMP_LABEL: &str = "secretsnap-restoring";
/// Largest SecretString or SecretBinary.
pub const MAX_VALUE: usize = 65_536;

/// `aws://REGION` as a destination.
pub struct AwsDestination {
    client: AwsClient,
    location: Location,
}

/// What the target holds under a name.
enum Existing {
    None,
    PendingDeletion,
    Live {
        arn: String,
        versions: BTreeSet<String>,
        labels: BTreeSet<String>,
    },
}

fn valid_token(id: &str) -> bool {
    (32..=64).contains(&id.len())
}

fn version<'a>(s: &'a Secret, id: &str) -> Option<&'a Version> {
    s.versions.iter().find(|v| v.id == id)
}

impl AwsDestination {
    pub fn new(client: AwsClient) -> Self {
        let location = Location {
            provider: "aws".into(),
            region: client.region.clone(),
            scope: String::new(),
        };
        AwsDestination { client, location }
    }

    async fn existing(&self, name: &str) -> Result<Existing, Error> {
        self.client.read_slot().await;
        let d = match self
            .client
            .sdk
            .describe_secret()
            .secret_id(name)
            .send()
            .await
        {
            Ok(d) => d,
            Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(Existing::None),
            Err(e) => return Err(error(&format!("DescribeSecret {name}"), e)),
        };
        // A partial-ARN match on another name is not ours.
        if d.name() != Some(name) {
            return Ok(Existing::None);
        }
        if d.deleted_date().is_some() {
            return Ok(Existing::PendingDeletion);
        }
        let arn = d.arn().unwrap_or(name).to_string();
        let labels = d
            .version_ids_to_stages()
            .map(|m| m.values().flatten().cloned().collect())
            .unwrap_or_default();
        let versions = self
            .client
            .list_versions(&arn)
            .await?
            .iter()
            .filter_map(|v| v.version_id().map(String::from))
            .collect();
        Ok(Existing::Live {
            arn,
            versions,
            labels,
        })
    }

    /// Puts one version; the same token and value again is a no-op at AWS.
    async fn put(&self, arn: &str, v: &Version, labels: Vec<String>) -> Result<(), Error> {
        let Payload::Bytes(bytes) = &v.payload else {
            return Err(Error::Rejected(format!(
                "version {}: no value to restore",
                v.id
            )));
        };
        let mut req = self
            .client
            .sdk
            .put_secret_value()
            .secret_id(arn)
            .client_request_token(&v.id)
            .set_version_stages(Some(labels));
        req = match std::str::from_utf8(bytes) {
            Ok(text) if !is_binary(v) => req.secret_string(text),
            _ => req.secret_binary(Blob::new(bytes.to_vec())),
        };
        self.client.write_slot().await;
        req.send()
            .await
            .map_err(|e| error(&format!("PutSecretValue version {}", v.id), e))?;
        Ok(())
    }

    /// The resource policy to restore, or why not.
    fn policy(s: &Secret) -> Option<Result<String, String>> {
        let p = s.extras.get("resource_policy")?.as_str()?.to_string();
        let account = s.id.split(':').nth(4).unwrap_or("");
        if p.contains(&s.id) || (!account.is_empty() && p.contains(account)) {
            return Some(Err(format!(
                "resource policy not restored: it names the source secret's ARN or account {account}, which differ here; edit it and apply it with `aws secretsmanager put-resource-policy`"
            )));
        }
        Some(Ok(p))
    }
}

/// Steps for the versions `have` lacks. A step's description is the labels it will be put with:
/// its own, minus those another version of an existing secret holds (`held`), which are never
/// moved; `disable` marks a version put with the temporary label (deprecated, or all its labels
/// held).
fn plan_steps(
    s: &Secret,
    have: &BTreeSet<String>,
    held: &BTreeSet<String>,
) -> (Vec<VersionStep>, Vec<String>) {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    for v in &s.versions {
        if have.contains(&v.id) {
            continue;
        }
        match &v.payload {
            Payload::Bytes(_) if valid_token(&v.id) => {
                let labels: Vec<&str> = v
                    .labels
                    .iter()
                    .filter(|l| !held.contains(*l))
                    .map(String::as_str)
                    .collect();
                steps.push(VersionStep {
                    source_version: v.id.clone(),
                    description: labels.join(","),
                    disable: labels.is_empty(),
                })
            }
            Payload::Bytes(_) => notes.push(format!(
                "version {}: not restored: a VersionId must be 32 to 64 characters",
                v.id
            )),
            _ => notes.push(format!(
                "version {} ({}): not restored: {}",
                v.id,
                if v.labels.is_empty() {
                    "deprecated".to_string()
                } else {
                    v.labels.join(",")
                },
                v.not_read.as_deref().unwrap_or("no value in the snapshot")
            )),
        }
    }
    // Current first: the version holding AWSCURRENT is put before all others.
    steps.sort_by_key(|st| !st.description.split(',').any(|l| l == "AWSCURRENT"));
    (steps, notes)
}

#[async_trait::async_trait]
impl Destination for AwsDestination {
    fn location(&self) -> Location {
        self.location.clone()
    }

    async fn plan(&self, s: &Secret, opts: &RestoreOptions) -> Result<PlanItem, ItemFailure> {
        let (adapted, mut notes) = adapt(s, "aws");
        let s: &Secret = &adapted;
        let name = aws_name(s);
        let fail = |e: Error| ItemFailure {
            item: s.full_name(),
            reason: e.to_string(),
        };
        if !s.used_by.is_empty() && !opts.include_managed {
            let reason = format!(
                "managed by {} (create it through that service, or restore with --include-managed)",
                s.used_by.join(", ")
            );
            return Ok(PlanItem {
                secret: s.full_name(),
                source_id: s.id.clone(),
                action: Action::Skip { reason },
                notes,
            });
        }
        if s.deletion_requested_at.is_some() {
            notes.push("scheduled for deletion at the source: metadata only".into());
        }
        if let Some(k) = &s.key_id {
            if !opts.key_ids.contains_key(k) {
                notes.push(format!("KMS key {k} not mapped: the region's default key aws/secretsmanager is used (map it with --map-key)"));
            }
        }
        if let Some(Err(why)) = Self::policy(s) {
            notes.push(why);
        }
        if let Some(r) = s.extras.get("rotation") {
            if r.get("enabled").and_then(Value::as_bool) == Some(true) {
                notes.push(format!(
                    "rotation was enabled at the source (lambda {}): recorded, not re-enabled",
                    r.get("lambda_arn").and_then(Value::as_str).unwrap_or("?")
                ));
            }
        }
        let item = |action, notes| PlanItem {
            secret: s.full_name(),
            source_id: s.id.clone(),
            action,
            notes,
        };
        if let Some(reason) = oversized(s, MAX_VALUE, "AWS Secrets Manager") {
            return Ok(item(Action::Fail { reason }, notes));
        }
        match self.existing(&name).await.map_err(fail)? {
            Existing::None => {
                let (steps, more) = plan_steps(s, &BTreeSet::new(), &BTreeSet::new());
                notes.extend(more);
                Ok(item(Action::Create { steps, protect: false }, notes))
            }
            Existing::PendingDeletion => Ok(item(Action::Fail {
                reason: format!(
                    "a secret named {name} is scheduled for deletion in {}: cancel that with `aws secretsmanager restore-secret --secret-id {name}` and restore with --on-conflict append, or wait until AWS has deleted it",
                    self.location.region
                ),
            }, notes)),
            Existing::Live {
                arn,
                versions,
                labels,
            } => match opts.conflict {
                ConflictMode::Skip => Ok(item(Action::Skip { reason: format!("already exists at the destination ({arn}); use --on-conflict append to add missing versions") }, notes)),
                ConflictMode::Fail => Ok(item(Action::Fail { reason: format!("already exists at the destination ({arn})") }, notes)),
                ConflictMode::Append => {
                    let (steps, more) = plan_steps(s, &versions, &labels);
                    notes.extend(more);
                    Ok(item(Action::Append { target_id: arn, steps }, notes))
                }
            },
        }
    }

    async fn apply(
        &self,
        item: &PlanItem,
        s: &Secret,
        opts: &RestoreOptions,
    ) -> Result<Applied, ItemFailure> {
        let (adapted, _) = adapt(s, "aws");
        let s: &Secret = &adapted;
        let fail = |e: Error| ItemFailure {
            item: s.full_name(),
            reason: e.to_string(),
        };
        let name = aws_name(s);
        let (arn, steps, created) = match &item.action {
            Action::Create { steps, .. } => {
                let mut req = self
                    .client
                    .sdk
                    .create_secret()
                    .name(&name)
                    .set_tags(Some(aws_tags(s)));
                if !s.description.is_empty() {
                    req = req.description(&s.description);
                }
                if let Some(k) = s.key_id.as_ref().and_then(|k| opts.key_ids.get(k)) {
                    req = req.kms_key_id(k);
                }
                self.client.write_slot().await;
                let out = req
                    .send()
                    .await
                    .map_err(|e| fail(error(&format!("CreateSecret {name}"), e)))?;
                (out.arn().unwrap_or(&name).to_string(), steps, true)
            }
            Action::Append { target_id, steps } => (target_id.clone(), steps, false),
            Action::Skip { .. } | Action::Fail { .. } => return Ok(Applied::default()),
        };
        let mut applied = Applied {
            target_id: arn.clone(),
            created_secret: created,
            versions: Vec::new(),
        };
        let mut temp_holder: Option<String> = None;
        for st in steps {
            let v = version(s, &st.source_version).ok_or_else(|| ItemFailure {
                item: s.full_name(),
                reason: format!("version {}: not in the snapshot", st.source_version),
            })?;
            // The plan left out labels another version of an existing secret holds.
            let labels: Vec<String> = if st.disable {
                temp_holder = Some(v.id.clone());
                vec![TEMP_LABEL.into()]
            } else {
                st.description.split(',').map(String::from).collect()
            };
            self.put(&arn, v, labels).await.map_err(fail)?;
            applied
                .versions
                .push((st.source_version.clone(), v.id.clone()));
        }
        if let Some(holder) = temp_holder {
            self.client.write_slot().await;
            self.client
                .sdk
                .update_secret_version_stage()
                .secret_id(&arn)
                .version_stage(TEMP_LABEL)
                .remove_from_version_id(holder)
                .send()
                .await
                .map_err(|e| fail(error("UpdateSecretVersionStage (temporary label)", e)))?;
        }
        if created {
            if let Some(Ok(policy)) = Self::policy(s) {
                self.client.write_slot().await;
                self.client
                    .sdk
                    .put_resource_policy()
                    .secret_id(&arn)
                    .resource_policy(policy)
                    .send()
                    .await
                    .map_err(|e| fail(error("PutResourcePolicy", e)))?;
            }
        }
        Ok(applied)
    }

    fn calls(&self) -> u64 {
        self.client.calls()
    }
}
