//! The local SQLite cache: speed, never truth. It remembers which index objects were already
//! loaded (and the blob locations they hold), snapshot headers still sealed, and the keyed ids of
//! source item versions seen in snapshots, so a backup can skip reading values it already holds.
//!
//! Nothing in it is plaintext: blob and item ids are keyed BLAKE3, headers stay encrypted. It is
//! rebuilt from the repository whenever it disagrees (an index vanished) or is deleted.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::crypto::Kind;
use crate::error::Result;
use crate::id::Id;
use crate::pack::BlobEntry;

/// Chunks and size of an item version already in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownItem {
    pub size: u64,
    pub chunks: Vec<Id>,
}

pub(crate) struct Cache {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS index_files (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS blobs (id BLOB PRIMARY KEY, kind INTEGER, pack BLOB, off INTEGER, len INTEGER, raw INTEGER);
CREATE TABLE IF NOT EXISTS snapshots (id TEXT PRIMARY KEY, sealed BLOB);
CREATE TABLE IF NOT EXISTS item_snapshots (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS items (key BLOB PRIMARY KEY, size INTEGER, chunks BLOB);
";

fn id_from(blob: Vec<u8>) -> Id {
    let mut a = [0u8; 32];
    if blob.len() == 32 {
        a.copy_from_slice(&blob);
    }
    Id(a)
}

impl Cache {
    /// Opens `<dir>/<repo id>.sqlite`, or an in-memory cache when `dir` is None.
    pub fn open(dir: Option<&Path>, repo_id: &str) -> Result<Cache> {
        let conn = match dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                let c = Connection::open(d.join(format!("{repo_id}.sqlite")))?;
                c.pragma_update(None, "journal_mode", "WAL")?;
                c.pragma_update(None, "synchronous", "NORMAL")?;
                c.busy_timeout(std::time::Duration::from_secs(30))?;
                c
            }
            None => Connection::open_in_memory()?,
        };
        conn.execute_batch(SCHEMA)?;
        Ok(Cache {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn index_files(&self) -> Result<Vec<String>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id FROM index_files")?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn clear_index(&self) -> Result<()> {
        self.conn()
            .execute_batch("DELETE FROM index_files; DELETE FROM blobs;")?;
        Ok(())
    }

    pub fn add_index(&self, name: &str, packs: &[(Id, Vec<BlobEntry>)]) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        {
            let mut st =
                tx.prepare_cached("INSERT OR IGNORE INTO blobs VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
            for (pack, entries) in packs {
                for e in entries {
                    st.execute(params![
                        &e.id.0[..],
                        e.kind as u8,
                        &pack.0[..],
                        e.offset,
                        e.length,
                        e.raw_length
                    ])?;
                }
            }
            tx.execute("INSERT OR IGNORE INTO index_files VALUES (?1)", [name])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn all_blobs(&self) -> Result<Vec<(Id, BlobEntry)>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id, kind, pack, off, len, raw FROM blobs")?;
        let rows = st
            .query_map([], |r| {
                let kind = Kind::from_u8(r.get::<_, u8>(1)?).unwrap_or(Kind::Data);
                Ok((
                    id_from(r.get(2)?),
                    BlobEntry {
                        kind,
                        id: id_from(r.get(0)?),
                        offset: r.get(3)?,
                        length: r.get(4)?,
                        raw_length: r.get(5)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn snapshot(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row("SELECT sealed FROM snapshots WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn put_snapshot(&self, id: &str, sealed: &[u8]) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO snapshots VALUES (?1, ?2)",
            params![id, sealed],
        )?;
        Ok(())
    }

    pub fn retain_snapshots(&self, live: &[String]) -> Result<()> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id FROM snapshots")?;
        let cached = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for id in cached.iter().filter(|id| !live.contains(id)) {
            c.execute("DELETE FROM snapshots WHERE id = ?1", [id])?;
        }
        Ok(())
    }

    pub fn item_snapshots(&self) -> Result<Vec<String>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id FROM item_snapshots")?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn add_items<'a>(
        &self,
        snapshot: &str,
        items: impl Iterator<Item = (&'a Id, u64, &'a [Id])>,
    ) -> Result<()> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        {
            let mut st = tx.prepare_cached("INSERT OR REPLACE INTO items VALUES (?1, ?2, ?3)")?;
            for (key, size, chunks) in items {
                let flat: Vec<u8> = chunks.iter().flat_map(|c| c.0).collect();
                st.execute(params![&key.0[..], size as i64, flat])?;
            }
            tx.execute(
                "INSERT OR IGNORE INTO item_snapshots VALUES (?1)",
                [snapshot],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn item(&self, key: &Id) -> Result<Option<KnownItem>> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT size, chunks FROM items WHERE key = ?1",
                [&key.0[..]],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(size, flat)| KnownItem {
            size: size as u64,
            chunks: flat.chunks_exact(32).map(|c| id_from(c.to_vec())).collect(),
        }))
    }
}
