//! Private files and folders on the local disk, whatever the umask: folders 0700, files 0600,
//! existing ones tightened (group and other bits removed). A key file readable by every local
//! user is a passphrase away from every secret, so the local backend, the cache and the
//! scheduler's state file all go through here. New folders are fsynced in their parent so a crash
//! cannot lose a folder whose files were already fsynced; atomic writes go through a unique temp
//! file that is fsynced before it is renamed.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Fsyncs a folder (makes its entries durable).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(dir)?.sync_all()
}

/// Removes group and other permission bits from `path` if it exists; true when it changed.
pub fn tighten(path: &Path) -> std::io::Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Ok(false);
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7700))?;
    Ok(true)
}

/// Tightens `root` and everything below it; returns how many entries changed.
pub fn tighten_tree(root: &Path) -> std::io::Result<usize> {
    let mut changed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        changed += usize::from(tighten(&p)?);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    Ok(changed)
}

/// Creates `path` and missing parents as 0700 folders, each fsynced in its parent; an existing
/// `path` is tightened.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        tighten(path)?;
        return Ok(());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        if !parent.is_dir() {
            create_dir_all(parent)?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => sync_dir(parent.unwrap_or(Path::new("."))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens options for a new private file (0600).
pub fn new_file_options() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true).mode(0o600);
    o
}

/// Creates `path` empty (0600) if absent, else tightens it.
pub fn create_file(path: &Path) -> std::io::Result<()> {
    match new_file_options().open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten(path).map(|_| ()),
        Err(e) => Err(e),
    }
}

/// Creates the missing folders of `path` as 0700 folders, each fsynced in its parent; folders
/// that exist keep their mode (a shared folder such as node_exporter's textfile directory must
/// not be tightened because we write one file into it).
pub fn create_missing_dirs(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        create_missing_dirs(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => sync_dir(parent.unwrap_or(Path::new("."))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Replaces `path` atomically with `bytes`: missing folders are created (0700), a unique 0600
/// temp file beside it is written and fsynced, renamed over `path`, and the folder fsynced. A
/// crash leaves the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_missing_dirs(dir)?;
    }
    replace_file(path, bytes, 0o600)
}

/// Replaces `path` atomically with `bytes` and gives it `mode`, in a folder that must exist.
/// The temp file has an unpredictable name and is created exclusively (`O_EXCL` never follows a
/// link), and its mode is set through the open file: whoever can write the folder cannot make
/// us write or chmod anything else. A crash leaves the old or the new file.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| std::io::Error::other(format!("{} needs a file name", path.display())))?;
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", crate::id::Id::random().short()));
    let result = (|| {
        let mut f = new_file_options().open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir.unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_private_and_loose_ones_tightened() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("a/b/c");
        create_dir_all(&deep).unwrap();
        assert_eq!(mode(&d.path().join("a")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        let f = deep.join("state.json");
        write_atomic(&f, b"{}").unwrap();
        write_atomic(&f, b"{\"x\":1}").unwrap();
        assert_eq!(mode(&f), 0o600);
        assert_eq!(std::fs::read(&f).unwrap(), b"{\"x\":1}");
        assert_eq!(
            std::fs::read_dir(&deep).unwrap().count(),
            1,
            "no temp file left"
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&deep, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(tighten_tree(d.path().join("a").as_path()).unwrap(), 2);
        assert_eq!((mode(&f), mode(&deep)), (0o600, 0o700));
    }

    #[test]
    fn an_existing_shared_folder_keeps_its_mode() {
        let d = tempfile::tempdir().unwrap();
        let shared = d.path().join("textfile");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        write_atomic(&shared.join("state.json"), b"{}").unwrap();
        assert_eq!(
            std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777,
            0o1777
        );
        assert_eq!(mode(&shared.join("state.json")), 0o600);
        write_atomic(&shared.join("new/deeper/state.json"), b"{}").unwrap();
        assert_eq!(
            mode(&shared.join("new")),
            0o700,
            "folders we create are private"
        );
    }

    #[test]
    fn a_link_in_the_folder_is_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"root's own").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let target = d.path().join("out.prom");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        replace_file(&target, b"metrics", 0o644).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"root's own");
        assert_eq!(mode(&victim), 0o600);
        assert_eq!(std::fs::read(&target).unwrap(), b"metrics");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
        assert_eq!(mode(&target), 0o644);
    }
}
