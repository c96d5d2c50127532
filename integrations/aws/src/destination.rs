//! Re-creating secrets in an AWS region with their original VersionIds, "current-first" (the
//! order that behaves the same on AWS and moto, `docs/aws.md`): CreateSecret without a value
//! (name, description, tags, KMS key only when mapped) → PutSecretValue of the AWSCURRENT version
//! with its labels → every other version with its labels, or a temporary label for deprecated
//! ones, each with ClientRequestToken = its original VersionId → the temporary label removed →
//! the resource policy, rewritten for the target (`policy`: the source secret's ARN becomes the
//! new one's, accounts are mapped; a policy naming another account unmapped is reported, not
//! applied). Replica regions are re-created with `replicate` (AddReplicaRegions on create), and
//! otherwise reported. Rotation is reported, never re-enabled. Re-running is a no-op: the same
//! token with the same value does nothing, and existing secrets are skipped (or, with `append`,
//! only missing VersionIds are added, without moving a label another version holds).

use std::collections::BTreeSet;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{ReplicaRegionType, Tag};
use secretsnap_core::plan::{deleting_at_target, on_conflict, ruled_out, Applied, VersionStep};
use secretsnap_core::portable::is_binary;
use secretsnap_core::{
    Action, Capabilities, ConflictMode, Destination, Error, ItemFailure, Location, Opt, Payload,
    PlanItem, RestoreOptions, Secret, Version,
};
use serde_json::Value;

use crate::client::{error, AwsClient};
use crate::convert::{aws_name, aws_tags, replicas, External};
use crate::policy::{account_of, map_role, rewrite, Target};
use crate::quota::Api;

/// The tags of a secret to create, with the restore's mark (a drill's) as one more tag.
fn marked(mut tags: Vec<Tag>, opts: &RestoreOptions) -> Vec<Tag> {
    if let Some((k, v)) = &opts.mark {
        tags.push(Tag::builder().key(k).value(v).build());
    }
    tags
}

/// What the plan says of a managed external secret (moto does not model these: the conversion
/// is tested below the SDK).
fn external_notes(x: &External) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(t) = &x.kind {
        notes.push(format!(
            "managed external secret of type {t}: the type is restored"
        ));
    }
    if !x.metadata.is_empty() || x.role_arn.is_some() {
        notes.push(
            "its rotation metadata and role are restored and rotation configured, not started \
             (RotateImmediately false); the partner's credentials are not verified here"
                .into(),
        );
    }
    notes
}

/// The rotation rules recorded for `s` (schedule, days, window), as the SDK takes them.
fn rotation_rules(s: &Secret) -> Option<aws_sdk_secretsmanager::types::RotationRulesType> {
    let r = &s.rotation.as_ref()?.details;
    let days = r.get("automatically_after_days").and_then(Value::as_i64);
    let schedule = r.get("schedule_expression").and_then(Value::as_str);
    let duration = r.get("duration").and_then(Value::as_str);
    if days.is_none() && schedule.is_none() {
        return None;
    }
    Some(
        aws_sdk_secretsmanager::types::RotationRulesType::builder()
            .set_automatically_after_days(days)
            .set_schedule_expression(schedule.map(String::from))
            .set_duration(duration.map(String::from))
            .build(),
    )
}

/// The label that holds a deprecated version while it is restored.
pub const TEMP_LABEL: &str = "secretsnap-restoring";
/// What an AWS region holds: 64 KiB per SecretString or SecretBinary, staging labels, binary
/// values, resource policies and replication; no version quota a restore meets (AWS prunes
/// deprecated versions beyond ~100 itself), no protection flag, no version descriptions.
pub const CAPABILITIES: Capabilities = Capabilities {
    provider: "aws",
    title: "AWS Secrets Manager",
    secret_types: &["string", "binary"],
    max_versions: None,
    max_value_size: 65_536,
    labels: true,
    protection: false,
    binary: true,
    policies: true,
    replication: true,
    version_descriptions: false,
    disabled_versions: false,
    rotation: true,
    expiry: false,
    current_label: Some("AWSCURRENT"),
    structured_type: None,
};

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

/// The default key, which needs no mapping.
const DEFAULT_KEY: &str = "alias/aws/secretsmanager";

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
        self.client.slot(Api::Read).await;
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
        self.client.slot(Api::Write).await;
        req.send()
            .await
            .map_err(|e| error(&format!("PutSecretValue version {}", v.id), e))?;
        Ok(())
    }

    /// The resource policy made valid for the target, or why it is not restored; `None` when the
    /// secret had none. `target_arn` is the new secret's ARN (a placeholder without an account
    /// while planning: the account then comes from the credentials).
    async fn policy(
        &self,
        s: &Secret,
        target_arn: &str,
        opts: &RestoreOptions,
    ) -> Option<Result<String, String>> {
        let p = s.resource_policy.as_deref()?;
        let account = match account_of(target_arn) {
            Some(a) => a.to_string(),
            None => match self.client.account().await {
                Ok(a) => a,
                Err(e) => {
                    return Some(Err(format!(
                    "resource policy: the target account could not be read ({e}); the policy is \
                     checked against the account in the new secret's ARN when it is created"
                )))
                }
            },
        };
        let target = Target {
            arn: target_arn,
            account: &account,
        };
        Some(rewrite(p, &s.id, &target, &opts.accounts, opts.face))
    }

    /// A created managed external secret gets its rotation metadata and role back (the role's
    /// account rewritten through `--map-account`), configured with `RotateImmediately` false so
    /// nothing rotates at restore time; a role that cannot be mapped leaves rotation as it is
    /// (the plan said so).
    async fn external_rotation(
        &self,
        s: &Secret,
        x: &External,
        arn: &str,
        opts: &RestoreOptions,
    ) -> Result<(), Error> {
        if x.metadata.is_empty() && x.role_arn.is_none() {
            return Ok(());
        }
        let account = account_of(arn).unwrap_or_default().to_string();
        let role = match &x.role_arn {
            Some(r) => match map_role(r, &account, &opts.accounts, opts.face) {
                Ok(r) => Some(r),
                Err(_) => return Ok(()),
            },
            None => None,
        };
        let mut req = self
            .client
            .sdk
            .rotate_secret()
            .secret_id(arn)
            .rotate_immediately(false)
            .set_external_secret_rotation_metadata(Some(x.sdk_metadata()))
            .set_external_secret_rotation_role_arn(role);
        if let Some(rules) = rotation_rules(s) {
            req = req.rotation_rules(rules);
        }
        self.client.slot(Api::Write).await;
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| error("RotateSecret (external rotation settings)", e))
    }

    /// Each replica region of `s` (other than this one) and, where a secret named `name` already
    /// exists there, why replicating there would fail (AWS would leave that replica `Failed`).
    async fn replica_conflicts(&self, s: &Secret, name: &str) -> Vec<(String, Option<String>)> {
        let regions: Vec<String> = s
            .replica_regions()
            .into_iter()
            .filter(|r| *r != self.location.region)
            .collect();
        let looks = regions.iter().map(|region| async move {
            let there = self.client.for_region(region);
            there.slot(Api::Read).await;
            let found = there.sdk.describe_secret().secret_id(name).send().await;
            let why = match found {
                Ok(d) if d.deleted_date().is_some() => Some(format!(
                    "a secret named {name} is scheduled for deletion in {region} (its name stays \
                     taken until then)"
                )),
                Ok(_) => Some(format!("a secret named {name} already exists in {region}")),
                Err(e) if e.code() == Some("ResourceNotFoundException") => None,
                Err(e) => Some(format!(
                    "could not look at {region}: {}",
                    error("DescribeSecret", e)
                )),
            };
            (region.clone(), why)
        });
        futures::future::join_all(looks).await
    }

    /// Each replica's status after a restore that replicated `arn`: notes, and a failure for
    /// every replica AWS reports `Failed` (with its message). Replication is asynchronous: a
    /// replica still `InProgress` is looked at again for a few seconds, then reported as such.
    async fn replica_status(&self, s: &Secret, arn: &str) -> (Vec<String>, Vec<ItemFailure>) {
        let (mut notes, mut failed) = (Vec::new(), Vec::new());
        for attempt in 0..5 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            self.client.slot(Api::Read).await;
            let d = match self
                .client
                .sdk
                .describe_secret()
                .secret_id(arn)
                .send()
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    notes.push(format!(
                        "replica status not read: {}",
                        error("DescribeSecret", e)
                    ));
                    return (notes, failed);
                }
            };
            let pending = d
                .replication_status()
                .iter()
                .any(|r| r.status().map(|s| s.as_str()) == Some("InProgress"));
            if pending && attempt < 4 {
                continue;
            }
            for r in d.replication_status() {
                let region = r.region().unwrap_or("?");
                let status = r
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default();
                let message = r.status_message().unwrap_or("");
                notes.push(
                    format!("replica {region}: {status} {message}")
                        .trim()
                        .to_string(),
                );
                if status == "Failed" {
                    failed.push(ItemFailure {
                        item: format!("{} (replica {region})", s.full_name()),
                        reason: format!("replication failed: {message}"),
                    });
                }
            }
            break;
        }
        (notes, failed)
    }

    /// The regions to replicate to: the source's replica regions other than this one.
    fn replica_regions(&self, s: &Secret, opts: &RestoreOptions) -> Vec<ReplicaRegionType> {
        replicas(s)
            .into_iter()
            .filter(|(region, _)| *region != self.location.region)
            .map(|(region, key)| {
                let key = key.and_then(|k| opts.key_ids.get(&k).cloned());
                ReplicaRegionType::builder()
                    .region(region)
                    .set_kms_key_id(key)
                    .build()
            })
            .collect()
    }

    /// Notes about replication: what `--replicate` would do, or what it cannot.
    fn replication_notes(&self, s: &Secret, opts: &RestoreOptions, creating: bool) -> Vec<String> {
        let mut notes = Vec::new();
        let here = &self.location.region;
        if let Some(primary) = s.extras.get("primary_region").and_then(Value::as_str) {
            let from = s.location.as_ref().map(|l| l.region.as_str()).unwrap_or("");
            if !primary.is_empty() && primary != from {
                notes.push(format!(
                    "a replica of the secret in {primary} at the source: restored \
                 here as a standalone secret"
                ));
            }
        }
        let list = replicas(s);
        if list.is_empty() {
            return notes;
        }
        let regions: Vec<&str> = list.iter().map(|(r, _)| r.as_str()).collect();
        if !opts.replicate {
            notes.push(format!(
                "replicated to {} at the source: not re-created (replicas are billed; opt in with \
                 {})",
                regions.join(", "),
                opts.face.hint(Opt::Replicate, "")
            ));
            return notes;
        }
        if !creating {
            notes.push(format!(
                "replicated to {} at the source: replication of an existing secret is left as it \
                 is",
                regions.join(", ")
            ));
            return notes;
        }
        if regions.contains(&here.as_str()) {
            notes.push(format!(
                "replicated to {here} at the source, which is the target itself: not replicated \
                 there"
            ));
        }
        for (region, key) in &list {
            if let Some(k) = key.as_deref().filter(|k| *k != DEFAULT_KEY) {
                if !opts.key_ids.contains_key(k) {
                    notes.push(format!(
                        "replica in {region}: KMS key {k} not mapped, the default key is used (map \
                         it with {})",
                        opts.face.hint(Opt::MapKey, &format!("{k}=DESTINATION_KEY"))
                    ));
                }
            }
        }
        notes
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
            p if p.has_value() && valid_token(&v.id) => {
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
            p if p.has_value() => notes.push(format!(
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

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn plan(&self, s: &Secret, opts: &RestoreOptions) -> Result<PlanItem, ItemFailure> {
        let mut notes = Vec::new();
        let name = opts.placed_name(&aws_name(s));
        let fail = ItemFailure::naming(s.full_name());
        if let Some(action) = ruled_out(s, opts, &CAPABILITIES) {
            return Ok(PlanItem {
                secret: s.full_name(),
                source_id: s.id.clone(),
                action,
                notes,
            });
        }
        if let Some(k) = &s.key_id {
            if !opts.key_ids.contains_key(k) {
                notes.push(format!(
                    "KMS key {k} not mapped: the region's default key aws/secretsmanager is used \
                     (map it with {})",
                    opts.face.hint(Opt::MapKey, &format!("{k}=DESTINATION_KEY"))
                ));
            }
        }
        if let Some(x) = External::of(s) {
            notes.extend(external_notes(&x));
            if let (Some(role), Ok(account)) = (&x.role_arn, self.client.account().await) {
                if let Err(why) = map_role(role, &account, &opts.accounts, opts.face) {
                    notes.push(why);
                }
            }
        }
        if let Some(r) = s.rotation.as_ref().filter(|_| External::of(s).is_none()) {
            if r.enabled {
                notes.push(format!(
                    "rotation was enabled at the source (lambda {}): recorded, not re-enabled",
                    r.details
                        .get("lambda_arn")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                ));
            }
        }
        let item = |action, notes| PlanItem {
            secret: s.full_name(),
            source_id: s.id.clone(),
            action,
            notes,
        };
        let existing = self.existing(&name).await.map_err(&fail)?;
        let creating = matches!(existing, Existing::None);
        notes.extend(self.replication_notes(s, opts, creating));
        if creating && opts.replicate {
            for (region, conflict) in self.replica_conflicts(s, &name).await {
                notes.push(match conflict {
                    Some(why) => format!(
                        "replica {region}: {why}; not replicated there (the restore will be \
                         partial, naming it)"
                    ),
                    None => format!("replica {region}: will be created"),
                });
            }
        }
        if creating {
            // The new secret's ARN is not known yet: no account in it, so the credentials' is used.
            let placeholder = format!(
                "arn:aws:secretsmanager:{}::secret:{name}",
                self.location.region
            );
            if let Some(Err(why)) = self.policy(s, &placeholder, opts).await {
                notes.push(why);
            }
        } else if opts.conflict == ConflictMode::Append && s.resource_policy.is_some() {
            notes.push(
                "resource policy: an existing secret keeps its own (restore into an empty target \
                 to restore it)"
                    .into(),
            );
        }
        match existing {
            Existing::None => {
                let (steps, more) = plan_steps(s, &BTreeSet::new(), &BTreeSet::new());
                notes.extend(more);
                Ok(item(
                    Action::Create {
                        steps,
                        protect: false,
                    },
                    notes,
                ))
            }
            Existing::PendingDeletion => Ok(item(
                deleting_at_target(
                    &format!("{name} in {}", self.location.region),
                    &format!("aws secretsmanager restore-secret --secret-id {name}"),
                    opts,
                ),
                notes,
            )),
            Existing::Live {
                arn,
                versions,
                labels,
            } => match on_conflict(&arn, opts) {
                Some(action) => Ok(item(action, notes)),
                None => {
                    let (steps, more) = plan_steps(s, &versions, &labels);
                    notes.extend(more);
                    Ok(item(
                        Action::Append {
                            target_id: arn,
                            steps,
                        },
                        notes,
                    ))
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
        let fail = ItemFailure::naming(s.full_name());
        let name = opts.placed_name(&aws_name(s));
        let mut replica_failures = Vec::new();
        let mut replicating = false;
        let (arn, steps, created) = match &item.action {
            Action::Create { steps, .. } => {
                let mut req = self
                    .client
                    .sdk
                    .create_secret()
                    .name(&name)
                    .set_tags(Some(marked(aws_tags(s), opts)));
                if !s.description.is_empty() {
                    req = req.description(&s.description);
                }
                if let Some(k) = s.key_id.as_ref().and_then(|k| opts.key_ids.get(k)) {
                    req = req.kms_key_id(k);
                }
                if let Some(t) = External::of(s).and_then(|x| x.kind) {
                    req = req.r#type(t);
                }
                if opts.replicate {
                    let conflicts: Vec<(String, String)> = self
                        .replica_conflicts(s, &name)
                        .await
                        .into_iter()
                        .filter_map(|(region, why)| Some((region, why?)))
                        .collect();
                    let regions: Vec<ReplicaRegionType> = self
                        .replica_regions(s, opts)
                        .into_iter()
                        .filter(|r| {
                            !conflicts
                                .iter()
                                .any(|(c, _)| Some(c.as_str()) == r.region())
                        })
                        .collect();
                    replica_failures = conflicts
                        .into_iter()
                        .map(|(region, why)| ItemFailure {
                            item: format!("{} (replica {region})", s.full_name()),
                            reason: format!("{why}: not replicated there"),
                        })
                        .collect();
                    replicating = !regions.is_empty();
                    if replicating {
                        req = req.set_add_replica_regions(Some(regions));
                    }
                }
                self.client.slot(Api::Create).await;
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
            ..Default::default()
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
            self.put(&arn, v, labels).await.map_err(&fail)?;
            applied
                .versions
                .push((st.source_version.clone(), v.id.clone()));
        }
        if let Some(holder) = temp_holder {
            self.client.slot(Api::Write).await;
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
            if let Some(Ok(policy)) = self.policy(s, &arn, opts).await {
                self.client.slot(Api::Policy).await;
                self.client
                    .sdk
                    .put_resource_policy()
                    .secret_id(&arn)
                    .resource_policy(policy)
                    .send()
                    .await
                    .map_err(|e| fail(error("PutResourcePolicy", e)))?;
            }
            if let Some(x) = External::of(s) {
                self.external_rotation(s, &x, &arn, opts)
                    .await
                    .map_err(&fail)?;
            }
        }
        applied.failed = replica_failures;
        if replicating {
            let (notes, failed) = self.replica_status(s, &arn).await;
            applied.notes.extend(notes);
            applied.failed.extend(failed);
        }
        Ok(applied)
    }

    async fn remove(&self, target_id: &str) -> Result<(), Error> {
        self.client.slot(Api::Delete).await;
        self.client
            .sdk()
            .delete_secret()
            .secret_id(target_id)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error(&format!("DeleteSecret {target_id}"), e))
    }

    fn calls(&self) -> u64 {
        self.client.calls()
    }
}
