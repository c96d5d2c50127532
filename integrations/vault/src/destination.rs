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
//!
//! Into a KV v1 mount a path holds one value: the latest version with a value is written, into
//! a path that does not exist (KV v1 has no check-and-set: existence is read just before the
//! write), and nothing else (no history, no metadata; the plan says what is left out). Into
//! `vault://` alone, each path goes into the mount its folder starts with, which must exist.

use reqwest::{Method, StatusCode};
use secretsnap_core::plan::{on_conflict, ruled_out, Applied, VersionStep};
use secretsnap_core::{
    Action, Capabilities, Destination, Error, ItemFailure, Location, Payload, PlanItem,
    RestoreOptions, Secret, VersionStatus,
};
use serde_json::{json, Value};

use crate::client::{rejected, VaultClient};
use crate::convert::{self, esc};
use crate::mount::{Mount, Mounts};
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

/// `vault://MOUNT[/NAMESPACE]` (or `vault://`, every mount by name) as a destination.
pub struct VaultDestination {
    client: VaultClient,
    /// The mount named by the location, or (none named) the one each secret's folder starts with.
    mounts: Mounts,
    /// Each mount's default `max_versions`, once read (`None`: not readable).
    defaults: tokio::sync::Mutex<std::collections::HashMap<String, Option<u64>>>,
    location: Location,
}

/// Where a secret goes: its mount, its path inside it, and the target id (the path, prefixed
/// with the mount where the location names none).
struct Place {
    mount: Mount,
    kv: String,
    id: String,
}

/// Whether the secret's version ids are KV version numbers (it comes from a KV mount).
fn numbered(s: &Secret) -> bool {
    s.location
        .as_ref()
        .is_some_and(|l| l.provider == crate::config::NAME)
        && s.versions.iter().all(|v| v.id.parse::<u64>().is_ok())
}

/// Version `id`'s loaded value as the KV object it is written as (`None`: no value loaded).
fn object(s: &Secret, id: &str) -> Option<Value> {
    s.versions
        .iter()
        .find(|v| v.id == id)
        .and_then(|v| match &v.payload {
            Payload::Bytes(b) => convert::as_object(b),
            _ => None,
        })
        .map(|(v, _)| v)
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
    /// `mount` empty: every mount, by the first folders of each secret.
    pub fn new(client: VaultClient, mount: &str) -> VaultDestination {
        let location = crate::config::location(&client, mount);
        VaultDestination {
            client,
            mounts: Mounts::new(mount),
            defaults: Default::default(),
            location,
        }
    }

    async fn place(&self, s: &Secret, opts: &RestoreOptions) -> Result<Place, Error> {
        let (mount, inside) = self
            .mounts
            .locate(&self.client, &convert::join(&s.path, &s.name))
            .await?;
        let (folder, name) = convert::split(&inside);
        let kv = convert::join(&opts.placed_path(&folder), &name);
        let id = if self.mounts.named() {
            kv.clone()
        } else {
            format!("{}/{kv}", mount.path)
        };
        Ok(Place { mount, kv, id })
    }

    async fn post(&self, m: &Mount, what: &str, kv: &str, body: &Value) -> Result<Value, Error> {
        let path = format!("{}/{what}/{}", esc(&m.path), esc(kv));
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec(body).expect("JSON serializes"));
        let method = if what == "destroy" {
            Method::PUT
        } else {
            Method::POST
        };
        self.client.ok_json(method, &path, Some(&bytes)).await
    }

    /// Whether a new path of `m` keeps `versions` versions without a `max_versions` of its own:
    /// the mount's default (`GET M/config`, read once per mount; 0 means 10). Unknown (the token
    /// may not read the config): no.
    async fn fits(&self, m: &Mount, versions: usize) -> bool {
        // Held across the read: concurrent writes into one mount read its config once.
        let mut defaults = self.defaults.lock().await;
        let max = match defaults.get(&m.path) {
            Some(max) => *max,
            None => {
                let path = format!("{}/config", esc(&m.path));
                let max = match self.client.ok_json(Method::GET, &path, None).await {
                    Ok(c) => c["data"]["max_versions"]
                        .as_u64()
                        .map(|n| if n == 0 { 10 } else { n }),
                    Err(_) => None,
                };
                defaults.insert(m.path.clone(), max);
                max
            }
        };
        max.is_some_and(|max| versions as u64 <= max)
    }

    /// Writes one version with check-and-set `cas`; returns its number.
    async fn write(&self, m: &Mount, kv: &str, data: Value, cas: u64) -> Result<u64, Error> {
        let body = json!({ "data": data, "options": { "cas": cas } });
        let r = self.post(m, "data", kv, &body).await?;
        r["data"]["version"]
            .as_u64()
            .ok_or_else(|| Error::Protocol(format!("write of {kv}: no version number")))
    }

    /// The plan into a KV v1 mount: the latest version with a value, into a new path.
    async fn plan_v1(
        &self,
        s: &Secret,
        m: &Mount,
        kv: &str,
        opts: &RestoreOptions,
    ) -> Result<(Action, Vec<String>), Error> {
        let mut notes = Vec::new();
        let with_value: Vec<&secretsnap_core::Version> = s
            .versions
            .iter()
            .filter(|v| v.status.restorable() && v.payload.has_value())
            .collect();
        let Some(latest) = with_value.last() else {
            let reason = "no version with a value: a KV v1 path holds one value".to_string();
            return Ok((Action::Skip { reason }, notes));
        };
        if with_value.len() > 1 || with_value.len() < s.versions.len() {
            notes.push(format!(
                "KV v1 holds one value per path: version {} is written, the other {} are not",
                latest.id,
                s.versions.len() - 1
            ));
        }
        let settings = [
            convert::MAX_VERSIONS,
            convert::CAS_REQUIRED,
            convert::DELETE_AFTER,
        ];
        if !s.tags.is_empty() || settings.iter().any(|k| s.extras.contains_key(*k)) {
            notes.push("KV v1 keeps no metadata: tags and settings are not written".into());
        }
        if self.v1_exists(m, kv).await? {
            let action = on_conflict(&format!("{}/{kv}", m.path), opts).unwrap_or(Action::Skip {
                reason: "exists, and a KV v1 path has no history to append to: left as it is"
                    .into(),
            });
            return Ok((action, notes));
        }
        let steps = vec![VersionStep {
            source_version: latest.id.clone(),
            description: String::new(),
            disable: false,
        }];
        Ok((
            Action::Create {
                steps,
                protect: false,
            },
            notes,
        ))
    }

    async fn v1_exists(&self, m: &Mount, kv: &str) -> Result<bool, Error> {
        let path = format!("{}/{}", esc(&m.path), esc(kv));
        let r = self.client.call(Method::GET, &path, None).await?;
        match r.status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(rejected(&Method::GET, &path, &r)),
        }
    }

    /// Writes a planned KV v1 path, if it is still absent (v1 has no check-and-set: this read
    /// and the write are as close as the API allows).
    async fn apply_v1(
        &self,
        s: &Secret,
        steps: &[VersionStep],
        m: &Mount,
        kv: &str,
        id: String,
    ) -> Result<Applied, Error> {
        let Some(step) = steps.first() else {
            return Ok(Applied::default());
        };
        let value = object(s, &step.source_version)
            .ok_or_else(|| Error::Rejected(format!("version {}: no value", step.source_version)))?;
        if self.v1_exists(m, kv).await? {
            return Err(Error::Rejected(format!(
                "{}/{kv} appeared since the plan; nothing of it was changed",
                m.path
            )));
        }
        let path = format!("{}/{}", esc(&m.path), esc(kv));
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&value).expect("JSON serializes"));
        self.client
            .ok_json(Method::POST, &path, Some(&bytes))
            .await?;
        Ok(Applied {
            target_id: id,
            created_secret: true,
            versions: vec![(step.source_version.clone(), "1".into())],
            ..Default::default()
        })
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
        let fail = ItemFailure::naming(s.full_name());
        let Place { mount, kv, id } = self.place(s, opts).await.map_err(&fail)?;
        if mount.v1 {
            let (action, more) = self.plan_v1(s, &mount, &kv, opts).await.map_err(&fail)?;
            notes.extend(more);
            return Ok(item(action, notes));
        }
        let existing = VaultSource::metadata(&self.client, &mount.path, &kv)
            .await
            .map_err(&fail)?;
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
                if let Some(a) = on_conflict(&format!("{}/{kv}", mount.path), opts) {
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
                            target_id: id.clone(),
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
        let fail = ItemFailure::naming(s.full_name());
        let Place { mount, kv, id } = self.place(s, opts).await.map_err(&fail)?;
        let (steps, creating) = match &item.action {
            Action::Create { steps, .. } if mount.v1 => {
                return self
                    .apply_v1(s, steps, &mount, &kv, id)
                    .await
                    .map_err(&fail)
            }
            Action::Create { steps, .. } => (steps, true),
            // Nothing to append: no call to make.
            Action::Append { steps, .. } if steps.is_empty() => {
                return Ok(Applied {
                    target_id: id,
                    ..Default::default()
                })
            }
            Action::Append { steps, .. } => (steps, false),
            _ => return Ok(Applied::default()),
        };
        let mut cas = if creating {
            0
        } else {
            VaultSource::metadata(&self.client, &mount.path, &kv)
                .await
                .map_err(&fail)?
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
                    mount.path,
                    first - 1
                ))));
            }
        }
        let mut applied = Applied {
            target_id: id,
            created_secret: creating,
            ..Default::default()
        };
        let tags = opts.marked_tags(&s.tags);
        if creating && steps.is_empty() {
            // No version to write: the path is its metadata alone, created only if still absent.
            if VaultSource::metadata(&self.client, &mount.path, &kv)
                .await
                .map_err(&fail)?
                .is_some()
            {
                return Err(fail(Error::Rejected(format!(
                    "{}/{kv} appeared since the plan; nothing of it was changed",
                    mount.path
                ))));
            }
        }
        for (i, step) in steps.iter().enumerate() {
            // A placeholder step writes an empty object.
            let value = step
                .description
                .is_empty()
                .then(|| object(s, &step.source_version))
                .flatten()
                .unwrap_or_else(|| json!({}));
            let n = self.write(&mount, &kv, value, cas).await.map_err(|e| {
                fail(if cas == 0 {
                    Error::Rejected(format!(
                        "{e} — the path appeared since the plan; nothing of it was changed"
                    ))
                } else {
                    e
                })
            })?;
            cas = n;
            if creating && i == 0 && (!tags.is_empty() || !self.fits(&mount, steps.len()).await) {
                // Ours now (cas=0 proved it was absent): mark it at once, and make room for the
                // whole history before writing the rest of it. Not needed (one call saved per
                // path) where there is no custom metadata or mark to set and the mount keeps the
                // whole history anyway.
                let room = json!({
                    "max_versions": steps.len().max(1),
                    "custom_metadata": convert::metadata_body(s, &tags)["custom_metadata"],
                });
                self.post(&mount, "metadata", &kv, &room)
                    .await
                    .map_err(&fail)?;
            }
            let versions = json!({ "versions": [n] });
            if step.description == DESTROYED {
                self.post(&mount, "destroy", &kv, &versions)
                    .await
                    .map_err(&fail)?;
            } else if step.disable {
                self.post(&mount, "delete", &kv, &versions)
                    .await
                    .map_err(&fail)?;
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
            self.post(&mount, "metadata", &kv, &body)
                .await
                .map_err(&fail)?;
        }
        Ok(applied)
    }

    async fn remove(&self, target_id: &str) -> Result<(), Error> {
        let (m, kv) = self.mounts.locate(&self.client, target_id).await?;
        let path = if m.v1 {
            format!("{}/{}", esc(&m.path), esc(&kv))
        } else {
            format!("{}/metadata/{}", esc(&m.path), esc(&kv))
        };
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
