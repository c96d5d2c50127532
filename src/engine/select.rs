//! Choosing snapshots: the filters `snapshots`, `restore`, `forget --policy` and `status` share
//! (SLA environment, data class, tag, job, source; header fields only, contents are not read) and
//! the resolution of a SNAPSHOT argument: a full id, a unique id prefix, or `latest` among the
//! snapshots that pass the filters, optionally before a point in time.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use secretsnap_store::{Id, Repository, SnapshotInfo};

use super::Error;

/// Snapshot filters; an empty filter matches every snapshot.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub environment: Option<String>,
    /// Every one of these data classes.
    pub data_classes: Vec<String>,
    /// Every one of these tags.
    pub tags: Vec<String>,
    pub job: Option<String>,
    /// Source URL, e.g. `scaleway://fr-par/<project>`.
    pub source: Option<String>,
    /// Only snapshots taken strictly before this instant.
    pub before: Option<DateTime<Utc>>,
}

impl SnapshotFilter {
    pub fn matches(&self, s: &SnapshotInfo) -> bool {
        let m = &s.header.meta;
        self.environment
            .as_ref()
            .is_none_or(|e| m.environment.as_ref() == Some(e))
            && self.data_classes.iter().all(|c| m.data_classes.contains(c))
            && self.tags.iter().all(|t| m.tags.contains(t))
            && self.job.as_ref().is_none_or(|j| m.job.as_ref() == Some(j))
            && self
                .source
                .as_ref()
                .is_none_or(|src| m.source.trim_end_matches('/') == src.trim_end_matches('/'))
            && self.before.is_none_or(|t| s.header.time < t)
    }
}

/// Parses a point in time: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` (UTC) or `YYYY-MM-DD` (midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, f) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(format!(
        "cannot read time {text:?}: use RFC 3339 (2026-11-23T10:00:00Z), \"2026-11-23 10:00\" or \
         2026-11-23"
    ))
}

/// Resolves `spec` (`latest`, a full id or a unique prefix). `latest` honours `filter`; an
/// explicit id must still pass it, so a filter is never silently ignored.
pub async fn resolve(
    repo: &Repository,
    spec: &str,
    filter: &SnapshotFilter,
) -> Result<SnapshotInfo, Error> {
    if spec == "latest" {
        let list = repo.snapshots().await?;
        return list
            .snapshots
            .into_iter()
            .filter(|s| filter.matches(s))
            .max_by_key(|s| s.header.time)
            .ok_or_else(|| Error::Selection("no snapshot matches the filters".into()));
    }
    let id: Id = repo.resolve_snapshot(spec).await?;
    let info = repo.snapshot(&id).await?;
    if !filter.matches(&info) {
        return Err(Error::Selection(format!(
            "snapshot {} does not match the filters given",
            id.short()
        )));
    }
    Ok(info)
}
