//! A repository in a local directory, with the durability object_store's local backend lacks:
//! data is written to `tmp/`, fsynced, then hard-linked to its final name (atomic and
//! create-only: the link fails if the name exists), and the directory is fsynced; a new folder is
//! fsynced in its parent. A crash at any instant leaves either no object or a complete one, plus
//! at most a file in `tmp/`. Folders are 0700 and files 0600 whatever the umask, and `secure`
//! tightens a repository created looser (key files must not be readable by other local users).

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{check_name, Backend, ObjectInfo};
use crate::error::{Error, Result};

/// A repository rooted at a directory.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBackend { root: root.into() }
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.root.join(name))
    }
}

use crate::private::{self, sync_dir};

fn put_blocking(root: &Path, dest: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let tmp_dir = root.join("tmp");
    private::create_dir_all(&tmp_dir)?;
    let parent = dest.parent().expect("object paths have a parent");
    private::create_dir_all(parent)?;
    let tmp = tmp_dir.join(format!("{}.tmp", crate::id::Id::random().short()));
    let result = (|| {
        let mut f = private::new_file_options().open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        match std::fs::hard_link(&tmp, dest) {
            Ok(()) => {
                sync_dir(parent)?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

fn list_blocking(root: &Path, prefix: &str) -> std::io::Result<Vec<ObjectInfo>> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(prefix.trim_end_matches('/'))];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for ent in rd {
            match listed(root, &ent?)? {
                Listed::Folder(p) => stack.push(p),
                Listed::Object(o) => out.push(o),
                Listed::Gone => {}
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One entry of a folder being listed.
enum Listed {
    Folder(PathBuf),
    Object(ObjectInfo),
    /// Deleted between the folder's read and the entry's (another process's forget or prune):
    /// a listing is one moment, and at that moment it was already going.
    Gone,
}

fn listed(root: &Path, ent: &std::fs::DirEntry) -> std::io::Result<Listed> {
    let gone = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Ok(Listed::Gone),
        _ => Err(e),
    };
    let ft = match ent.file_type() {
        Ok(ft) => ft,
        Err(e) => return gone(e),
    };
    if ft.is_dir() {
        return Ok(Listed::Folder(ent.path()));
    }
    if !ft.is_file() {
        return Ok(Listed::Gone);
    }
    let size = match ent.metadata() {
        Ok(m) => m.len(),
        Err(e) => return gone(e),
    };
    let name = ent
        .path()
        .strip_prefix(root)
        .expect("under root")
        .to_string_lossy()
        .replace('\\', "/");
    Ok(Listed::Object(ObjectInfo { name, size }))
}

fn io_err(name: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound(name.to_string())
    } else {
        Error::backend(name, e)
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking i/o task panicked")
}

#[async_trait::async_trait]
impl Backend for LocalBackend {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    async fn get(&self, name: &str) -> Result<Bytes> {
        let p = self.path(name)?;
        let n = name.to_string();
        blocking(move || {
            std::fs::read(&p)
                .map(Bytes::from)
                .map_err(|e| io_err(&n, e))
        })
        .await
    }

    async fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes> {
        use std::io::{Read, Seek, SeekFrom};
        let p = self.path(name)?;
        let n = name.to_string();
        blocking(move || {
            let mut f = std::fs::File::open(&p).map_err(|e| io_err(&n, e))?;
            let len = f.metadata().map_err(|e| io_err(&n, e))?.len();
            if range.start > range.end || range.end > len {
                return Err(Error::damaged(
                    n.clone(),
                    format!("range {range:?} beyond object size {len}"),
                ));
            }
            f.seek(SeekFrom::Start(range.start))
                .map_err(|e| io_err(&n, e))?;
            let mut buf = vec![0u8; (range.end - range.start) as usize];
            f.read_exact(&mut buf).map_err(|e| io_err(&n, e))?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn put_if_absent(&self, name: &str, bytes: Bytes) -> Result<bool> {
        let dest = self.path(name)?;
        let root = self.root.clone();
        let n = name.to_string();
        blocking(move || put_blocking(&root, &dest, &bytes).map_err(|e| Error::backend(n, e))).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        blocking(move || list_blocking(&root, &prefix).map_err(|e| Error::backend(prefix, e))).await
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let p = self.path(name)?;
        match tokio::fs::remove_file(&p).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::backend(name, e)),
        }
    }

    async fn secure(&self) -> Result<usize> {
        let root = self.root.clone();
        blocking(move || {
            if !root.exists() {
                return Ok(0);
            }
            private::tighten_tree(&root).map_err(|e| Error::backend(root.display().to_string(), e))
        })
        .await
    }

    async fn leftovers(&self) -> Result<Vec<String>> {
        Ok(self
            .list("tmp/")
            .await?
            .into_iter()
            .map(|o| o.name)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file deleted between the folder's read and its entry's (another process's forget)
    /// leaves the listing, which does not fail: seen red as "backend error on snapshots/: No
    /// such file or directory" when a scheduled backup listed beside another's retention.
    #[test]
    fn an_object_deleted_while_listed_is_left_out() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("snapshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a"), b"x").unwrap();
        let mut rd = std::fs::read_dir(&dir).unwrap();
        let ent = rd.next().unwrap().unwrap();
        std::fs::remove_file(dir.join("a")).unwrap();
        assert!(matches!(listed(root.path(), &ent).unwrap(), Listed::Gone));
        std::fs::write(dir.join("b"), b"xy").unwrap();
        let all = list_blocking(root.path(), "snapshots/").unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].name.as_str(), all[0].size), ("snapshots/b", 2));
    }
}
