//! Clone: a source straight into a destination (another project, region or provider) with no
//! repository in between, through the same plan/apply loop and conflict modes as restore. Values
//! live only in memory, zeroized when dropped.

use futures::StreamExt;
use secretsnap_core::fetch::fetch_each;
use secretsnap_core::{
    Destination, Filter, ItemFailure, NothingKnown, Plan, Report, RestoreOptions, Source,
};
use serde::Serialize;

use super::restore::apply;
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

/// Reads every matching secret of `source` and restores it into `dest`.
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
    progress.start("read", listed.len());
    let mut fetched = fetch_each(source, listed, filter, &NothingKnown, concurrency, |_| ());
    let mut secrets = Vec::new();
    let mut read_failed = Vec::new();
    while let Some((_, r)) = fetched.next().await {
        match r {
            Ok(s) => {
                progress.advance(&s.full_name());
                secrets.push(s);
            }
            Err(f) => {
                progress.advance(&f.item);
                read_failed.push(f);
            }
        }
    }
    drop(fetched);
    progress.finish();
    secrets.sort_by_key(|s| s.full_name());
    let (plan, report) = apply(dest, &secrets, opts, dry_run, progress).await;
    Ok(CloneReport {
        source: source.location().url(),
        secrets_read: secrets.len(),
        read_failed,
        source_api_calls: source.calls(),
        plan,
        report,
    })
}
