//! The local SQLite cache: speed, never truth, and never more than the repository shows.
//!
//! It keeps copies of sealed objects a storage provider holds anyway (index objects, snapshot
//! headers) so opening a repository does not download them again, and, per source item version
//! seen in a snapshot, its chunk list and size *sealed* under the repository key (so the exact
//! plaintext length that padding hides never lands here in clear). Every row is authenticated when
//! read (by the caller, which holds the keys); a row that fails is dropped and fetched or rebuilt
//! from the repository, never believed. A file that is not a database, or has another schema,
//! is deleted and created anew. Folder 0700, files 0600, whatever the umask.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;
use crate::id::Id;

/// Chunks and size of an item version already in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownItem {
    pub size: u64,
    pub chunks: Vec<Id>,
    /// The entry's metadata in the oldest snapshot that holds the item, i.e. as recorded when
    /// the content was first read: what only reading taught is there.
    pub meta: Vec<u8>,
}

pub(crate) struct Cache {
    conn: Mutex<Connection>,
}

/// Bumped whenever a table changes meaning; an older cache is wiped (and vacuumed).
const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS index_objects (name TEXT PRIMARY KEY, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (id TEXT PRIMARY KEY, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS item_snapshots (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS items (key BLOB PRIMARY KEY, sealed BLOB NOT NULL);
";

fn strings(c: &Connection, sql: &str) -> Result<Vec<String>> {
    let mut st = c.prepare(sql)?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Opens (or creates) the database file with private permissions and the current schema.
fn open_file(path: &Path) -> Result<Connection> {
    crate::private::create_file(path)?;
    let c = Connection::open(path)?;
    c.busy_timeout(std::time::Duration::from_secs(30))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        let old = strings(
            &c,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?;
        for t in old {
            c.execute_batch(&format!("DROP TABLE IF EXISTS \"{}\"", t.replace('"', "")))?;
        }
        // Dropped rows of an older schema may have held plaintext lengths: leave no free pages.
        c.execute_batch("VACUUM")?;
        c.execute_batch(SCHEMA)?;
        c.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    c.execute_batch(SCHEMA)?;
    Ok(c)
}

/// The database file and SQLite's companions (write-ahead log, shared memory).
fn db_files(path: &Path) -> [PathBuf; 3] {
    ["", "-wal", "-shm"].map(|suffix| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    })
}

impl Cache {
    /// Opens `<dir>/<repo id>.sqlite`, or an in-memory cache when `dir` is None. A damaged file
    /// is deleted and rebuilt.
    pub fn open(dir: Option<&Path>, repo_id: &str) -> Result<Cache> {
        let conn = match dir {
            Some(d) => {
                crate::private::create_dir_all(d)?;
                let path = d.join(format!("{repo_id}.sqlite"));
                for p in db_files(&path) {
                    crate::private::tighten(&p)?;
                }
                match open_file(&path) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(cache = %path.display(), error = %e, "cache is damaged; \
                         rebuilding it");
                        for p in db_files(&path) {
                            let _ = std::fs::remove_file(p);
                        }
                        open_file(&path)?
                    }
                }
            }
            None => {
                let c = Connection::open_in_memory()?;
                c.execute_batch(SCHEMA)?;
                c
            }
        };
        Ok(Cache {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn index_names(&self) -> Result<Vec<String>> {
        crate::blocking::off_worker(|| strings(&self.conn(), "SELECT name FROM index_objects"))
    }

    pub fn index_object(&self, name: &str) -> Result<Option<Vec<u8>>> {
        crate::blocking::off_worker(|| {
            Ok(self
                .conn()
                .query_row(
                    "SELECT sealed FROM index_objects WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    pub fn put_index_object(&self, name: &str, sealed: &[u8]) -> Result<()> {
        crate::blocking::off_worker(|| {
            self.conn().execute(
                "INSERT OR REPLACE INTO index_objects VALUES (?1, ?2)",
                params![name, sealed],
            )?;
            Ok(())
        })
    }

    pub fn remove_index_object(&self, name: &str) -> Result<()> {
        crate::blocking::off_worker(|| {
            self.conn()
                .execute("DELETE FROM index_objects WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    pub fn snapshot(&self, id: &str) -> Result<Option<Vec<u8>>> {
        crate::blocking::off_worker(|| {
            Ok(self
                .conn()
                .query_row("SELECT sealed FROM snapshots WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?)
        })
    }

    pub fn put_snapshot(&self, id: &str, sealed: &[u8]) -> Result<()> {
        crate::blocking::off_worker(|| {
            self.conn().execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?1, ?2)",
                params![id, sealed],
            )?;
            Ok(())
        })
    }

    pub fn remove_snapshot(&self, id: &str) -> Result<()> {
        crate::blocking::off_worker(|| {
            self.conn()
                .execute("DELETE FROM snapshots WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    pub fn retain_snapshots(&self, live: &[String]) -> Result<()> {
        crate::blocking::off_worker(|| {
            let cached = strings(&self.conn(), "SELECT id FROM snapshots")?;
            for id in cached.iter().filter(|id| !live.contains(id)) {
                self.remove_snapshot(id)?;
            }
            Ok(())
        })
    }

    pub fn item_snapshots(&self) -> Result<Vec<String>> {
        crate::blocking::off_worker(|| strings(&self.conn(), "SELECT id FROM item_snapshots"))
    }

    /// Records the sealed item rows of one tree of a snapshot (a snapshot is read a tree at a
    /// time, so a large one is never held whole; `items_done` marks it once all its trees are
    /// in). A key already present keeps its row: snapshots are added oldest first, so the row is
    /// the one recorded when the content was first read (its metadata carries what only that
    /// read learned).
    pub fn add_items(&self, items: impl Iterator<Item = (Id, Vec<u8>)>) -> Result<()> {
        crate::blocking::off_worker(|| {
            let mut c = self.conn();
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached("INSERT OR IGNORE INTO items VALUES (?1, ?2)")?;
                for (key, sealed) in items {
                    st.execute(params![&key.0[..], sealed])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Every item row of `snapshot` is in.
    pub fn items_done(&self, snapshot: &str) -> Result<()> {
        crate::blocking::off_worker(|| {
            self.conn().execute(
                "INSERT OR IGNORE INTO item_snapshots VALUES (?1)",
                [snapshot],
            )?;
            Ok(())
        })
    }

    pub fn item(&self, key: &Id) -> Result<Option<Vec<u8>>> {
        crate::blocking::off_worker(|| {
            Ok(self
                .conn()
                .query_row(
                    "SELECT sealed FROM items WHERE key = ?1",
                    [&key.0[..]],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    /// Forgets every item row, so the next incremental preparation rebuilds them all.
    pub fn clear_items(&self) -> Result<()> {
        crate::blocking::off_worker(|| {
            self.conn()
                .execute_batch("DELETE FROM items; DELETE FROM item_snapshots;")?;
            Ok(())
        })
    }
}
