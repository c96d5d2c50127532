//! Restore: rebuild secrets from a snapshot's records, load their values from the store, and run
//! them through a destination's plan and apply (the same loop `clone` and the conformance suite
//! use). A restore streams: the snapshot is read a tree at a time, values are read a few secrets
//! ahead, many at once, while the destination writes the secrets before them, so a restore from
//! a slow repository (object storage far away) still runs at the destination's pace, and its
//! memory holds the values in flight, not the snapshot's. `dry_run` plans from sizes and reads
//! no value.

use futures::stream::{self, StreamExt};
use secretsnap_core::restore::{restore_each, restore_stream};
use secretsnap_core::{Destination, ItemFailure, Payload, Plan, Report, RestoreOptions, Secret};
use secretsnap_store::{Entry, Id, Repository, SnapshotHeader};

use super::records::{secrets_from_entries, Grouper, StoredSecret};
use super::{Error, Progress};

/// Secrets whose values are read ahead of the destination, each secret's versions at once. At
/// 25 ms per object request this reads about a thousand values a second, twenty times what the
/// fastest destination takes.
pub const SECRETS_READ_AHEAD: usize = 32;

/// Trees read at once.
const TREES_AHEAD: usize = 2;

/// Plaintext entries of the snapshot kept from the first pass for the second (above it, the
/// second pass reads the trees again), so a restore's memory does not grow with the snapshot.
const HELD_ENTRIES_BUDGET: usize = 32 << 20;

/// Secrets of a snapshot with their values (those that were read) loaded from the store.
pub async fn load_secrets(
    repo: &Repository,
    snapshot: &Id,
    keep: impl Fn(&Secret) -> bool,
) -> Result<Vec<Secret>, Error> {
    let header = super::records::header(repo, snapshot).await?;
    let mut stored = secrets_from_entries(repo.entries(&header).await?).map_err(Error::Snapshot)?;
    stored.retain(|(s, _)| keep(s));
    Ok(stream::iter(stored)
        .map(|s| with_values(repo, s, false))
        .buffered(SECRETS_READ_AHEAD)
        .collect()
        .await)
}

/// A stored secret with its values read (all its versions at once), or with their sizes only
/// (`dry_run`). A value that cannot be read fails that version, not the restore.
async fn with_values(repo: &Repository, (mut s, contents): StoredSecret, dry_run: bool) -> Secret {
    let reads = s
        .versions
        .iter_mut()
        .zip(contents)
        .map(|(v, e)| async move {
            let Some(e) = e else { return };
            v.payload = if dry_run {
                Payload::Stored(e.size)
            } else {
                match repo.read_content(&e).await {
                    Ok(bytes) => Payload::Bytes(bytes),
                    Err(err) => Payload::Failed(format!("reading the snapshot: {err}")),
                }
            };
        });
    futures::future::join_all(reads).await;
    s
}

/// A tree for the second pass: its entries, kept from the first, or its id to read again.
enum Tree {
    Held(Vec<Entry>),
    Again(Id),
}

/// The first pass: every tree read and grouped, no value touched. A damaged tree or record
/// fails the restore here, before anything is written; the count of secrets kept tells the
/// destination's survey and the progress bar what comes.
async fn first_pass(
    repo: &Repository,
    header: &SnapshotHeader,
    keep: &(dyn Fn(&Secret) -> bool + Send + Sync),
) -> Result<(usize, Vec<Tree>), Error> {
    let mut trees = stream::iter(&header.trees)
        .map(|t| async move { (*t, repo.tree(t).await) })
        .buffered(TREES_AHEAD);
    let mut g = Grouper::default();
    let (mut count, mut held, mut out) = (0, 0usize, Vec::new());
    while let Some((id, entries)) = trees.next().await {
        let entries = entries?;
        for e in &entries {
            for (s, _) in g.push(e.clone()).map_err(Error::Snapshot)? {
                count += keep(&s) as usize;
            }
        }
        held += entries
            .iter()
            .map(|e| e.path.len() + e.meta.len() + 32 * e.chunks.len())
            .sum::<usize>();
        out.push(if held <= HELD_ENTRIES_BUDGET {
            Tree::Held(entries)
        } else {
            Tree::Again(id)
        });
    }
    for (s, _) in g.finish().map_err(Error::Snapshot)? {
        count += keep(&s) as usize;
    }
    Ok((count, out))
}

/// The second pass: the snapshot's secrets in path order as a stream, trees read a little
/// ahead. A tree that cannot be read now (it could a moment ago) fails as one item and ends
/// the stream: what it held is not restored, and the report says so.
fn stored_secrets<'a>(
    repo: &'a Repository,
    trees: Vec<Tree>,
) -> impl futures::Stream<Item = Result<StoredSecret, ItemFailure>> + Send + 'a {
    let entries = stream::iter(trees)
        .map(move |t| async move {
            match t {
                Tree::Held(entries) => Ok(entries),
                Tree::Again(id) => repo.tree(&id).await.map_err(|e| ItemFailure {
                    item: format!("snapshot tree {}", id.short()),
                    reason: format!("reading the snapshot: {e}"),
                }),
            }
        })
        .buffered(TREES_AHEAD)
        .map(Some)
        .chain(stream::once(async { None }));
    entries
        .scan(Some(Grouper::default()), |grouper, tree| {
            let out: Vec<Result<StoredSecret, ItemFailure>> = match (grouper.as_mut(), tree) {
                (None, _) => return futures::future::ready(None),
                (Some(g), Some(Ok(entries))) => {
                    let mut out = Vec::new();
                    for e in entries {
                        match g.push(e) {
                            Ok(done) => out.extend(done.into_iter().map(Ok)),
                            Err(reason) => {
                                out.push(Err(unreadable(reason)));
                                *grouper = None;
                                break;
                            }
                        }
                    }
                    out
                }
                (Some(_), Some(Err(f))) => {
                    *grouper = None;
                    vec![Err(f)]
                }
                (Some(_), None) => match grouper.take().expect("open").finish() {
                    Ok(done) => done.into_iter().map(Ok).collect(),
                    Err(reason) => vec![Err(unreadable(reason))],
                },
            };
            futures::future::ready(Some(stream::iter(out)))
        })
        .flatten()
}

fn unreadable(reason: String) -> ItemFailure {
    ItemFailure {
        item: "snapshot records".into(),
        reason,
    }
}

/// Restores a snapshot into `dest`, streaming (see the module's doc).
pub async fn restore_snapshot(
    repo: &Repository,
    snapshot: &Id,
    dest: &dyn Destination,
    opts: &RestoreOptions,
    dry_run: bool,
    keep: impl Fn(&Secret) -> bool + Send + Sync,
    progress: &dyn Progress,
) -> Result<(Plan, Report), Error> {
    let header = super::records::header(repo, snapshot).await?;
    let (count, trees) = first_pass(repo, &header, &keep).await?;
    progress.start(if dry_run { "plan" } else { "restore" }, count);
    let keep = &keep;
    let secrets = stored_secrets(repo, trees)
        .filter(move |r| futures::future::ready(r.as_ref().map_or(true, |(s, _)| keep(s))))
        .map(move |r| async move {
            match r {
                Ok(stored) => Ok(with_values(repo, stored, dry_run).await),
                Err(f) => Err(f),
            }
        })
        .buffered(SECRETS_READ_AHEAD);
    let done = |name: &str| progress.advance(name);
    let opts = super::knowing_origins(opts);
    let out = restore_stream(dest, secrets, count, &opts, dry_run, &done).await;
    progress.finish();
    Ok(out)
}

/// Plans (and unless `dry_run`, applies) `secrets` at `dest`, all in memory: the loop drills
/// use (their read-back needs the values afterwards).
pub async fn apply(
    dest: &dyn Destination,
    secrets: &[Secret],
    opts: &RestoreOptions,
    dry_run: bool,
    progress: &dyn Progress,
) -> (Plan, Report) {
    progress.start(if dry_run { "plan" } else { "restore" }, secrets.len());
    let done = |name: &str| progress.advance(name);
    let opts = super::knowing_origins(opts);
    let out = restore_each(dest, secrets, &opts, dry_run, &done).await;
    progress.finish();
    out
}
