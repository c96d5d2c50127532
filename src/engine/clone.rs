//! Clone: a source straight into a destination (another project, region or provider) with no
//! repository in between, through the same plan/apply loop and conflict modes as restore, fed as
//! the source is read. Values live only in memory, zeroized when dropped.

use futures::StreamExt;
use secretsnap_core::fetch::fetch_each;
use secretsnap_core::restore::restore_stream;
use secretsnap_core::{
    Destination, Filter, ItemFailure, NothingKnown, Plan, Report, RestoreOptions, Source,
};
use serde::Serialize;

use super::{Error, Progress};

/// What a clone did.
#[derive(Debug, Serialize)]
pub struct CloneReport {
    pub source: String,
    pub secrets_read: usize,
    /// Secrets that could not be read (not restored either).
    pub read_failed: Vec<ItemFailure>,
    pub source_api_calls: u64,
    pub plan: Plan,
    pub report: Report,
}

/// Reads every matching secret of `source` and restores it into `dest`, streaming: each secret
/// is planned and written as soon as it is read, so reading the source and writing the
/// destination overlap (a clone takes about the longer of the two, not their sum), and memory
/// holds the secrets in flight, not the project. The plan and report come out in `path/name`
/// order whatever order the reads finished in.
pub async fn clone(
    source: &dyn Source,
    dest: &dyn Destination,
    filter: &Filter,
    opts: &RestoreOptions,
    dry_run: bool,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<CloneReport, Error> {
    let listed = source.list(filter).await?;
    let expected = listed.len();
    progress.start(if dry_run { "plan" } else { "clone" }, expected);
    let mut read_failed = Vec::new();
    let mut read = 0;
    let secrets = fetch_each(source, listed, filter, &NothingKnown, concurrency, |_| ())
        .filter_map(|(_, r)| {
            futures::future::ready(match r {
                Ok(s) => {
                    read += 1;
                    Some(Ok(s))
                }
                Err(f) => {
                    progress.advance(&f.item);
                    read_failed.push(f);
                    None
                }
            })
        });
    let done = |name: &str| progress.advance(name);
    let (mut plan, mut report) = restore_stream(
        dest,
        secrets,
        expected,
        &super::knowing_origins(opts),
        dry_run,
        &done,
    )
    .await;
    progress.finish();
    plan.items.sort_by(|a, b| a.secret.cmp(&b.secret));
    report.skipped.sort_by(|a, b| a.item.cmp(&b.item));
    report.failed.sort_by(|a, b| a.item.cmp(&b.item));
    report
        .notes
        .sort_by(|a, b| note_secret(a).cmp(note_secret(b)));
    read_failed.sort_by(|a, b| a.item.cmp(&b.item));
    Ok(CloneReport {
        source: source.location().url(),
        secrets_read: read,
        read_failed,
        source_api_calls: source.calls(),
        plan,
        report,
    })
}

/// The secret a report note is about (`/path/name: note`).
fn note_secret(note: &str) -> &str {
    note.split_once(": ").map_or(note, |(secret, _)| secret)
}
