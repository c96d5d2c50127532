//! The executable scheduled jobs run, resolved so that it survives an upgrade. Linux names a
//! running binary that a package replaced `…/secretsnap (deleted)`, so asking `current_exe()`
//! when a job starts would fail every job after an upgrade. The path is taken once, when the
//! process starts (before any upgrade can have happened), with that suffix removed if it is
//! there anyway; every job then starts whatever binary is at that path now, which after an
//! upgrade is the new one.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What Linux appends to `/proc/self/exe` once the file was unlinked or replaced.
const DELETED: &str = " (deleted)";

static AT_START: OnceLock<Result<PathBuf, String>> = OnceLock::new();

use crate::sla::error::Error;

/// `path` without the `(deleted)` suffix Linux gives a replaced executable.
pub fn without_deleted_suffix(path: &Path) -> PathBuf {
    match path.to_str().and_then(|p| p.strip_suffix(DELETED)) {
        Some(p) => PathBuf::from(p),
        None => path.to_path_buf(),
    }
}

/// Resolves and remembers our executable's path; call it first thing in `main`.
pub fn remember() {
    let _ = ours();
}

/// Our executable's path as it was when the process started (see the module doc).
pub fn ours() -> Result<&'static Path, Error> {
    AT_START
        .get_or_init(|| {
            std::env::current_exe()
                .map(|p| without_deleted_suffix(&p))
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(|e| Error::Executable(e.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_binary_is_named_by_its_path() {
        assert_eq!(
            without_deleted_suffix(Path::new("/usr/bin/secretsnap (deleted)")),
            Path::new("/usr/bin/secretsnap")
        );
        assert_eq!(
            without_deleted_suffix(Path::new("/opt/my (deleted) tools/secretsnap")),
            Path::new("/opt/my (deleted) tools/secretsnap")
        );
        assert!(ours().unwrap().is_absolute());
    }
}
