//! Backup: list the source, fetch secrets with bounded concurrency (values the repository
//! already holds are not read again), write one record per secret and per version, and commit
//! one snapshot tagged with its SLA environment, data classes, tags and job. Failed items are
//! named in the snapshot, which is then marked partial; what was read is still committed.

use futures::StreamExt;
use secretsnap_core::fetch::fetch_each;
use secretsnap_core::{Filter, ItemFailure, Payload, Source, Version};
use secretsnap_store::{Failure, Id, Repository, SnapshotMeta, SnapshotWriter};
use serde::Serialize;

use super::records::{secret_meta, secret_prefix, version_meta, SECRET_RECORD, VERSION_DIR};
use super::{Error, Progress};

/// Backup options.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    pub filter: Filter,
    pub environment: Option<String>,
    pub data_classes: Vec<String>,
    pub tags: Vec<String>,
    pub job: Option<String>,
    /// Secrets fetched at once (each still goes through the client's rate limiter).
    pub concurrency: usize,
}

impl BackupOptions {
    /// Concurrency used when none is set.
    pub const DEFAULT_CONCURRENCY: usize = 8;
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
    let listed = source.list(&opts.filter).await?;
    progress.start("backup", listed.len());
    // The version as recorded when its value was first read (what that read learned travels on).
    let known = |k: &str| {
        let item = repo.known_item(k).ok().flatten()?;
        Some(serde_json::from_slice::<Version>(&item.meta).unwrap_or_default())
    };
    let filter = &opts.filter;
    let mut fetched = fetch_each(source, listed, filter, &known, opts.concurrency, |_| ());
    while let Some((_, result)) = fetched.next().await {
        let secret = match result {
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
                        w.add_known(&path, &version_meta(v), Some(&item), &k);
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
