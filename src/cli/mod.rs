//! Command-line definitions and dispatch. Exit codes: 0 success, 1 failure, 2 usage error
//! (clap), 3 partial success (some items failed, all named).

mod demo;
mod emulator;
mod password;
mod repo_cmds;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "secretsnap",
    version,
    about = "Encrypted, deduplicated snapshots of cloud secret managers"
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
    #[arg(long, global = true)]
    pub password_file: Option<std::path::PathBuf>,
    /// Run this command and use its first output line as the passphrase.
    #[arg(long, global = true)]
    pub password_command: Option<String>,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// More logging on stderr (-v info, -vv debug); never secret values.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Cache directory (default: $XDG_CACHE_HOME/secretsnap or ~/.cache/secretsnap).
    #[arg(long, env = "SECRETSNAP_CACHE_DIR", global = true)]
    pub cache_dir: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a repository.
    Init,
    /// List snapshots (filters match header fields; contents are not read).
    Snapshots(repo_cmds::SnapshotFilter),
    /// Verify the repository; --read-data[=n/m|P%] also decrypts and verifies data.
    Check {
        #[arg(long, num_args = 0..=1, default_missing_value = "all")]
        read_data: Option<String>,
    },
    /// Delete snapshots (data stays until prune).
    Forget {
        snapshots: Vec<String>,
        #[arg(long)]
        dry_run: bool,
    },
    /// Reclaim space no snapshot references.
    Prune {
        #[arg(long)]
        dry_run: bool,
    },
    /// Manage passphrases.
    #[command(subcommand)]
    Key(repo_cmds::KeyCmd),
    /// Show the store working end to end on a throw-away repository.
    Demo,
    /// Run a local emulator of a cloud secret manager (for your tests).
    #[command(subcommand)]
    Emulator(emulator::EmulatorCmd),
}

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Init => repo_cmds::init(&cli.global).await,
        Command::Snapshots(f) => repo_cmds::snapshots(&cli.global, &f).await,
        Command::Check { read_data } => repo_cmds::check(&cli.global, read_data.as_deref()).await,
        Command::Forget { snapshots, dry_run } => {
            repo_cmds::forget(&cli.global, &snapshots, dry_run).await
        }
        Command::Prune { dry_run } => repo_cmds::prune(&cli.global, dry_run).await,
        Command::Key(k) => repo_cmds::key(&cli.global, k).await,
        Command::Demo => demo::run(&cli.global).await,
        Command::Emulator(e) => emulator::run(&cli.global, e).await,
    }
}
