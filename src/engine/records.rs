//! How a secret becomes store records, and back. One record per secret,
//! `<location>/<path>/<name>/secret.json` (metadata only, no content), and one per version,
//! `<location>/<path>/<name>/versions/<id>` (the version's metadata JSON, content = the value, or
//! empty with the reason it was not read). Paths keep the location so one repository can hold
//! several sources. Everything here is encrypted by the store.

use std::collections::BTreeMap;

use secretsnap_core::{Payload, Secret, Version};
use secretsnap_store::Entry;

pub const SECRET_RECORD: &str = "secret.json";
pub const VERSION_DIR: &str = "versions";

/// Record path prefix of a secret: `scaleway/fr-par/<project>/<path>/<name>`.
pub fn secret_prefix(s: &Secret) -> String {
    let loc = s
        .location
        .as_ref()
        .map(|l| format!("{}/{}/{}", l.provider, l.region, l.scope))
        .unwrap_or_default();
    format!("{loc}{}", s.full_name())
}

/// The secret's metadata record (versions are separate records).
pub fn secret_meta(s: &Secret) -> Vec<u8> {
    let mut bare = s.clone();
    bare.versions.clear();
    serde_json::to_vec(&bare).expect("secret metadata serializes")
}

pub fn version_meta(v: &Version) -> Vec<u8> {
    serde_json::to_vec(v).expect("version metadata serializes")
}

/// A secret rebuilt from records, with, per version, the entry holding its value (if one was read).
pub type StoredSecret = (Secret, Vec<Option<Entry>>);

/// Records of one secret while grouping: its metadata record and its version records.
type Grouped = (Option<Secret>, Vec<(Version, Entry)>);

/// Rebuilds secrets (metadata and version metadata, payloads `Absent`) from snapshot entries,
/// keeping for each version the entry that holds its content.
pub fn secrets_from_entries(entries: &[Entry]) -> Result<Vec<StoredSecret>, String> {
    let mut by_prefix: BTreeMap<String, Grouped> = BTreeMap::new();
    for e in entries {
        if let Some(prefix) = e.path.strip_suffix(&format!("/{SECRET_RECORD}")) {
            let s: Secret = serde_json::from_slice(&e.meta)
                .map_err(|err| format!("record {}: {err}", e.path))?;
            by_prefix.entry(prefix.to_string()).or_default().0 = Some(s);
        } else if let Some((prefix, _id)) = e.path.rsplit_once(&format!("/{VERSION_DIR}/")) {
            let v: Version = serde_json::from_slice(&e.meta)
                .map_err(|err| format!("record {}: {err}", e.path))?;
            by_prefix
                .entry(prefix.to_string())
                .or_default()
                .1
                .push((v, e.clone()));
        }
    }
    let mut out = Vec::new();
    for (prefix, (secret, mut versions)) in by_prefix {
        let mut s =
            secret.ok_or_else(|| format!("versions without a secret record under {prefix}"))?;
        versions.sort_by_key(|(v, _)| {
            (
                v.id.parse::<u64>().unwrap_or(u64::MAX),
                v.created_at.clone(),
            )
        });
        let mut contents = Vec::new();
        for (mut v, e) in versions {
            v.payload = Payload::Absent;
            contents.push((v.not_read.is_none()).then_some(e));
            s.versions.push(v);
        }
        out.push((s, contents));
    }
    Ok(out)
}
