//! Command-line definitions and dispatch. Exit codes: the one table is `secretsnap::exit::EXIT_CODES`.

mod args;
mod backup;
mod browse;
mod context;
mod demo;
mod drift;
mod drill;
mod emulator;
pub mod harden;
pub mod output;
mod password;
mod plakar;
mod progress;
mod repo_cmds;
mod restore;
mod retention;
mod sla;

use clap::{Args, CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "secretsnap",
    version,
    about = "Encrypted, deduplicated snapshots of cloud secret managers",
    after_help = output::exit_help()
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct Global {
    /// Repository: a path, file://, s3://bucket/prefix.
    #[arg(long, short = 'r', env = "SECRETSNAP_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// Read the passphrase from this file (first line).
    #[arg(long, env = "SECRETSNAP_PASSWORD_FILE", global = true)]
    pub password_file: Option<std::path::PathBuf>,
    /// Run this command and use its first output line as the passphrase.
    #[arg(long, env = "SECRETSNAP_PASSWORD_COMMAND", global = true)]
    pub password_command: Option<String>,
    /// Machine-readable output on stdout (schemas in docs/cli.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging on stderr (-v info, -vv debug); never secret values.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Cache directory (default: $XDG_CACHE_HOME/secretsnap or ~/.cache/secretsnap).
    #[arg(long, env = "SECRETSNAP_CACHE_DIR", global = true)]
    pub cache_dir: Option<std::path::PathBuf>,
    /// Configuration file (default: $XDG_CONFIG_HOME/secretsnap/config.toml).
    #[arg(long, env = "SECRETSNAP_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// At most this many API requests per second to Scaleway or AWS, for a key or account whose
    /// quota production traffic shares (default: as fast as the provider's quota allows).
    #[arg(
        long,
        env = "SECRETSNAP_MAX_RATE",
        global = true,
        value_name = "REQ_PER_S"
    )]
    pub max_rate: Option<f64>,
    /// Pretend it is this time (RFC 3339) for scheduling and SLA status (tests, what-ifs).
    #[arg(long, env = "SECRETSNAP_NOW", global = true, hide = true)]
    pub now: Option<String>,
    /// The passphrase reference of a repository named in the configuration.
    #[arg(skip)]
    pub repo_password: Option<secretsnap::sla::config::Reference>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a repository.
    Init(repo_cmds::InitCmd),
    /// Back up a source (e.g. scaleway://fr-par/PROJECT_ID) into one snapshot.
    Backup(Box<backup::BackupCmd>),
    /// List snapshots (filters match header fields; contents are not read).
    Snapshots(repo_cmds::SnapshotFilterArgs),
    /// List the secrets and versions of a snapshot (never values).
    Ls(browse::LsCmd),
    /// What changed between two snapshots (never values).
    Diff(browse::DiffCmd),
    /// What changed at a live source since a snapshot, from metadata only (no value is read);
    /// exit code 6 when it drifted.
    Drift(drift::DriftCmd),
    /// Restore a snapshot into a target (e.g. scaleway://nl-ams/PROJECT_ID).
    Restore(Box<restore::RestoreCmd>),
    /// Restore drill: restore a snapshot into a scratch target, verify it, time it, clean up.
    Drill(Box<drill::DrillCmd>),
    /// Copy secrets from a source straight into a target, with restore's plan and conflict rules.
    Clone(Box<restore::CloneCmd>),
    /// Print one secret value from a snapshot to stdout (the only command that shows values).
    Cat(browse::CatCmd),
    /// Verify the repository; --read-data[=n/m|P%] also decrypts and verifies data.
    Check {
        #[arg(long, num_args = 0..=1, default_missing_value = "all")]
        read_data: Option<String>,
    },
    /// Delete snapshots by id, or by a keep-policy per group (source × environment × data
    /// classes); data stays until prune.
    Forget(repo_cmds::ForgetCmd),
    /// Reclaim space no snapshot references: lock-free maintenance (marks what no snapshot
    /// needs, deletes what was marked a margin ago; backups go on), or --exclusive.
    Prune {
        #[arg(long)]
        dry_run: bool,
        /// Take the exclusive lock and delete at once (backups wait or are refused meanwhile).
        #[arg(long)]
        exclusive: bool,
        /// Wait this long (e.g. 30s, 5m) for another process's lock, retrying with backoff,
        /// before giving up with exit code 5 and the holder named.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
        wait_lock: std::time::Duration,
    },
    /// Manage passphrases.
    #[command(subcommand)]
    Key(repo_cmds::KeyCmd),
    /// Back up and restore a seeded Scaleway emulator end to end; no cloud account needed.
    Demo(demo::DemoCmd),
    /// Run a local emulator of a cloud secret manager (for your tests).
    #[command(subcommand)]
    Emulator(emulator::EmulatorCmd),
    /// Run scheduled jobs from the configuration (once, forever, one job) or export them.
    #[command(subcommand)]
    Schedule(sla::ScheduleCmd),
    /// Where each configured source stands against its SLA; exit code 4 when any is out of it.
    /// --prometheus prints (or --out writes) the same as Prometheus metrics.
    Status(sla::StatusCmd),
    /// Plakar integration: the importer and exporter a Plakar host starts, and its manifest.
    #[command(subcommand)]
    Plakar(plakar::PlakarCmd),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match &cli.command {
        Command::Init(c) => repo_cmds::init(g, c).await,
        Command::Backup(c) => backup::run(g, c).await,
        Command::Snapshots(f) => repo_cmds::snapshots(g, f).await,
        Command::Ls(c) => browse::ls(g, c).await,
        Command::Diff(c) => browse::diff(g, c).await,
        Command::Drift(c) => drift::run(g, c).await,
        Command::Restore(c) => restore::restore(g, c).await,
        Command::Clone(c) => restore::clone(g, c).await,
        Command::Drill(c) => drill::run(g, c).await,
        Command::Cat(c) => browse::cat(g, c).await,
        Command::Check { read_data } => repo_cmds::check(g, read_data.as_deref()).await,
        Command::Forget(f) => repo_cmds::forget(g, f).await,
        Command::Prune {
            dry_run,
            exclusive,
            wait_lock,
        } => repo_cmds::reclaim(g, *dry_run, *exclusive, *wait_lock).await,
        Command::Key(k) => repo_cmds::key(g, k).await,
        Command::Demo(d) => demo::run(g, d).await,
        Command::Emulator(e) => emulator::run(g, e).await,
        Command::Plakar(p) => plakar::run(g, p).await,
        Command::Schedule(c) => sla::schedule(g, c).await,
        Command::Status(c) => sla::status(g, c).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "secretsnap",
                &mut std::io::stdout(),
            );
            Ok(output::OK)
        }
    }
}
