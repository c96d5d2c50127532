//! The process exit codes, as one table: the command layer ends with them, and the scheduler
//! reads a job's outcome from them (`sla::outcome::Finished::from_exit`), so both sides cannot
//! drift apart. `--help` and docs/cli.md render `EXIT_CODES`.

/// Exit code: everything succeeded.
pub const OK: u8 = 0;
/// Exit code: the command failed.
pub const FAILED: u8 = 1;
/// Exit code: the command line or a location URL is wrong.
pub const USAGE: u8 = 2;
/// Exit code: done, but some items failed; the report names each one.
pub const PARTIAL: u8 = 3;

/// Exit code of `status`: a configured source is out of its SLA (named in the output).
pub const OUT_OF_SLA: u8 = 4;
/// Exit code: another process held the repository lock (past `--wait-lock`); nothing was done.
pub const LOCKED: u8 = 5;
/// Exit code of `drift`: the live source differs from the snapshot (the report names how).
pub const DRIFTED: u8 = 6;

/// Every exit code and what it means: the one table. Everything else refers to it.
pub const EXIT_CODES: &[(u8, &str)] = &[
    (OK, "success"),
    (FAILED, "failure"),
    (USAGE, "usage error"),
    (
        PARTIAL,
        "partial: some items failed, the report names each one",
    ),
    (OUT_OF_SLA, "a source is out of its SLA (status)"),
    (LOCKED, "the repository stayed locked by another process"),
    (DRIFTED, "the source drifted from its snapshot (drift)"),
];
