//! Running the built binary as separate processes (spawned, killed, waited for) against the
//! emulator and a local or S3 repository: what the integrity and maintenance tests share.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use secretsnap_core::conformance::compare;
use secretsnap_scaleway::emulator::Config;

use super::World;

pub fn fast() -> Config {
    Config {
        rate_limit: None,
        ..Default::default()
    }
}

/// The S3 location for `test`, or None (skipped with a message) when no test server is set.
pub fn s3_location(test: &str) -> Option<String> {
    match std::env::var("SECRETSNAP_TEST_S3") {
        Ok(base) => Some(format!(
            "{}/{test}-{}",
            base.trim_end_matches('/'),
            std::process::id()
        )),
        Err(_) if std::env::var_os("SECRETSNAP_REQUIRE_SERVERS").is_some() => {
            panic!("{test}: SECRETSNAP_TEST_S3 unset")
        }
        Err(_) => {
            eprintln!(
                "SKIPPED {test}: SECRETSNAP_TEST_S3 is not set (bash tests/run.sh starts \
             moto and sets it)"
            );
            None
        }
    }
}

pub fn spawn(w: &World, args: &[&str]) -> Child {
    w.std_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a child: (exit code or -signal, stdout, stderr).
pub fn finish(c: Child) -> (i32, String, String) {
    let out = c.wait_with_output().unwrap();
    let code = out
        .status
        .code()
        .unwrap_or_else(|| -out.status.signal().unwrap_or(0));
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn url(project: &str) -> String {
    format!("scaleway://fr-par/{project}")
}

/// Restores `snapshot` into a fresh project of pl-waw and compares it with `source`.
pub fn restores_equal(w: &World, snapshot: &str, source: &str, fresh: &str) {
    w.json(
        &["restore", snapshot, &format!("scaleway://pl-waw/{fresh}")],
        0,
    );
    let diffs = compare(
        &w.read_project("fr-par", source),
        &w.read_project("pl-waw", fresh),
    );
    assert!(diffs.is_empty(), "snapshot {snapshot}: {diffs:?}");
}

/// xorshift64*: a fixed, dependency-free random sequence.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a chaos test's backups committed, and which of those it has forgotten since.
#[derive(Default)]
pub struct Ledger {
    /// (snapshot id, source project) of every backup that reported a commit.
    pub committed: Vec<(String, &'static str)>,
    pub forgotten: Vec<String>,
}

impl Ledger {
    /// Committed snapshots not forgotten.
    pub fn survivors(&self) -> Vec<&(String, &'static str)> {
        self.committed
            .iter()
            .filter(|(id, _)| !self.forgotten.contains(id))
            .collect()
    }

    /// Forgets a random one of the survivors once more than two are left (no lock needed).
    pub fn forget_one(&mut self, w: &World, rng: &mut Rng) {
        let live = self.survivors();
        if live.len() > 2 {
            let (id, _) = live[rng.below(live.len() as u64) as usize].clone();
            w.json(&["forget", &id], 0);
            self.forgotten.push(id);
        }
    }
}

/// How many snapshots the repository lists.
pub fn snapshot_count(w: &World) -> usize {
    w.json(&["snapshots"], 0)["snapshots"]
        .as_array()
        .unwrap()
        .len()
}
