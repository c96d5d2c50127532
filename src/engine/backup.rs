//! Backup: list the source page by page and fetch secrets with bounded concurrency as they are
//! listed (values the repository already holds are not read again), write one record per secret
//! and per version, and commit one snapshot tagged with its SLA environment, data classes, tags
//! and job. Failed items are named in the snapshot, which is then marked partial; what was read
//! is still committed. Memory holds a page and the fetches in flight; the store spills entries
//! past its budget, so a project's size does not set the backup's memory.

use std::collections::HashMap;

use futures::StreamExt;
use secretsnap_core::fetch::fetch_listed;
use secretsnap_core::unchanged;
use secretsnap_core::{Filter, ItemFailure, Known, Payload, Secret, Source, Version};
use secretsnap_store::{Failure, Id, Repository, SnapshotMeta, SnapshotWriter};
use serde::Serialize;

use super::records::{
    secret_meta, secret_prefix, secrets_from_entries, version_meta, SECRET_RECORD, VERSION_DIR,
};
use super::{Error, Progress};

/// Backup options.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    pub filter: Filter,
    pub environment: Option<String>,
    pub data_classes: Vec<String>,
    pub tags: Vec<String>,
    pub job: Option<String>,
    /// Secrets fetched at once (each still goes through the client's rate limiter).
    pub concurrency: usize,
    /// Read every secret in full, even where the source's listing shows it unchanged.
    pub full_scan: bool,
    /// A secret carried by list-only runs is read in full again once its last full read is
    /// this old (what a listing cannot show, e.g. an AWS resource policy, is this stale at most).
    pub full_scan_every: std::time::Duration,
}

impl BackupOptions {
    /// Concurrency used when none is set.
    pub const DEFAULT_CONCURRENCY: usize = 8;
    /// Full-read period of list-only incremental runs when none is set.
    pub const FULL_SCAN_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            filter: Filter::default(),
            environment: None,
            data_classes: Vec::new(),
            tags: Vec::new(),
            job: None,
            concurrency: Self::DEFAULT_CONCURRENCY,
            full_scan: false,
            full_scan_every: Self::FULL_SCAN_EVERY,
        }
    }
}

/// What the repository holds, as a source asks it: values by item key (from the index) and, for
/// a source that `lists_changes`, the parent snapshot's secrets by id.
struct Held<'a> {
    repo: &'a Repository,
    parent: HashMap<String, Secret>,
}

impl Known for Held<'_> {
    fn known(&self, k: &str) -> Option<Version> {
        // The version as recorded when its value was first read (what that read learned travels
        // on).
        let item = self.repo.known_item(k).ok().flatten()?;
        let mut v = serde_json::from_slice::<Version>(&item.meta).unwrap_or_default();
        v.upgrade();
        Some(v)
    }

    fn secret(&self, id: &str) -> Option<Secret> {
        self.parent.get(id).cloned()
    }
}

/// The parent snapshot's secrets a list-only run may carry: those read in full within
/// `full_scan_every`, with payload `Known` where the value is held; none from a partial parent.
async fn carryable(
    repo: &Repository,
    parent: &Id,
    full_scan_every: std::time::Duration,
) -> Result<HashMap<String, Secret>, Error> {
    let header = super::records::header(repo, parent).await?;
    // A partial parent named failures (a value that could not be read or stored): read it all.
    if header.partial {
        return Ok(HashMap::new());
    }
    let entries = repo.entries(&header).await?;
    let oldest = chrono::Duration::from_std(full_scan_every)
        .ok()
        .and_then(|d| chrono::Utc::now().checked_sub_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let mut out = HashMap::new();
    for (mut s, contents) in secrets_from_entries(entries).map_err(Error::Snapshot)? {
        if unchanged::scanned_at(&s).is_none_or(|t| t < oldest) {
            continue;
        }
        for (v, held) in s.versions.iter_mut().zip(contents) {
            v.payload = match (held, &v.not_read) {
                (Some(_), _) => Payload::Known,
                (None, Some(why)) => Payload::NotRead(why.clone()),
                (None, None) => Payload::Absent,
            };
        }
        out.insert(s.id.clone(), s);
    }
    Ok(out)
}

/// What a backup did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupReport {
    pub snapshot: Option<Id>,
    pub source: String,
    pub secrets: usize,
    pub versions: usize,
    pub values_read: usize,
    pub values_reused: usize,
    pub values_not_read: usize,
    pub failed: Vec<ItemFailure>,
    pub api_calls: u64,
    pub new_bytes: u64,
    pub uploaded_bytes: u64,
    pub parent: Option<Id>,
}

/// Backs `source` up into `repo` as one snapshot.
pub async fn backup(
    repo: &Repository,
    source: &dyn Source,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport, Error> {
    // The shared lock first: every "already stored" decision below (snapshots, index, cache) is
    // made under it, so a prune cannot delete what this backup reuses.
    let mut w = repo.writer().await?;
    let (mut report, meta) = match fill(repo, &mut w, source, opts, progress).await {
        Ok(done) => done,
        Err(e) => {
            // Release the lock now rather than leave it for others to wait out.
            let _ = w.abort().await;
            return Err(e);
        }
    };
    let (id, header) = w.commit(meta).await?;
    report.snapshot = Some(id);
    report.new_bytes = header.stats.new_bytes;
    report.uploaded_bytes = header.stats.uploaded_bytes;
    Ok(report)
}

/// Lists and fetches the source into `w`; returns the report so far and the snapshot's meta.
async fn fill(
    repo: &Repository,
    w: &mut SnapshotWriter<'_>,
    source: &dyn Source,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<(BackupReport, SnapshotMeta), Error> {
    let url = source.location().url();
    let snapshots = repo.prepare_incremental().await?;
    let parent = snapshots
        .snapshots
        .iter()
        .rev()
        .find(|s| s.header.meta.source == url)
        .map(|s| s.id);
    let calls_before = source.calls();
    let mut report = BackupReport {
        source: url.clone(),
        parent,
        ..Default::default()
    };
    progress.start("backup", 0);
    let parent_secrets = match parent {
        Some(p) if source.lists_changes() && !opts.full_scan => {
            carryable(repo, &p, opts.full_scan_every).await?
        }
        _ => HashMap::new(),
    };
    let known = Held {
        repo,
        parent: parent_secrets,
    };
    let filter = &opts.filter;
    // Fetched while the listing still arrives: memory holds a page, not the project. A listing
    // that fails part way fails the backup (a snapshot of part of a project must not pass for
    // the whole).
    let pages = source.list_pages(filter);
    let mut fetched = fetch_listed(source, pages, filter, &known, opts.concurrency, |n| {
        progress.more(n)
    });
    while let Some(result) = fetched.next().await {
        let secret = match result? {
            Ok(s) => s,
            Err(f) => {
                progress.advance(&f.item);
                report.failed.push(f);
                continue;
            }
        };
        report.secrets += 1;
        progress.advance(&secret.full_name());
        let prefix = secret_prefix(&secret);
        w.add(
            &format!("{prefix}/{SECRET_RECORD}"),
            &secret_meta(&secret),
            None,
            &[],
        )
        .await?;
        for v in &secret.versions {
            report.versions += 1;
            let path = format!("{prefix}/{VERSION_DIR}/{}", v.id);
            let item = secret.item_key(v);
            match &v.payload {
                Payload::Bytes(b) => {
                    report.values_read += 1;
                    w.add(&path, &version_meta(v), Some(&item), b).await?;
                }
                Payload::Known => match repo.known_item(&item)? {
                    Some(k) => {
                        report.values_reused += 1;
                        w.add_known(&path, &version_meta(v), Some(&item), &k)?;
                    }
                    None => report.failed.push(ItemFailure {
                        item: path.clone(),
                        reason: "value vanished from the repository during the backup".into(),
                    }),
                },
                Payload::Failed(why) => {
                    report.failed.push(ItemFailure {
                        item: format!("{} version {}", secret.full_name(), v.id),
                        reason: why.clone(),
                    });
                    w.add(&path, &version_meta(v), None, &[]).await?;
                }
                // Sources never hand out a value they did not load; recorded as a failure
                // (the version is named, the run partial) rather than as a value.
                Payload::Stored(_) => {
                    report.failed.push(ItemFailure {
                        item: format!("{} version {}", secret.full_name(), v.id),
                        reason: "the source did not load this value".into(),
                    });
                    w.add(&path, &version_meta(v), None, &[]).await?;
                }
                Payload::NotRead(_) | Payload::Absent => {
                    report.values_not_read += 1;
                    w.add(&path, &version_meta(v), None, &[]).await?;
                }
            }
        }
    }
    drop(fetched);
    progress.finish();
    report.api_calls = source.calls() - calls_before;
    let meta = SnapshotMeta {
        format: Some(super::records::RECORD_FORMAT),
        source: url,
        environment: opts.environment.clone(),
        data_classes: opts.data_classes.clone(),
        tags: opts.tags.clone(),
        job: opts.job.clone(),
        failures: report
            .failed
            .iter()
            .map(|f| Failure {
                item: f.item.clone(),
                reason: f.reason.clone(),
            })
            .collect(),
        parent,
    };
    Ok((report, meta))
}
