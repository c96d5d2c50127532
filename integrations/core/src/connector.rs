//! The two traits a connector implements. A `Source` lists secrets cheaply (metadata only) and
//! then fetches each one with its versions and values, skipping values the repository already
//! holds; the engine drives `fetch` with bounded concurrency, so memory stays bounded by the
//! concurrency, not the project size. A `Destination` plans one secret at a time from the
//! destination's current state (so planning twice is idempotent) and applies that plan.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ItemFailure, Result};
use crate::model::{Location, Secret, Version};
use crate::plan::{Applied, PlanItem, RestoreOptions};

/// What to back up and which reads with side effects are allowed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Filter {
    /// Only secrets whose path starts with this folder.
    pub path_prefix: Option<String>,
    /// Shell-style glob on the name (`*`, `?`).
    pub name_glob: Option<String>,
    /// Only secrets carrying any of these tags.
    pub tags: Vec<String>,
    /// Only these types.
    pub kinds: Vec<String>,
    /// Opt-in: read disabled versions by enabling, reading and disabling them again. This WRITES
    /// to the source (and changes `updated_at`); plans say so.
    pub read_disabled: bool,
    /// Opt-in: read versions that expire once accessed (reading destroys them at the source).
    pub read_once: bool,
    /// Who runs the backup, so hints name options that exist there.
    #[serde(skip)]
    pub face: crate::Face,
}

impl Filter {
    pub fn matches(&self, s: &Secret) -> bool {
        self.path_prefix.as_ref().is_none_or(|p| {
            let p = p.trim_end_matches('/');
            p.is_empty() || s.path == p || s.path.starts_with(&format!("{p}/"))
        }) && self.name_glob.as_ref().is_none_or(|g| glob(g, &s.name))
            && (self.tags.is_empty() || self.tags.iter().any(|t| s.tags.contains(t)))
            && (self.kinds.is_empty() || self.kinds.contains(&s.kind))
    }
}

/// Minimal glob: `*` any run, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    go(&p, &t)
}

/// "Does the repository already hold this version?" (incremental backups). The answer is the
/// version as the repository recorded it (payload `Absent`), so a source that does not read the
/// value again still carries what reading it once taught (`Version::carry_learned`).
pub trait Known: Send + Sync {
    fn known(&self, item_key: &str) -> Option<Version>;
    /// Whether the repository holds `v` (its key `item_key`); if so, marks it `Known` and copies
    /// what its first read taught (`Version::carry_learned`), so the source reads it no more.
    fn reuse(&self, item_key: &str, v: &mut Version) -> bool {
        match self.known(item_key) {
            Some(recorded) => {
                v.carry_learned(&recorded);
                v.payload = crate::model::Payload::Known;
                true
            }
            None => false,
        }
    }
    /// The secret `id` as the parent snapshot recorded it (payload `Known` where the value is
    /// held, `NotRead` where it is not), offered to a source that `lists_changes` so it can carry
    /// a secret its listing shows unchanged (`unchanged::carry`); `None` asks for a full read.
    fn secret(&self, _id: &str) -> Option<Secret> {
        None
    }
}

/// A full read: nothing is known (clone, the Plakar importer, the conformance suite).
pub struct NothingKnown;

impl Known for NothingKnown {
    fn known(&self, _item_key: &str) -> Option<Version> {
        None
    }
}

impl<F: Fn(&str) -> Option<Version> + Send + Sync> Known for F {
    fn known(&self, item_key: &str) -> Option<Version> {
        self(item_key)
    }
}

/// A listing arriving page by page (`Source::list_pages`).
pub type ListPages<'a> = futures::stream::BoxStream<'a, Result<Vec<Secret>>>;

/// Reads secrets from a provider. Never writes unless `Filter::read_disabled` says so.
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    fn location(&self) -> Location;
    /// Every matching secret, metadata only (`versions` empty).
    async fn list(&self, filter: &Filter) -> Result<Vec<Secret>>;
    /// The same listing as it arrives, a page at a time, so a backup fetches while it lists and
    /// never holds a whole project's metadata. Each secret comes once. A listing that fails part
    /// way ends with the error: what came before it is not the whole. The default lists in one
    /// go.
    fn list_pages<'a>(&'a self, filter: &'a Filter) -> ListPages<'a> {
        Box::pin(futures::stream::once(self.list(filter)))
    }
    /// One secret with all its versions; values read unless known, disabled or read-once.
    async fn fetch(
        &self,
        secret: Secret,
        filter: &Filter,
        known: &dyn Known,
    ) -> Result<Secret, ItemFailure>;
    /// API calls made so far.
    fn calls(&self) -> u64;
    /// Whether `list` shows every change a full read would (AWS ListSecrets), so an unchanged
    /// secret can be carried from the parent snapshot (`Known::secret`) without another call.
    fn lists_changes(&self) -> bool {
        false
    }
}

/// Re-creates secrets at a provider location.
#[async_trait::async_trait]
pub trait Destination: Send + Sync {
    fn location(&self) -> Location;
    /// What this destination can hold (limits and features), as data.
    fn capabilities(&self) -> crate::Capabilities;
    /// Called once before planning `count` secrets: a destination may list what it holds in one
    /// pass (when that costs fewer calls than a lookup per secret) and plan from that listing.
    /// Creating a secret that appeared since is still refused by the provider, never
    /// overwritten. An error only means each plan looks its secret up on its own.
    async fn survey(&self, _count: usize, _opts: &RestoreOptions) -> Result<()> {
        Ok(())
    }
    /// What restoring `secret` would do, from the destination's current state. Reads only.
    async fn plan(&self, secret: &Secret, opts: &RestoreOptions) -> Result<PlanItem, ItemFailure>;
    /// Carries out one planned item; `secret` supplies the values.
    async fn apply(
        &self,
        item: &PlanItem,
        secret: &Secret,
        opts: &RestoreOptions,
    ) -> Result<Applied, ItemFailure>;
    /// Deletes the secret `target_id` this destination created, at once and for good where the
    /// provider allows (unprotecting it first): what a restore drill calls on its own scratch
    /// secrets and never on anything else. Connectors that cannot delete say so.
    async fn remove(&self, target_id: &str) -> Result<(), Error> {
        Err(Error::Config(format!(
            "{} cannot delete {target_id}: deleting is not supported here",
            self.location().url()
        )))
    }
    fn calls(&self) -> u64;
}
