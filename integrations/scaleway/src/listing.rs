//! Listing a project page by page without losing a secret. The API pages by offset (`page`,
//! `page_size`), so a secret created or deleted before the cursor while a listing runs shifts
//! every later page by one: a secret is listed twice or, worse, one that existed all along is
//! never listed. A backup fetches while it lists (its memory must not hold the whole project),
//! so its listing stays open for the whole run and a shift is not rare. Here each secret comes
//! out once (by id), and a listing that took more than one page is checked by listing again:
//! what the first pass missed comes out then, and passes repeat while they find something new
//! (at most `MAX_PASSES`). A one-page listing is one answer, so it costs nothing more.

use std::collections::HashSet;

use futures::stream::{self, StreamExt};
use secretsnap_core::{Filter, ListPages, Location};

use crate::client::Client;
use crate::convert;

/// Listings of a project per run, the first one included.
const MAX_PASSES: usize = 3;

/// Ids already listed; a uuid (every Scaleway secret id) is kept in 16 bytes.
#[derive(Default)]
struct Seen {
    uuids: HashSet<u128>,
    other: HashSet<String>,
}

impl Seen {
    /// `true` the first time `id` is seen.
    fn insert(&mut self, id: &str) -> bool {
        let hex: String = id.chars().filter(|c| *c != '-').collect();
        match u128::from_str_radix(&hex, 16) {
            Ok(n) if hex.len() == 32 => self.uuids.insert(n),
            _ => self.other.insert(id.to_string()),
        }
    }
}

/// Where a listing is: which pass, the live or the deleted secrets, which page.
struct Cursor {
    pass: usize,
    deleted: bool,
    page: usize,
    /// A listing of this project took more than one page: it may have shifted.
    paged: bool,
    /// This pass (after the first) found a secret the earlier ones missed.
    found: usize,
    done: bool,
    seen: Seen,
}

/// Live secrets, then those scheduled for deletion, page by page, each matching secret once.
pub(crate) fn pages<'a>(
    client: &'a Client,
    location: &'a Location,
    filter: &'a Filter,
) -> ListPages<'a> {
    let start = Cursor {
        pass: 0,
        deleted: false,
        page: 1,
        paged: false,
        found: 0,
        done: false,
        seen: Seen::default(),
    };
    stream::try_unfold(start, move |mut c| async move {
        if c.done {
            return Ok(None);
        }
        let (items, last) = client
            .secrets_page(&location.scope, c.deleted, c.page)
            .await?;
        let mut out = Vec::new();
        for v in &items {
            let s = convert::secret(v, location);
            if filter.matches(&s) && c.seen.insert(&s.id) {
                out.push(s);
            }
        }
        if c.pass > 0 {
            c.found += out.len();
        }
        c.paged |= c.page > 1;
        if !last {
            c.page += 1;
        } else if !c.deleted {
            (c.deleted, c.page) = (true, 1);
        } else if c.paged && (c.pass == 0 || c.found > 0) && c.pass + 1 < MAX_PASSES {
            if c.found > 0 {
                tracing::info!(
                    project = %location.scope,
                    missed = c.found,
                    "the listing shifted while it ran (secrets created or deleted meanwhile); \
                     listing again"
                );
            }
            (c.pass, c.deleted, c.page, c.found) = (c.pass + 1, false, 1, 0);
        } else {
            c.done = true;
        }
        Ok(Some((out, c)))
    })
    .boxed()
}
