//! "List, then fetch each secret with bounded concurrency": the one loop every reader runs
//! (backup, clone, the Plakar importer, drills and the conformance suite). Memory stays bounded by
//! the concurrency, not the project size: secrets are yielded as they arrive.

use futures::stream::{self, Stream, StreamExt, TryStreamExt};

use crate::connector::{Filter, Known, ListPages, NothingKnown, Source};
use crate::error::{Error, ItemFailure};
use crate::model::Secret;

/// Fetches every `listed` secret, at most `concurrency` at a time, asking `known` before reading
/// a value. Each result comes with `tag(listed secret)`, so a caller can place a failure (the
/// importer's record path) without the secret it failed to fetch.
pub fn fetch_each<'a, T: 'a>(
    source: &'a dyn Source,
    listed: Vec<Secret>,
    filter: &'a Filter,
    known: &'a dyn Known,
    concurrency: usize,
    tag: impl Fn(&Secret) -> T + 'a,
) -> impl Stream<Item = (T, Result<Secret, ItemFailure>)> + 'a {
    stream::iter(listed)
        .map(move |s| {
            let t = tag(&s);
            async move { (t, source.fetch(s, filter, known).await) }
        })
        .buffer_unordered(concurrency.max(1))
}

/// Fetches each secret of a listing that is still arriving (`Source::list_pages`), at most
/// `concurrency` at a time: memory holds a page and the fetches in flight, never the project.
/// `on_page` sees each page's length as it arrives (progress). A failed listing comes out as
/// `Err` (after which the caller must stop: the rest of the project is unknown).
pub fn fetch_listed<'a>(
    source: &'a dyn Source,
    pages: ListPages<'a>,
    filter: &'a Filter,
    known: &'a dyn Known,
    concurrency: usize,
    mut on_page: impl FnMut(usize) + Send + 'a,
) -> impl Stream<Item = Result<Result<Secret, ItemFailure>, Error>> + 'a {
    pages
        .map_ok(move |page| {
            on_page(page.len());
            stream::iter(page.into_iter().map(Ok))
        })
        .try_flatten()
        .map(move |listed: Result<Secret, Error>| async move {
            Ok(source.fetch(listed?, filter, known).await)
        })
        .buffer_unordered(concurrency.max(1))
}

/// Lists and fetches every matching secret with its values (nothing known), sorted by
/// `path/name`; the secrets that could not be fetched come back as failures. Only a failed
/// listing is an error.
pub async fn read_all(
    source: &dyn Source,
    filter: &Filter,
    concurrency: usize,
) -> Result<(Vec<Secret>, Vec<ItemFailure>), Error> {
    let listed = source.list(filter).await?;
    let mut secrets = Vec::new();
    let mut failures = Vec::new();
    let mut fetched = fetch_each(source, listed, filter, &NothingKnown, concurrency, |_| ());
    while let Some((_, r)) = fetched.next().await {
        match r {
            Ok(s) => secrets.push(s),
            Err(f) => failures.push(f),
        }
    }
    secrets.sort_by_key(Secret::full_name);
    Ok((secrets, failures))
}
