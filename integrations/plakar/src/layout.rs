//! The record layout a Plakar snapshot of secrets has, designed to be browsed with `plakar ls`
//! and restored faithfully:
//!
//! ```text
//! /.secretsnap.json                    what was imported: source, SLA environment, data classes
//! /<folder>/…/<name>/                  one directory per secret (its Scaleway path, its AWS name)
//! /<folder>/…/<name>/secret.json       the secret's metadata and every version's metadata
//! /<folder>/…/<name>/versions/<id>     one file per version whose value was read: the value
//! ```
//!
//! Path segments `.`, `..` and empty ones, and `%`, are percent-encoded so a name can never
//! escape its directory. So are the layout's own names when a folder or a secret bears them
//! (`secret.json` → `secret%2Ejson`, `versions` → `%76ersions`, `.secretsnap.json` →
//! `%2Esecretsnap.json`): a secret named `versions` or `secret.json` inside another secret's
//! folder gets a directory of its own instead of colliding with that secret's records, and a
//! record named `secret.json` or under `versions/` is always what it looks like. Since `%` is
//! always encoded, no real name reads like an escaped one. The exporter does not parse names out
//! of paths: `secret.json` carries them; paths only group a secret's records.

use prost_types::Timestamp;
use secretsnap_core::{Secret, Version};

use crate::proto::{FileInfo, Record};

pub const INFO_FILE: &str = ".secretsnap.json";
pub const SECRET_FILE: &str = "secret.json";
pub const VERSIONS_DIR: &str = "versions";

/// Go's fs.ModeDir.
pub const MODE_DIR: u32 = 1 << 31;
/// Largest piece of content in one message (the gRPC default limit is 4 MiB).
pub const CHUNK: usize = 1 << 20;

/// One path segment, safe to place in a pathname and never one of the layout's own names.
pub fn segment(s: &str) -> String {
    let s = s.replace('%', "%25");
    match s.as_str() {
        "" => "%00".to_string(),
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        SECRET_FILE => "secret%2Ejson".to_string(),
        VERSIONS_DIR => "%76ersions".to_string(),
        INFO_FILE => "%2Esecretsnap.json".to_string(),
        _ => s,
    }
}

/// `/<folder>/…/<name>`: the secret's directory.
pub fn secret_dir(s: &Secret) -> String {
    let mut out = String::new();
    for part in s.path.split('/').filter(|p| !p.is_empty()) {
        out.push('/');
        out.push_str(&segment(part));
    }
    // AWS names may contain '/', which makes folders too.
    for part in s.name.split('/') {
        out.push('/');
        out.push_str(&segment(part));
    }
    out
}

pub fn version_path(dir: &str, v: &Version) -> String {
    format!("{dir}/{VERSIONS_DIR}/{}", segment(&v.id))
}

fn timestamp(rfc3339: &str) -> Option<Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    Some(Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or("").to_string()
}

pub fn dir_record(path: &str, mtime: &str) -> Record {
    Record {
        pathname: path.to_string(),
        file_info: Some(FileInfo {
            name: if path == "/" {
                "/".into()
            } else {
                basename(path)
            },
            mode: MODE_DIR | 0o700,
            mod_time: timestamp(mtime),
            nlink: 1,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn file_record(path: &str, size: usize, mtime: &str) -> Record {
    Record {
        has_reader: true,
        pathname: path.to_string(),
        file_info: Some(FileInfo {
            name: basename(path),
            size: size as i64,
            mode: 0o400,
            mod_time: timestamp(mtime),
            nlink: 1,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn error_record(path: &str, error: &str) -> Record {
    Record {
        pathname: path.to_string(),
        error: error.to_string(),
        file_info: Some(FileInfo {
            name: basename(path),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What a record is, from its pathname alone (the exporter's view; pathnames may be re-rooted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `.secretsnap.json` or a directory: nothing to restore.
    Other,
    /// `<dir>/secret.json`.
    Secret { dir: String },
    /// `<dir>/versions/<name>`.
    Version { dir: String, name: String },
}

pub fn classify(path: &str) -> Kind {
    let Some((parent, base)) = path.rsplit_once('/') else {
        return Kind::Other;
    };
    if base == SECRET_FILE {
        return Kind::Secret {
            dir: parent.to_string(),
        };
    }
    if let Some((dir, vdir)) = parent.rsplit_once('/') {
        if vdir == VERSIONS_DIR && !base.is_empty() {
            return Kind::Version {
                dir: dir.to_string(),
                name: base.to_string(),
            };
        }
    }
    Kind::Other
}

/// Every directory above `path` (excluding "/"), outermost first.
pub fn parents(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = path[at + 1..].find('/') {
        at += i + 1;
        out.push(path[..at].to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_safe_and_classified() {
        let s = Secret {
            path: "/prod/db".into(),
            name: "..".into(),
            ..Default::default()
        };
        assert_eq!(secret_dir(&s), "/prod/db/%2E%2E");
        let aws = Secret {
            path: "/".into(),
            name: "team/a%b".into(),
            ..Default::default()
        };
        assert_eq!(secret_dir(&aws), "/team/a%25b");
        assert_eq!(parents("/a/b/c"), ["/a", "/a/b"]);
        assert_eq!(
            classify("/restore/prod/x/secret.json"),
            Kind::Secret {
                dir: "/restore/prod/x".into()
            }
        );
        assert_eq!(
            classify("/prod/x/versions/3"),
            Kind::Version {
                dir: "/prod/x".into(),
                name: "3".into()
            }
        );
        assert_eq!(classify("/prod/x/versions"), Kind::Other);
        // The layout's own names as folders or secret names get directories of their own.
        let named = |path: &str, name: &str| Secret {
            path: path.into(),
            name: name.into(),
            ..Default::default()
        };
        for (path, name, dir) in [
            ("/prod/x", "secret.json", "/prod/x/secret%2Ejson"),
            ("/prod/x", "versions", "/prod/x/%76ersions"),
            ("/prod/x/versions", "1", "/prod/x/%76ersions/1"),
            ("/", ".secretsnap.json", "/%2Esecretsnap.json"),
        ] {
            assert_eq!(secret_dir(&named(path, name)), dir);
        }
        assert_eq!(segment("%76ersions"), "%2576ersions");
        assert_eq!(classify("/.secretsnap.json"), Kind::Other);
    }
}
