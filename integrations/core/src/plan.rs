//! Restore plans: pure data, printable and JSON-able, computed before anything is written, and the
//! report of what applying them did (old → new version ids, failures by item).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ItemFailure;

/// What to do when a secret of the same name and path already exists at the destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictMode {
    /// Leave it alone and report it (default: never touch what we do not own).
    #[default]
    Skip,
    /// Add only the versions whose content is not there yet (completes an interrupted restore).
    Append,
    /// Stop with an error for that item.
    Fail,
}

impl std::str::FromStr for ConflictMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skip" => Ok(ConflictMode::Skip),
            "append" => Ok(ConflictMode::Append),
            "fail" => Ok(ConflictMode::Fail),
            _ => Err(format!(
                "unknown conflict mode {s:?}: use skip, append or fail"
            )),
        }
    }
}

/// Restore options shared by every destination.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RestoreOptions {
    pub conflict: ConflictMode,
    /// Restore product-managed secrets (`used_by` non-empty) too.
    pub include_managed: bool,
    /// Source key id → destination key id; unmapped key ids are dropped (default key).
    pub key_ids: BTreeMap<String, String>,
    /// Source account id → destination account id, rewritten in resource policies (AWS).
    pub accounts: BTreeMap<String, String>,
    /// Re-create replication to the regions the source secret was replicated to (AWS; replicas
    /// cost money, so this is opt-in and otherwise noted).
    pub replicate: bool,
    /// Who runs the restore, so hints name options that exist there.
    #[serde(skip)]
    pub face: crate::Face,
    /// Restore every secret under this folder (`/restored`: `/app/db` becomes
    /// `/restored/app/db`); restore drills put each drill under a folder of its own.
    pub under: Option<String>,
    /// A tag (key, value) added to every secret this restore creates, where the provider keeps
    /// tags: restore drills mark what they write, so that they only ever delete what the mark
    /// proves they created.
    pub mark: Option<(String, String)>,
    /// What each provider this process knows declares: the restore loop reads the conventions of
    /// the provider a secret comes from (its current label, its first type) when it moves the
    /// secret into another. Filled by whoever knows the providers (the binary's list); a secret
    /// from a provider not listed is still adapted, without reading those conventions back.
    #[serde(skip)]
    pub origins: Vec<crate::Capabilities>,
}

impl RestoreOptions {
    /// What the provider named `provider` declares, if this process knows it.
    pub fn origin(&self, provider: &str) -> Option<&crate::Capabilities> {
        self.origins.iter().find(|c| c.provider == provider)
    }

    /// The folder a secret of folder `path` is restored into.
    pub fn placed_path(&self, path: &str) -> String {
        match self.under.as_deref().map(|u| u.trim_end_matches('/')) {
            None | Some("") => path.to_string(),
            Some(u) if path == "/" || path.is_empty() => u.to_string(),
            Some(u) => format!("{u}{path}"),
        }
    }

    /// The tags a created secret carries: its own, then the mark (as `key=value`), if any.
    pub fn marked_tags(&self, tags: &[String]) -> Vec<String> {
        let mut out = tags.to_vec();
        if let Some((k, v)) = &self.mark {
            out.push(format!("{k}={v}"));
        }
        out
    }

    /// A flat name (AWS: folders are part of the name, without a leading slash) restored under
    /// `under`.
    pub fn placed_name(&self, name: &str) -> String {
        match self.under.as_deref().map(|u| u.trim_matches('/')) {
            None | Some("") => name.to_string(),
            Some(u) => format!("{u}/{}", name.trim_start_matches('/')),
        }
    }
}

/// Parses mappings `SRC=DST` (key ids, accounts) into a map; `what` names the option in errors.
/// Account mappings (`accounts`) must be 12-digit AWS account ids on both sides.
pub fn parse_mappings<'a>(
    items: impl IntoIterator<Item = &'a str>,
    what: &str,
    accounts: bool,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for m in items {
        let m = m.trim();
        if m.is_empty() {
            continue;
        }
        let (a, b) = m
            .split_once('=')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
            .ok_or_else(|| format!("{what} {m:?}: expected SRC=DST"))?;
        let account = |x: &str| x.len() == 12 && x.bytes().all(|c| c.is_ascii_digit());
        if accounts && !(account(a) && account(b)) {
            return Err(format!(
                "{what} {m:?}: expected two 12-digit account ids, SRC=DST"
            ));
        }
        if out.insert(a.to_string(), b.to_string()).is_some() {
            return Err(format!("{what}: {a} is mapped twice"));
        }
    }
    Ok(out)
}

/// Create one version from the source version `source_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionStep {
    pub source_version: String,
    pub description: String,
    /// Disable it after creation (it was disabled at the source).
    pub disable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Create {
        steps: Vec<VersionStep>,
        protect: bool,
    },
    Append {
        target_id: String,
        steps: Vec<VersionStep>,
    },
    Skip {
        reason: String,
    },
    Fail {
        reason: String,
    },
}

/// The plan for one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    /// `path/name` at the source.
    pub secret: String,
    pub source_id: String,
    #[serde(flatten)]
    pub action: Action,
    /// What will not carry over (versions over the quota, unreadable versions, dropped key ids…).
    pub notes: Vec<String>,
}

impl PlanItem {
    /// Versions this item would create.
    pub fn creates(&self) -> usize {
        match &self.action {
            Action::Create { steps, .. } | Action::Append { steps, .. } => steps.len(),
            _ => 0,
        }
    }
}

/// A whole plan.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Plan {
    pub target: String,
    pub items: Vec<PlanItem>,
}

/// What applying one item did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub target_id: String,
    pub created_secret: bool,
    /// Source version id → new version id.
    pub versions: Vec<(String, String)>,
    /// Parts of the item that failed although the secret was written (AWS: a replica region);
    /// each makes the restore partial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<ItemFailure>,
    /// What was found after writing (AWS: each replica's status).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The report of a restore or clone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub target: String,
    pub created_secrets: usize,
    pub created_versions: usize,
    pub skipped: Vec<ItemFailure>,
    pub failed: Vec<ItemFailure>,
    pub applied: BTreeMap<String, Applied>,
    pub notes: Vec<String>,
    pub api_calls: u64,
    /// Wall time from the first look at the target to the last write: the recovery time this
    /// restore achieved.
    #[serde(default)]
    pub seconds: f64,
}

/// The one rule every destination applies to a secret that was scheduled for deletion at the
/// source: it is skipped, with this reason. None of its values could be read (neither provider
/// serves a value of a secret being deleted), so re-creating it would make an empty shell of
/// what the source was deleting; whoever wants it back cancels the deletion at the source and
/// backs up again. `None` for any other secret.
pub fn scheduled_for_deletion(s: &crate::Secret) -> Option<String> {
    s.deletion_requested_at.as_ref().map(|at| {
        let at = crate::model::show_time(at);
        format!(
            "scheduled for deletion at the source (since {at}): not re-created, its values could \
             not be read; cancel the deletion there and back up again to restore it"
        )
    })
}

/// The one rule for a secret of the same name that the target is itself deleting (scheduled
/// for deletion, recoverable for some days): it is never touched, and nothing is created beside
/// it (cancelling its deletion later would leave two secrets of one name), whatever the conflict
/// mode. The item fails naming it (`existing`, the target's id) and the way out: `cancel` (the
/// provider's way to cancel the deletion), then restore again with append; or wait until the
/// provider has deleted it for good.
pub fn deleting_at_target(existing: &str, cancel: &str, opts: &RestoreOptions) -> Action {
    Action::Fail {
        reason: format!(
            "scheduled for deletion at the target ({existing}): left as it is; cancel the \
             deletion ({cancel}) and restore again with {}, or wait until it is deleted",
            opts.face.hint(crate::Opt::OnConflict, "append")
        ),
    }
}

/// The rules every destination applies to a secret before it looks at its target, in this
/// order; `Some` is the item's action (nothing of the secret is written), `None` plans on:
/// - managed by another service (`used_by`): skipped, unless the options include managed ones
///   (that service re-creates its own secrets);
/// - scheduled for deletion at the source: skipped (`scheduled_for_deletion`);
/// - a value larger than `target` holds: fails whole, before anything of it is written
///   (`oversized`).
///
/// One place for what used to be written in each destination (where they had already begun to
/// differ); `conformance::rules` runs each rule against every destination.
pub fn ruled_out(
    s: &crate::Secret,
    opts: &RestoreOptions,
    target: &crate::Capabilities,
) -> Option<Action> {
    if !s.used_by.is_empty() && !opts.include_managed {
        let reason = format!(
            "managed by {} (that service creates it; restore it anyway with {})",
            s.used_by.join(", "),
            opts.face.hint(crate::Opt::IncludeManaged, "")
        );
        return Some(Action::Skip { reason });
    }
    if let Some(reason) = scheduled_for_deletion(s) {
        return Some(Action::Skip { reason });
    }
    oversized(s, target.max_value_size, target.title).map(|reason| Action::Fail { reason })
}

/// What a secret the target already holds (`existing`: the target's id of it) comes to under
/// the conflict mode: skipped or failed naming it, or `None` for `append` (the destination then
/// plans the versions it lacks). The target's secret is never overwritten.
pub fn on_conflict(existing: &str, opts: &RestoreOptions) -> Option<Action> {
    match opts.conflict {
        ConflictMode::Skip => Some(Action::Skip {
            reason: format!(
                "already exists at the destination ({existing}); use {} to add missing versions",
                opts.face.hint(crate::Opt::OnConflict, "append")
            ),
        }),
        ConflictMode::Fail => Some(Action::Fail {
            reason: format!("already exists at the destination ({existing})"),
        }),
        ConflictMode::Append => None,
    }
}

/// The reason a secret cannot be restored where each version holds at most `max` bytes, naming
/// the first version that is larger; `None` when every value fits. Destinations check this while
/// planning, so an oversized secret fails whole, before anything of it is written.
pub fn oversized(s: &crate::Secret, max: usize, target: &str) -> Option<String> {
    s.versions.iter().find_map(|v| match v.payload.value_len() {
        Some(len) if len > max as u64 => Some(format!(
            "version {} is {len} bytes; {target} accepts at most {max} bytes per version (nothing \
             of this secret was written)",
            v.id,
        )),
        _ => None,
    })
}
