//! The `secretsnap` binary: parses arguments, sets up logging and the runtime, and hands off to
//! the commands in `cli/`. Logic lives in the library crates; this file is glue only.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // No core dump, no same-user debugger: the master key and values live in this memory.
    cli::harden::harden();
    // The path scheduled jobs run, taken before a package upgrade can replace the file.
    secretsnap::sla::exe::remember();
    let args = cli::Cli::parse();
    let filter = match args.global.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match rt.block_on(cli::run(args)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(cli::output::exit_code(&e))
        }
    }
}
