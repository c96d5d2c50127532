//! What a destination can hold, declared as data by each connector. Planning, verification and
//! the cross-provider notes read these numbers and flags instead of matching provider names, so
//! a new provider states its limits once, where its destination is written.

use serde::Serialize;

/// The limits and features of one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The provider's name in location URLs (`scaleway`, `aws`).
    pub provider: &'static str,
    /// The provider's name in notes (`Scaleway`, `AWS Secrets Manager`).
    pub title: &'static str,
    /// The secret types it holds (Scaleway: `opaque`, `key_value`, …; AWS: `string`, `binary`,
    /// told from the value); a secret of another type is adapted before planning.
    pub secret_types: &'static [&'static str],
    /// Versions one secret keeps (Scaleway: 20); `None` when no quota applies to a restore.
    pub max_versions: Option<usize>,
    /// Largest value of one version, in bytes.
    pub max_value_size: usize,
    /// Staging labels on versions (AWS).
    pub labels: bool,
    /// A delete-protection flag on secrets (Scaleway).
    pub protection: bool,
    /// Values are told apart as binary or text (AWS SecretBinary / SecretString).
    pub binary: bool,
    /// Resource policies on secrets (AWS).
    pub policies: bool,
    /// Replication of a secret to other regions (AWS).
    pub replication: bool,
    /// A description per version (Scaleway).
    pub version_descriptions: bool,
    /// Versions that can be disabled and enabled again (Scaleway).
    pub disabled_versions: bool,
    /// Rotation settings (AWS: a rotation Lambda and schedule).
    pub rotation: bool,
    /// Secrets or versions that expire (Scaleway ephemeral policies).
    pub expiry: bool,
    /// The label that marks a secret's current version, where versions carry labels (AWS:
    /// `AWSCURRENT`): a restore from this provider into one without labels makes that version
    /// the newest, and one into this provider puts it on the newest enabled version.
    pub current_label: Option<&'static str>,
    /// The one of `secret_types` whose values are JSON objects of scalars (Scaleway:
    /// `key_value`): a secret of a type this provider lacks becomes it when all its values are.
    pub structured_type: Option<&'static str>,
}
