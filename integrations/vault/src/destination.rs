//! Re-creating KV paths. Into a new path, versions are written in order with check-and-set, so
//! each keeps its number: the first write uses `cas=0` (refused if anyone created the path since
//! the plan: nothing of theirs is touched), a destroyed version becomes a placeholder that is then
//! destroyed, a soft-deleted one is written (its value, or a placeholder when it was never read)
//! and then deleted. The path's `max_versions` is raised to the history's length while writing,
//! so no version is pruned on the way, and the source's settings and custom metadata are written
//! last (`cas_required` included, which would otherwise refuse our own writes). An existing path
//! is skipped or failed by `on_conflict`; `append` writes the versions numbered above the
//! target's current one, which completes a restore that stopped half-way with the numbers kept.
//! Secrets from another provider (ids that are not numbers) have their values written in order,
//! each as its JSON object, or wrapped as `{"value": text}`.

use reqwest::{Method, StatusCode};
use secretsnap_core::plan::{on_conflict, ruled_out, Applied, VersionStep};
use secretsnap_core::{
    Action, Capabilities, Destination, Error, ItemFailure, Location, Payload, PlanItem,
    RestoreOptions, Secret, VersionStatus,
};
use serde_json::{json, Value};

use crate::client::{rejected, VaultClient};
use crate::convert;
use crate::source::VaultSource;

pub const CAPABILITIES: Capabilities = Capabilities {
    provider: crate::config::NAME,
    title: "Vault KV",
    secret_types: &[convert::KIND],
    max_versions: None,
    // The default storage (raft) holds entries up to 1 MiB, request and metadata included.
    max_value_size: 512 * 1024,
    labels: false,
    protection: false,
    binary: false,
    policies: false,
    replication: false,
    version_descriptions: false,
    disabled_versions: true,
    rotation: false,
    expiry: false,
    current_label: None,
    structured_type: Some(convert::KIND),
};

/// A step writing a placeholder that is then destroyed (a destroyed or missing version).
const DESTROYED: &str = "placeholder, destroyed";
/// A step writing a placeholder that is then deleted (a deleted version never read).
const PLACEHOLDER: &str = "placeholder";

/// `vault://MOUNT[/NAMESPACE]` as a destination.
pub struct VaultDestination {
    client: VaultClient,
    mount: String,
    location: Location,
}

/// Whether the secret's version ids are KV version numbers (it comes from a KV mount).
fn numbered(s: &Secret) -> bool {
    s.location
        .as_ref()
        .is_some_and(|l| l.provider == crate::config::NAME)
        && s.versions.iter().all(|v| v.id.parse::<u64>().is_ok())
}

/// The steps restoring `s`'s versions numbered above `after`, and notes.
fn steps(s: &Secret, after: u64) -> (Vec<VersionStep>, Vec<String>) {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    if numbered(s) {
        let mut next = after + 1;
        for v in &s.versions {
            let n: u64 = v.id.parse().unwrap_or(0);
            if n <= after {
                continue;
            }
            // Numbers the source no longer lists (pruned by max_versions) keep their place.
            while next < n {
                steps.push(VersionStep {
                    source_version: next.to_string(),
                    description: DESTROYED.into(),
                    disable: false,
                });
                next += 1;
            }
            let description = match (&v.status, v.payload.has_value()) {
                (VersionStatus::Enabled | VersionStatus::Disabled, true) => "",
                (VersionStatus::Disabled, false) => PLACEHOLDER,
                _ => DESTROYED,
            };
            steps.push(VersionStep {
                source_version: v.id.clone(),
                description: description.into(),
                disable: v.status == VersionStatus::Disabled,
            });
            next = n + 1;
        }
        let kept = steps.iter().filter(|s| s.description.is_empty()).count();
        if kept < steps.len() {
            notes.push(format!(
                "{} of {} versions have no value to restore (destroyed, pruned or deleted \
                 without being read): written as placeholders and destroyed or deleted, so the \
                 others keep their numbers",
                steps.len() - kept,
                steps.len()
            ));
        }
        return (steps, notes);
    }
    let mut without = 0;
    for v in &s.versions {
        if v.status.restorable() && v.payload.has_value() {
            steps.push(VersionStep {
                source_version: v.id.clone(),
                description: String::new(),
                disable: v.status == VersionStatus::Disabled,
            });
        } else {
            without += 1;
        }
    }
    if without > 0 {
        notes.push(format!(
            "versions without a value are not restored (KV versions hold data): {without}"
        ));
    }
    (steps, notes)
}

impl VaultDestination {
    pub fn new(client: VaultClient, mount: &str) -> VaultDestination {
        let location = crate::config::location(&client, mount);
        VaultDestination {
            client,
            mount: mount.trim_matches('/').to_string(),
            location,
        }
    }

    fn target(s: &Secret, opts: &RestoreOptions) -> String {
        convert::join(&opts.placed_path(&s.path), &s.name)
    }

    async fn post(&self, what: &str, kv: &str, body: &Value) -> Result<Value, Error> {
        let path = format!("{}/{what}/{kv}", self.mount);
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec(body).expect("JSON serializes"));
        let method = if what == "destroy" {
            Method::PUT
        } else {
            Method::POST
        };
        self.client.ok_json(method, &path, Some(&bytes)).await
    }

    /// Writes one version with check-and-set `cas`; returns its number.
    async fn write(&self, kv: &str, data: Value, cas: u64) -> Result<u64, Error> {
        let body = json!({ "data": data, "options": { "cas": cas } });
        let r = self.post("data", kv, &body).await?;
        r["data"]["version"]
            .as_u64()
            .ok_or_else(|| Error::Protocol(format!("write of {kv}: no version number")))
    }
}

#[async_trait::async_trait]
impl Destination for VaultDestination {
    fn location(&self) -> Location {
        self.location.clone()
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn plan(&self, s: &Secret, opts: &RestoreOptions) -> Result<PlanItem, ItemFailure> {
        let item = |action, notes| PlanItem {
            secret: s.full_name(),
            source_id: s.id.clone(),
            action,
            notes,
        };
        if let Some(action) = ruled_out(s, opts, &CAPABILITIES) {
            return Ok(item(action, vec![]));
        }
        let mut notes = Vec::new();
        for v in &s.versions {
            if let Payload::Bytes(b) = &v.payload {
                match convert::as_object(b) {
                    None => {
                        let reason = format!(
                            "version {} is not text: a KV version holds a JSON object",
                            v.id
                        );
                        return Ok(item(Action::Fail { reason }, notes));
                    }
                    Some((_, true)) => {
                        notes.push(format!(
                            "version {} is not a JSON object: written as {{\"value\": …}}",
                            v.id
                        ));
                    }
                    _ => {}
                }
            }
        }
        let kv = Self::target(s, opts);
        let existing = VaultSource::metadata(&self.client, &self.mount, &kv)
            .await
            .map_err(|e| ItemFailure {
                item: s.full_name(),
                reason: e.to_string(),
            })?;
        let (action, more) = match existing {
            None => {
                let (steps, n) = steps(s, 0);
                (
                    Action::Create {
                        steps,
                        protect: false,
                    },
                    n,
                )
            }
            Some(m) => {
                if let Some(a) = on_conflict(&format!("{}/{kv}", self.mount), opts) {
                    (a, vec![])
                } else {
                    let (steps, n) = if numbered(s) {
                        steps(s, m["current_version"].as_u64().unwrap_or(0))
                    } else {
                        let why =
                            "versions of another provider are not appended to an existing path";
                        (Vec::new(), vec![why.to_string()])
                    };
                    (
                        Action::Append {
                            target_id: kv.clone(),
                            steps,
                        },
                        n,
                    )
                }
            }
        };
        notes.extend(more);
        let max = s.extras.get(convert::MAX_VERSIONS).and_then(Value::as_u64);
        if let (Some(max), Action::Create { steps, .. }) = (max, &action) {
            if max > 0 && (max as usize) < steps.len() {
                notes.push(format!(
                    "max_versions {max} is lower than the {} versions written: it is applied \
                     after them, and the server drops the oldest at the next write",
                    steps.len()
                ));
            }
        }
        Ok(item(action, notes))
    }

    async fn apply(
        &self,
        item: &PlanItem,
        s: &Secret,
        opts: &RestoreOptions,
    ) -> Result<Applied, ItemFailure> {
        let fail = |e: Error| ItemFailure {
            item: s.full_name(),
            reason: e.to_string(),
        };
        let kv = Self::target(s, opts);
        let (steps, creating) = match &item.action {
            Action::Create { steps, .. } => (steps, true),
            // Nothing to append: no call to make.
            Action::Append { steps, .. } if steps.is_empty() => {
                return Ok(Applied {
                    target_id: kv,
                    ..Default::default()
                })
            }
            Action::Append { steps, .. } => (steps, false),
            _ => return Ok(Applied::default()),
        };
        let mut cas = if creating {
            0
        } else {
            VaultSource::metadata(&self.client, &self.mount, &kv)
                .await
                .map_err(fail)?
                .and_then(|m| m["current_version"].as_u64())
                .unwrap_or(0)
        };
        // Appending numbered versions continues the target's numbering from where the plan saw
        // it; if someone wrote to the path since, the numbers would shift: refuse, write nothing.
        let planned = steps
            .first()
            .and_then(|st| st.source_version.parse::<u64>().ok());
        if let (false, true, Some(first)) = (creating, numbered(s), planned) {
            if first != cas + 1 {
                return Err(fail(Error::Rejected(format!(
                    "{}/{kv} is at version {cas} since the plan, which expected {}; nothing was \
                     written (plan again)",
                    self.mount,
                    first - 1
                ))));
            }
        }
        let mut applied = Applied {
            target_id: kv.clone(),
            created_secret: creating,
            ..Default::default()
        };
        let tags = opts.marked_tags(&s.tags);
        if creating && steps.is_empty() {
            // No version to write: the path is its metadata alone, created only if still absent.
            if VaultSource::metadata(&self.client, &self.mount, &kv)
                .await
                .map_err(fail)?
                .is_some()
            {
                return Err(fail(Error::Rejected(format!(
                    "{}/{kv} appeared since the plan; nothing of it was changed",
                    self.mount
                ))));
            }
        }
        for (i, step) in steps.iter().enumerate() {
            let value = s
                .versions
                .iter()
                .find(|v| v.id == step.source_version)
                .and_then(|v| match &v.payload {
                    Payload::Bytes(b) if step.description.is_empty() => convert::as_object(b),
                    _ => None,
                })
                .map(|(v, _)| v)
                .unwrap_or_else(|| json!({}));
            let n = self.write(&kv, value, cas).await.map_err(|e| {
                fail(if cas == 0 {
                    Error::Rejected(format!(
                        "{e} — the path appeared since the plan; nothing of it was changed"
                    ))
                } else {
                    e
                })
            })?;
            cas = n;
            if creating && i == 0 {
                // Ours now (cas=0 proved it was absent): mark it at once, and make room for the
                // whole history before writing the rest of it.
                let room = json!({
                    "max_versions": steps.len().max(1),
                    "custom_metadata": convert::metadata_body(s, &tags)["custom_metadata"],
                });
                self.post("metadata", &kv, &room).await.map_err(fail)?;
            }
            let versions = json!({ "versions": [n] });
            if step.description == DESTROYED {
                self.post("destroy", &kv, &versions).await.map_err(fail)?;
            } else if step.disable {
                self.post("delete", &kv, &versions).await.map_err(fail)?;
            }
            applied
                .versions
                .push((step.source_version.clone(), n.to_string()));
        }
        if creating {
            let mut body = convert::metadata_body(s, &tags);
            if body.get("max_versions").is_none() {
                body["max_versions"] = json!(0);
            }
            self.post("metadata", &kv, &body).await.map_err(fail)?;
        }
        Ok(applied)
    }

    async fn remove(&self, target_id: &str) -> Result<(), Error> {
        let path = format!("{}/metadata/{target_id}", self.mount);
        let r = self.client.call(Method::DELETE, &path, None).await?;
        if r.status.is_success() || r.status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(rejected(&Method::DELETE, &path, &r))
        }
    }

    fn calls(&self) -> u64 {
        self.client.calls()
    }
}
