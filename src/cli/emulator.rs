//! `secretsnap emulator scaleway`: the local Scaleway Secret Manager for users' own tests, with
//! the knobs our tests use (latency, rate limit, faults, token grants, seed data). Runs until
//! interrupted (Ctrl-C or SIGTERM).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use secretsnap_scaleway::emulator::{Config, Emulator, Grant};

use super::Global;

#[derive(Subcommand)]
pub enum EmulatorCmd {
    /// Scaleway Secret Manager v1beta1 (all 22 endpoints, regions fr-par, nl-ams, pl-waw).
    Scaleway(ScalewayArgs),
}

#[derive(Args)]
pub struct ScalewayArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Requests per second per token (0 = unlimited); the live API allows 50.
    #[arg(long, default_value_t = 50.0)]
    rate_limit: f64,
    /// Probability of an injected fault (500, 503, timeout, dropped connection), 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Token grant TOKEN[:PROJECT,PROJECT…][:ro]; repeatable. Without any, every token is accepted.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Seed this project with sample secrets of all six types.
    #[arg(long)]
    seed_project: Option<String>,
    #[arg(long, default_value = "fr-par")]
    seed_region: String,
    #[arg(long, default_value_t = 24)]
    seed_secrets: usize,
    #[arg(long, default_value_t = 3)]
    seed_versions: usize,
}

fn grant(spec: &str) -> anyhow::Result<(String, Grant)> {
    let mut parts = spec.split(':');
    let token = parts
        .next()
        .filter(|t| !t.is_empty())
        .context("empty token in --token")?
        .to_string();
    let mut g = Grant {
        projects: None,
        write: true,
    };
    for p in parts {
        if p == "ro" {
            g.write = false;
        } else if !p.is_empty() {
            g.projects = Some(p.split(',').map(String::from).collect());
        }
    }
    Ok((token, g))
}

pub async fn run(g: &Global, cmd: &EmulatorCmd) -> anyhow::Result<u8> {
    let EmulatorCmd::Scaleway(a) = cmd;
    let tokens: HashMap<String, Grant> = a
        .tokens
        .iter()
        .map(|t| grant(t))
        .collect::<anyhow::Result<_>>()?;
    let config = Config {
        tokens,
        latency: Duration::from_millis(a.latency_ms),
        rate_limit: (a.rate_limit > 0.0).then_some(a.rate_limit),
        fault_rate: a.fault_rate.clamp(0.0, 1.0),
        ..Default::default()
    };
    let emu = Emulator::start(config, a.listen)
        .await
        .context("starting the emulator")?;
    if let Some(p) = &a.seed_project {
        emu.seed(&a.seed_region, p, a.seed_secrets, a.seed_versions);
    }
    if g.json {
        println!(
            "{}",
            serde_json::json!({"url": emu.url(), "seeded_project": a.seed_project})
        );
    } else {
        println!(
            "Scaleway Secret Manager emulator listening on {}",
            emu.url()
        );
        println!(
            "  export SCW_API_URL={} SCW_SECRET_KEY=any-token",
            emu.url()
        );
        if let Some(p) = &a.seed_project {
            println!(
                "  seeded project {p} in {} ({} secrets × {} versions)",
                a.seed_region, a.seed_secrets, a.seed_versions
            );
        }
        println!("Ctrl-C to stop.");
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("served {} requests", emu.requests());
    Ok(0)
}
