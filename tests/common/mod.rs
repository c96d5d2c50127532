//! Helpers shared by the binary's end-to-end tests: an emulator on its own runtime, a scratch
//! folder, a repository location (a local folder, or an S3 prefix on moto), and the built binary
//! with a clean environment pointing at both.
#![allow(dead_code)]

pub mod procs;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use secretsnap_core::conformance::read_all;
use secretsnap_core::Filter;
use secretsnap_scaleway::emulator::{Config, Emulator};
use secretsnap_scaleway::{Client, ClientOptions, Credentials, ScalewaySource};
use serde_json::Value;

pub const A: &str = "aaaaaaaa-2222-4000-8000-00000000000a";
pub const B: &str = "bbbbbbbb-2222-4000-8000-00000000000b";
pub const C: &str = "cccccccc-2222-4000-8000-00000000000c";
pub const SECRETS: usize = 12;
pub const VERSIONS: usize = 3;

/// An emulator on its own runtime plus a scratch folder with a repository location.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub emu: Emulator,
    pub dir: tempfile::TempDir,
    /// `None`: the local folder `<dir>/repo`; else this location (e.g. `s3://bucket/prefix`).
    pub location: Option<String>,
}

/// A repository in memory with a fast key derivation and no cache folder.
pub async fn memory_repo() -> secretsnap_store::Repository {
    use secretsnap_store::{backend::ObjectStoreBackend, KdfParams, OpenOptions, Repository};
    Repository::init(
        std::sync::Arc::new(ObjectStoreBackend::memory()),
        b"pw",
        OpenOptions {
            cache_dir: None,
            kdf: Some(KdfParams::insecure_fast()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// An emulator without a rate limit, on the caller's runtime, for tests whose point is not
/// pacing.
pub async fn unlimited_emulator() -> Emulator {
    let config = Config {
        rate_limit: None,
        ..Default::default()
    };
    Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A client of `emu` in fr-par that does not pace itself (with `unlimited_emulator`).
pub fn unpaced_client(emu: &Emulator) -> Client {
    Client::new(
        Credentials::new("t", None, Some("fr-par"), Some(&emu.url())),
        "fr-par",
        ClientOptions {
            rate: 10_000.0,
            ..Default::default()
        },
    )
    .unwrap()
}

/// An emulator on 127.0.0.1 and the two-thread runtime it runs on.
pub fn emulator(config: Config) -> (tokio::runtime::Runtime, Emulator) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let emu = rt
        .block_on(Emulator::start(config, "127.0.0.1:0".parse().unwrap()))
        .unwrap();
    (rt, emu)
}

impl World {
    pub fn new(config: Config) -> World {
        let (rt, emu) = emulator(config);
        emu.seed("fr-par", A, SECRETS, VERSIONS);
        World {
            rt,
            emu,
            dir: tempfile::tempdir().unwrap(),
            location: None,
        }
    }

    /// The same world with its repository at `location` (AWS_* come from this process).
    pub fn at(mut self, location: String) -> World {
        self.location = Some(location);
        self
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// What `SECRETSNAP_REPOSITORY` is set to.
    pub fn repo_location(&self) -> String {
        self.location
            .clone()
            .unwrap_or_else(|| self.repo().display().to_string())
    }

    /// The binary with a clean environment pointing at the emulator and the repository.
    pub fn cmd(&self, args: &[&str]) -> Command {
        Command::from_std(self.std_cmd(args))
    }

    /// The same as a `std::process::Command`, to spawn and kill.
    pub fn std_cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("secretsnap"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("SCW_API_URL", self.emu.url())
            .env("SCW_SECRET_KEY", "test-token")
            .env("SCW_DEFAULT_PROJECT_ID", A)
            .env("SECRETSNAP_REPOSITORY", self.repo_location())
            .env("SECRETSNAP_PASSWORD", "correct horse")
            .env("SECRETSNAP_CACHE_DIR", self.dir.path().join("cache"))
            .args(args);
        for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
            c.env(k, v);
        }
        c
    }

    /// Runs and returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs, requires exit code `code`, and parses stdout as JSON.
    pub fn json(&self, args: &[&str], code: i32) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (rc, out, err) = self.run(&all);
        assert_eq!(
            rc, code,
            "secretsnap {args:?}\nstdout: {out}\nstderr: {err}"
        );
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    pub fn read_project(&self, region: &str, project: &str) -> Vec<secretsnap_core::Secret> {
        let client = Client::new(
            Credentials::new("test-token", None, Some(region), Some(&self.emu.url())),
            region,
            ClientOptions::default(),
        )
        .unwrap();
        let all = Filter {
            read_disabled: true,
            ..Default::default()
        };
        self.rt
            .block_on(read_all(&ScalewaySource::new(client, project), &all))
            .0
    }
}

pub fn repo_files(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

/// The strings of a JSON list (a diff's `added`, `versions_added`…).
pub fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect()
}

/// The entry of a diff's `changed` list for `secret` (a failure names the whole diff).
pub fn changed<'a>(d: &'a serde_json::Value, secret: &str) -> &'a serde_json::Value {
    d["changed"]
        .as_array()
        .unwrap_or_else(|| panic!("no changed list: {d}"))
        .iter()
        .find(|c| c["secret"] == secret)
        .unwrap_or_else(|| panic!("{secret} not reported as changed: {d}"))
}

impl World {
    /// Writes `config.toml` in the world's folder: a state file, repository `main` (this
    /// world's, its passphrase from `SECRETSNAP_PASSWORD`), then `rest` (sources, policies).
    /// Returns its path.
    pub fn write_config(&self, rest: &str) -> PathBuf {
        let d = self.dir.path().display();
        let path = self.dir.path().join("config.toml");
        let head = format!(
            "[schedule]\nstate_file = \"{d}/state.json\"\n\n[repositories.main]\nurl = \"{}\"\n\
             password = {{ env = \"SECRETSNAP_PASSWORD\" }}\ncache_dir = \"{d}/cache\"\n\n",
            self.repo_location()
        );
        std::fs::write(&path, head + rest).expect("writing config.toml");
        path
    }
}

/// Requires exit code `code` of a finished command; returns its stdout (a failure shows both
/// streams).
pub fn expect(out: std::process::Output, args: &[&str], code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
