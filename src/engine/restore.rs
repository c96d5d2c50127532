//! Restore: rebuild secrets from a snapshot's records, load their values from the store, and run
//! them through a destination's plan and apply (the same loop `clone` and the conformance suite
//! use). `dry_run` plans only.

use secretsnap_core::{Destination, Payload, Plan, Report, RestoreOptions, Secret};
use secretsnap_store::{Id, Repository};

use super::records::secrets_from_entries;
use super::{Error, Progress};
use secretsnap_core::restore::restore_each;

/// Secrets of a snapshot with their values (those that were read) loaded from the store.
pub async fn load_secrets(
    repo: &Repository,
    snapshot: &Id,
    keep: impl Fn(&Secret) -> bool,
) -> Result<Vec<Secret>, Error> {
    let header = repo.snapshot(snapshot).await?.header;
    let entries = repo.entries(&header).await?;
    let mut out = Vec::new();
    for (mut s, contents) in secrets_from_entries(&entries).map_err(Error::Snapshot)? {
        if !keep(&s) {
            continue;
        }
        for (v, e) in s.versions.iter_mut().zip(contents) {
            if let Some(e) = e {
                v.payload = match repo.read_content(&e).await {
                    Ok(bytes) => Payload::Bytes(bytes),
                    Err(err) => Payload::Failed(format!("reading the snapshot: {err}")),
                };
            }
        }
        out.push(s);
    }
    Ok(out)
}

/// Restores a snapshot into `dest`.
pub async fn restore_snapshot(
    repo: &Repository,
    snapshot: &Id,
    dest: &dyn Destination,
    opts: &RestoreOptions,
    dry_run: bool,
    keep: impl Fn(&Secret) -> bool,
    progress: &dyn Progress,
) -> Result<(Plan, Report), Error> {
    let secrets = load_secrets(repo, snapshot, keep).await?;
    Ok(apply(dest, &secrets, opts, dry_run, progress).await)
}

/// Plans (and unless `dry_run`, applies) `secrets` at `dest`: the loop restore and clone share.
pub async fn apply(
    dest: &dyn Destination,
    secrets: &[Secret],
    opts: &RestoreOptions,
    dry_run: bool,
    progress: &dyn Progress,
) -> (Plan, Report) {
    progress.start(if dry_run { "plan" } else { "restore" }, secrets.len());
    let done = |name: &str| progress.advance(name);
    let out = restore_each(dest, secrets, opts, dry_run, &done).await;
    progress.finish();
    out
}
