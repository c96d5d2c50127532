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
            let ent = ent?;
            let ft = ent.file_type()?;
            if ft.is_dir() {
                stack.push(ent.path());
            } else if ft.is_file() {
                let rel = ent
                    .path()
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(ObjectInfo {
                    name: rel,
                    size: ent.metadata()?.len(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
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
