//! Output conventions shared by every command: JSON on stdout with `--json`, human text
//! otherwise; the exit codes (the one table is the library's `secretsnap::exit::EXIT_CODES`,
//! which `--help` prints and docs/cli.md's "Exit codes" renders, a test holding the two equal);
//! the `Usage` error that maps to exit code 2.

use secretsnap::engine::ErrorKind;

use super::Global;

pub use secretsnap::exit::*;

/// `--help`'s closing paragraph, made from `EXIT_CODES`.
pub fn exit_help() -> String {
    let codes: Vec<String> = EXIT_CODES.iter().map(|(c, m)| format!("{c} {m}")).collect();
    format!("Exit codes: {}. See docs/cli.md.", codes.join("; "))
}

/// The kind of the first engine or store error in `e`'s chain (a transparent wrapper hides the
/// wrapped error from the chain, so each asks its own `kind`).
pub fn error_kind(e: &anyhow::Error) -> Option<ErrorKind> {
    e.chain().find_map(|c| {
        c.downcast_ref::<secretsnap::engine::Error>()
            .map(|e| e.kind())
            .or_else(|| {
                c.downcast_ref::<secretsnap_store::Error>()
                    .map(ErrorKind::of_store)
            })
    })
}

/// Whether `e` is (or was caused by) a repository held locked by another process.
pub fn is_locked(e: &anyhow::Error) -> bool {
    error_kind(e) == Some(ErrorKind::Locked)
}

/// The exit code of a failed command.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<Usage>().is_some() {
        USAGE
    } else if is_locked(e) {
        LOCKED
    } else {
        FAILED
    }
}

/// A usage error (bad argument value); exits with code 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Wraps any error as a usage error.
pub fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Usage(e.to_string()))
}

/// Prints `value` as JSON with `--json`, else runs `human`.
///
/// The JSON is written to stdout as it is serialized, never built whole in memory first (a
/// restore's report names every secret: at 100 000 secrets a `Value` tree of it would cost more
/// than the restore itself).
pub fn print(g: &Global, value: impl serde::Serialize, human: impl FnOnce()) {
    if g.json {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // A closed stdout is the reader's business: nothing to report it to.
        let _ = serde_json::to_writer_pretty(&mut out, &value)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .and_then(|()| out.flush());
    } else {
        human();
    }
}

/// `OK`, or `PARTIAL` when anything failed.
pub fn partial_if(failed: bool) -> u8 {
    if failed {
        PARTIAL
    } else {
        OK
    }
}

/// Human-readable size.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_refusal_exits_5_however_it_is_wrapped() {
        let locked = || secretsnap_store::Error::Locked("exclusive lock by vm (prune)".into());
        let direct = anyhow::Error::from(locked());
        let through_engine = anyhow::Error::from(secretsnap::engine::Error::Store(locked()));
        let with_context = through_engine.context("backup");
        assert_eq!(exit_code(&direct), LOCKED);
        assert_eq!(exit_code(&with_context), LOCKED);
        let other = anyhow::Error::from(secretsnap::engine::Error::Selection("none".into()));
        assert_eq!(exit_code(&other), FAILED);
    }

    /// docs/cli.md's table lists exactly the codes the binary uses, in order.
    #[test]
    fn the_documented_exit_codes_are_the_codes() {
        let doc = include_str!("../../docs/cli.md");
        let table = doc.split("## Exit codes").nth(1).unwrap();
        let documented: Vec<u8> = table
            .lines()
            .skip_while(|l| !l.starts_with("|---"))
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                l.trim_start_matches('|')
                    .trim()
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        let codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _)| *c).collect();
        let mut unique = Vec::new();
        for c in documented {
            if !unique.contains(&c) {
                unique.push(c);
            }
        }
        assert_eq!(unique, codes);
        assert!(exit_help().contains("6 the source drifted"));
    }
}
