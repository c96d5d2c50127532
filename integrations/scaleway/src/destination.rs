//! Re-creating secrets in a Scaleway project: secret (name, path, type, tags, description,
//! ephemeral policy; key id only when mapped), then versions in ascending revision order with their
//! description and data_crc32, then disables, then protection last. Existing secrets are never
//! overwritten or deleted: skipped by default; `append` adds only versions whose content is not
//! there yet, so a re-run after a crash completes the restore without duplicates. More than 20
//! restorable versions → the newest 20, and the plan says so. Managed secrets are skipped unless
//! asked. Secrets from another provider arrive rewritten by `portable::adapt` in the restore loop (AWS staging
//! labels and VersionIds kept in version descriptions, deprecated versions disabled).

use secretsnap_core::plan::{deleting_at_target, on_conflict, ruled_out, Applied, VersionStep};
use secretsnap_core::{
    Action, Capabilities, Destination, Error, ItemFailure, Location, Opt, Payload, PlanItem,
    RestoreOptions, Secret, VersionStatus,
};
use std::collections::HashMap;

use serde_json::json;

use crate::client::Client;

/// What a Scaleway project holds: 20 versions per secret (the live API's quota), 64 KiB per
/// value, protection and version descriptions; no labels, binary flag, policies or replication.
pub const CAPABILITIES: Capabilities = Capabilities {
    provider: "scaleway",
    title: "Scaleway",
    secret_types: &crate::emulator::SECRET_TYPES,
    max_versions: Some(20),
    max_value_size: 64 * 1024,
    labels: false,
    protection: true,
    binary: false,
    policies: false,
    replication: false,
    version_descriptions: true,
    disabled_versions: true,
    rotation: false,
    expiry: true,
    current_label: None,
    structured_type: Some("key_value"),
};

/// `scaleway://REGION/PROJECT` as a destination.
pub struct ScalewayDestination {
    client: Client,
    location: Location,
    /// The project's live secrets by (path, name) → id, when `survey` listed them in one pass.
    surveyed: std::sync::Mutex<Option<HashMap<(String, String), Existing>>>,
}

/// What the target project holds under a path and name.
#[derive(Debug, Clone)]
enum Existing {
    Absent,
    Live(String),
    /// Scheduled for deletion (restorable for a few days).
    Deleting(String),
}

impl Existing {
    /// A secret of the listing for secrets scheduled for deletion (`deleting`) or of the live one.
    fn listed(deleting: bool, id: String) -> Existing {
        if deleting {
            Existing::Deleting(id)
        } else {
            Existing::Live(id)
        }
    }
}

impl ScalewayDestination {
    pub fn new(client: Client, project: &str) -> Self {
        let location = Location {
            provider: "scaleway".into(),
            region: client.region.clone(),
            scope: project.to_string(),
        };
        ScalewayDestination {
            client,
            location,
            surveyed: std::sync::Mutex::new(None),
        }
    }

    /// The secret already at `path`/`s.name` in the target project, if any: a live one, else one
    /// scheduled for deletion; from the survey when there was one, else filtered listings (the
    /// live secrets, then, where none matches, those scheduled for deletion).
    async fn existing(&self, s: &Secret, path: &str) -> Result<Existing, Error> {
        let key = (path.to_string(), s.name.clone());
        if let Some(map) = self
            .surveyed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(map.get(&key).cloned().unwrap_or(Existing::Absent));
        }
        for deleting in [false, true] {
            let found = self
                .client
                .list_secrets(
                    &self.location.scope,
                    deleting,
                    &[("name", s.name.clone()), ("path", path.to_string())],
                )
                .await?;
            // The name filter is re-checked client-side (its exactness is not documented).
            if let Some(v) = found
                .into_iter()
                .find(|v| v["name"] == s.name.as_str() && v["path"] == path)
            {
                let id = v["id"].as_str().unwrap_or_default().to_string();
                return Ok(Existing::listed(deleting, id));
            }
        }
        Ok(Existing::Absent)
    }
}

fn payload<'a>(s: &'a Secret, version: &str) -> Option<&'a [u8]> {
    s.versions
        .iter()
        .find(|v| v.id == version)
        .and_then(|v| match &v.payload {
            Payload::Bytes(b) => Some(&b[..]),
            _ => None,
        })
}

/// Restorable steps (newest 20) and notes on what will not carry over.
fn steps(s: &Secret) -> (Vec<VersionStep>, Vec<String>) {
    let mut notes = Vec::new();
    let mut steps = Vec::new();
    for v in &s.versions {
        match &v.payload {
            p if p.has_value() && v.status.restorable() => steps.push(VersionStep {
                source_version: v.id.clone(),
                description: v.description.clone(),
                disable: v.status == VersionStatus::Disabled,
            }),
            Payload::Known => notes.push(format!("version {}: value not loaded", v.id)),
            _ => notes.push(format!(
                "version {} ({}): not restored: {}",
                v.id,
                v.status,
                v.not_read.as_deref().unwrap_or("no value in the snapshot")
            )),
        }
    }
    let max = CAPABILITIES.max_versions.unwrap_or(usize::MAX);
    if steps.len() > max {
        let dropped = steps.len() - max;
        notes.push(format!(
            "{dropped} oldest versions not restored: Scaleway keeps at most {max} versions per \
             secret"
        ));
        steps.drain(..dropped);
    }
    (steps, notes)
}

#[async_trait::async_trait]
impl Destination for ScalewayDestination {
    fn location(&self) -> Location {
        self.location.clone()
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn survey(&self, count: usize, _opts: &RestoreOptions) -> Result<(), Error> {
        // Listing the project pays off when it takes fewer calls than one lookup per secret. A
        // survey of an earlier run never stands in for this one's.
        *self.surveyed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let mut map = HashMap::new();
        // Secrets scheduled for deletion first, so that a live one of the same name wins.
        for deleting in [true, false] {
            let Some(all) = self
                .client
                .list_secrets_within(&self.location.scope, deleting, count)
                .await?
            else {
                return Ok(());
            };
            for v in all {
                let key = (
                    v["path"].as_str().unwrap_or("/").to_string(),
                    v["name"].as_str().unwrap_or_default().to_string(),
                );
                let id = v["id"].as_str().unwrap_or_default().to_string();
                map.insert(key, Existing::listed(deleting, id));
            }
        }
        *self.surveyed.lock().unwrap_or_else(|p| p.into_inner()) = Some(map);
        Ok(())
    }

    async fn plan(&self, s: &Secret, opts: &RestoreOptions) -> Result<PlanItem, ItemFailure> {
        let item = |action, notes: Vec<String>| PlanItem {
            secret: s.full_name(),
            source_id: s.id.clone(),
            action,
            notes,
        };
        let fail = ItemFailure::naming(s.full_name());
        if let Some(action) = ruled_out(s, opts, &CAPABILITIES) {
            return Ok(item(action, vec![]));
        }
        let (steps, mut notes) = steps(s);
        if let Some(k) = &s.key_id {
            if !opts.key_ids.contains_key(k) {
                notes.push(format!(
                    "key id {k} dropped: the destination's default key is used (map it with {})",
                    opts.face
                        .hint(Opt::MapKey, &format!("{k}=DESTINATION_KEY_ID"))
                ));
            }
        }
        let placed = opts.placed_path(&s.path);
        let target_id = match self.existing(s, &placed).await.map_err(&fail)? {
            Existing::Absent => {
                return Ok(item(
                    Action::Create {
                        steps,
                        protect: s.protected,
                    },
                    notes,
                ))
            }
            Existing::Deleting(id) => {
                let cancel = format!(
                    "the console's Restore, or POST /secrets/{id}/restore in {}",
                    self.location.region
                );
                return Ok(item(
                    deleting_at_target(&format!("id {id}"), &cancel, opts),
                    notes,
                ));
            }
            Existing::Live(id) => id,
        };
        if let Some(action) = on_conflict(&format!("id {target_id}"), opts) {
            return Ok(item(action, notes));
        }
        // Which steps are already there: enabled versions by content, disabled ones by
        // description (reading them would need a write). A dry run has not loaded the
        // snapshot's values, so it reads none of the target's either: enabled versions are then
        // matched only when restoring.
        let loaded = !s
            .versions
            .iter()
            .any(|v| matches!(v.payload, Payload::Stored(_)));
        let mut have: Vec<(VersionStatus, String, Option<zeroize::Zeroizing<Vec<u8>>>)> =
            Vec::new();
        let mut unmatched = 0;
        for v in self.client.list_versions(&target_id).await.map_err(&fail)? {
            let rev = v["revision"].as_u64().unwrap_or(0).to_string();
            let status = VersionStatus::from(v["status"].as_str().unwrap_or(""));
            if status == VersionStatus::Enabled && !loaded {
                unmatched += 1;
                continue;
            }
            let data = if status == VersionStatus::Enabled {
                Some(self.client.access(&target_id, &rev).await.map_err(&fail)?)
            } else {
                None
            };
            if status.restorable() {
                have.push((
                    status,
                    v["description"].as_str().unwrap_or("").to_string(),
                    data,
                ));
            }
        }
        let missing: Vec<VersionStep> = steps
            .into_iter()
            .filter(|st| {
                let want = payload(s, &st.source_version);
                let pos = have.iter().position(|(status, desc, data)| match data {
                    Some(d) => Some(&d[..]) == want,
                    None => {
                        *status == VersionStatus::Disabled && st.disable && *desc == st.description
                    }
                });
                match pos {
                    Some(i) => {
                        have.remove(i);
                        false
                    }
                    None => true,
                }
            })
            .collect();
        if unmatched > 0 {
            notes.push(format!(
                "values not read (dry run): the {unmatched} enabled versions already at \
                 the destination are compared with these when restoring, and only \
                 versions they lack are added"
            ));
        }
        Ok(item(
            Action::Append {
                target_id,
                steps: missing,
            },
            notes,
        ))
    }

    async fn apply(
        &self,
        item: &PlanItem,
        s: &Secret,
        opts: &RestoreOptions,
    ) -> Result<Applied, ItemFailure> {
        let fail = ItemFailure::naming(s.full_name());
        let (target_id, steps, protect, created) = match &item.action {
            Action::Create { steps, protect } => {
                let mut body = json!({
                    "project_id": self.location.scope, "name": s.name,
                    "tags": opts.marked_tags(&s.tags),
                        "description": s.description,
                    "type": s.kind, "path": opts.placed_path(&s.path), "protected": false,
                });
                if let Some(p) = &s.ephemeral_policy {
                    body["ephemeral_policy"] = p.clone();
                }
                if let Some(k) = s.key_id.as_ref().and_then(|k| opts.key_ids.get(k)) {
                    body["key_id"] = json!(k);
                }
                let v = self.client.create_secret(&body).await.map_err(&fail)?;
                (
                    v["id"].as_str().unwrap_or_default().to_string(),
                    steps,
                    *protect,
                    true,
                )
            }
            Action::Append { target_id, steps } => (target_id.clone(), steps, false, false),
            Action::Skip { .. } | Action::Fail { .. } => return Ok(Applied::default()),
        };
        let mut applied = Applied {
            target_id: target_id.clone(),
            created_secret: created,
            versions: Vec::new(),
            ..Default::default()
        };
        let mut to_disable = Vec::new();
        for st in steps {
            let data = payload(s, &st.source_version).ok_or_else(|| ItemFailure {
                item: s.full_name(),
                reason: format!("version {}: no value to restore", st.source_version),
            })?;
            let v = self
                .client
                .create_version(&target_id, data, &st.description)
                .await
                .map_err(&fail)?;
            let rev = v["revision"].as_u64().unwrap_or(0).to_string();
            if st.disable {
                to_disable.push(rev.clone());
            }
            applied.versions.push((st.source_version.clone(), rev));
        }
        for rev in to_disable {
            self.client
                .version_action(&target_id, &rev, "disable")
                .await
                .map_err(&fail)?;
        }
        if protect {
            self.client.protect(&target_id).await.map_err(&fail)?;
        }
        Ok(applied)
    }

    async fn remove(&self, target_id: &str) -> Result<(), Error> {
        // Protection is the last thing a restore sets; a drill's scratch secret loses it first.
        self.client.unprotect(target_id).await?;
        self.client.delete_secret(target_id).await
    }

    fn calls(&self) -> u64 {
        self.client.calls()
    }
}
