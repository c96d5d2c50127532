//! JSON shapes exactly as the live API sends them: field order, `null` vs `""`, timestamps with
//! six fractional digits and a `Z`. Struct field order *is* the wire order (serde keeps it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// RFC 3339 UTC with exactly 6 fractional digits, e.g. `2026-07-03T15:27:54.719648Z`.
pub fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn ts_opt(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(ts)
}

/// `ephemeral_policy` of a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EphemeralPolicy {
    /// Protobuf duration as echoed by the API: `"1800s"` (null when absent).
    pub time_to_live: Option<String>,
    #[serde(default)]
    pub expires_once_accessed: bool,
    #[serde(default = "unknown_action")]
    pub action: String,
}

/// `ephemeral_properties` of a version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EphemeralProperties {
    pub expires_at: Option<String>,
    #[serde(default)]
    pub expires_once_accessed: bool,
    #[serde(default = "unknown_action")]
    pub action: String,
}

fn unknown_action() -> String {
    "unknown_action".into()
}

#[derive(Serialize)]
pub struct SecretJson<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    pub created_at: String,
    pub updated_at: String,
    pub tags: &'a [String],
    pub version_count: u32,
    pub description: &'a str,
    pub managed: bool,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub protected: bool,
    pub path: &'a str,
    pub ephemeral_policy: &'a Option<EphemeralPolicy>,
    pub used_by: &'a [String],
    pub deletion_requested_at: Option<String>,
    pub key_id: &'a Option<String>,
    pub region: &'a str,
}

#[derive(Serialize)]
pub struct VersionJson<'a> {
    pub revision: u32,
    pub secret_id: &'a str,
    pub status: &'a str,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    pub description: &'a str,
    pub latest: bool,
    pub ephemeral_properties: &'a Option<EphemeralProperties>,
    pub deletion_requested_at: Option<String>,
    pub region: &'a str,
}

#[derive(Serialize)]
pub struct AccessJson<'a> {
    pub secret_id: &'a str,
    pub revision: u32,
    pub data: String,
    pub data_crc32: Option<u32>,
    #[serde(rename = "type")]
    pub kind: &'a str,
}

pub(crate) fn opt_ts(t: &Option<DateTime<Utc>>) -> Option<String> {
    ts_opt(t)
}
