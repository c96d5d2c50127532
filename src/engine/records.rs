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

/// The version of these records that this code writes (`SnapshotMeta::format`), and the newest
/// it reads. Snapshots from before it was recorded (no `format`) are format 1. Format 2 types
/// what format 1 kept in `extras` (resource policy, replicas, rotation, listing, last full
/// read, binary flag) and writes times as RFC 3339 at the precision they have; reading a
/// format-1 record moves those into the fields (`Secret::upgrade`). A change to what a record
/// means raises it, and keeps reading the older formats (`tests/old_snapshot.rs` restores a
/// snapshot of format 1 made by the release of 2026-12-04).
pub const RECORD_FORMAT: u32 = 2;

/// The header of `snapshot`, refused (naming both versions) when its records are of a format
/// newer than this code reads.
pub async fn header(
    repo: &secretsnap_store::Repository,
    snapshot: &secretsnap_store::Id,
) -> Result<secretsnap_store::SnapshotHeader, super::Error> {
    let header = repo.snapshot(snapshot).await?.header;
    let format = header.meta.format.unwrap_or(1);
    if format > RECORD_FORMAT {
        return Err(super::Error::NewerFormat {
            snapshot: snapshot.short(),
            format,
        });
    }
    Ok(header)
}

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

/// Rebuilds secrets (metadata and version metadata, payloads `Absent`) from a snapshot's
/// entries (in path order), keeping for each version the entry that holds its content; sorted
/// by record prefix.
pub fn secrets_from_entries(entries: Vec<Entry>) -> Result<Vec<StoredSecret>, String> {
    let mut g = Grouper::default();
    let mut out = Vec::new();
    for e in entries {
        out.extend(g.push(e)?);
    }
    out.extend(g.finish()?);
    out.sort_by_cached_key(|(s, _)| secret_prefix(s));
    Ok(out)
}

/// Groups a snapshot's entries, given in path order, into secrets as soon as each is complete,
/// so a snapshot can be read a tree at a time. A secret's records all start with `<prefix>/`,
/// and in path order another secret's records may fall among them (`/a/b`'s `secret.json`
/// sorts after `/a/b/c/…`, its `versions/…` after `/a/b/t/…`): a group is complete once an entry
/// outside `<prefix>/` arrives, so the groups still open are nested prefixes of the current
/// path, never more than its depth.
#[derive(Default)]
pub struct Grouper {
    open: BTreeMap<String, Grouped>,
    last: Option<String>,
}

impl Grouper {
    /// Adds the next entry; returns the secrets it completed (in prefix order).
    pub fn push(&mut self, e: Entry) -> Result<Vec<StoredSecret>, String> {
        if self
            .last
            .as_deref()
            .is_some_and(|last| e.path.as_str() < last)
        {
            return Err(format!("record {} is out of path order", e.path));
        }
        let done: Vec<String> = self
            .open
            .keys()
            .filter(|p| !e.path.starts_with(&format!("{p}/")))
            .cloned()
            .collect();
        let mut out = Vec::with_capacity(done.len());
        for p in done {
            let g = self.open.remove(&p).expect("listed above");
            out.push(assemble(&p, g)?);
        }
        self.last = Some(e.path.clone());
        if let Some(prefix) = e.path.strip_suffix(&format!("/{SECRET_RECORD}")) {
            let mut s: Secret = serde_json::from_slice(&e.meta)
                .map_err(|err| format!("record {}: {err}", e.path))?;
            // Format 1 kept what is now typed in `extras`.
            s.upgrade();
            self.open.entry(prefix.to_string()).or_default().0 = Some(s);
        } else if let Some((prefix, _id)) = e.path.rsplit_once(&format!("/{VERSION_DIR}/")) {
            let mut v: Version = serde_json::from_slice(&e.meta)
                .map_err(|err| format!("record {}: {err}", e.path))?;
            v.upgrade();
            self.open
                .entry(prefix.to_string())
                .or_default()
                .1
                .push((v, e));
        }
        Ok(out)
    }

    /// The secrets still open once every entry is in.
    pub fn finish(self) -> Result<Vec<StoredSecret>, String> {
        self.open
            .into_iter()
            .map(|(p, g)| assemble(&p, g))
            .collect()
    }
}

/// One complete group as a secret with its versions in order (payloads `Absent`).
fn assemble(prefix: &str, (secret, mut versions): Grouped) -> Result<StoredSecret, String> {
    let mut s = secret.ok_or_else(|| format!("versions without a secret record under {prefix}"))?;
    versions.sort_by_key(|(v, _)| (v.id.parse::<u64>().unwrap_or(u64::MAX), v.created_at));
    let mut contents = Vec::new();
    for (mut v, e) in versions {
        v.payload = Payload::Absent;
        contents.push((v.not_read.is_none()).then_some(e));
        s.versions.push(v);
    }
    Ok((s, contents))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, meta: Vec<u8>) -> Entry {
        Entry {
            path: path.into(),
            meta,
            item: None,
            size: 0,
            chunks: Vec::new(),
        }
    }

    fn secret(path: &str, name: &str) -> Secret {
        Secret {
            path: path.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn version(id: &str) -> Version {
        Version {
            id: id.into(),
            ..Default::default()
        }
    }

    /// Records of `/a/b` interleave in path order with those of `/a/b/c` and `/a/b/t`: the
    /// streaming grouper must still give each secret all its versions, once.
    #[test]
    fn interleaved_prefixes_group_whole() {
        let mut entries = Vec::new();
        for (path, name, versions) in [("/a", "b", 2), ("/a/b", "c", 1), ("/a/b", "t", 3)] {
            let s = secret(path, name);
            let prefix = format!("x{}", s.full_name());
            entries.push(entry(&format!("{prefix}/{SECRET_RECORD}"), secret_meta(&s)));
            for i in 1..=versions {
                let v = version(&i.to_string());
                entries.push(entry(
                    &format!("{prefix}/{VERSION_DIR}/{i}"),
                    version_meta(&v),
                ));
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        // The interleaving this test is about really happens.
        let order: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        let b_meta = order
            .iter()
            .position(|p| *p == "x/a/b/secret.json")
            .unwrap();
        let t_meta = order
            .iter()
            .position(|p| *p == "x/a/b/t/secret.json")
            .unwrap();
        let b_version = order.iter().position(|p| *p == "x/a/b/versions/1").unwrap();
        assert!(b_meta < t_meta && t_meta < b_version, "{order:?}");

        let mut g = Grouper::default();
        let mut got = Vec::new();
        for e in entries.clone() {
            got.extend(g.push(e).unwrap());
        }
        assert!(g.open.len() <= 3);
        got.extend(g.finish().unwrap());
        let mut seen: Vec<(String, usize)> =
            got.iter().map(|(s, c)| (s.full_name(), c.len())).collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("/a/b".to_string(), 2),
                ("/a/b/c".to_string(), 1),
                ("/a/b/t".to_string(), 3)
            ]
        );
        // Out of order input is refused, not grouped wrong.
        let mut g = Grouper::default();
        g.push(entries[2].clone()).unwrap();
        assert!(g.push(entries[0].clone()).is_err());
    }
}
