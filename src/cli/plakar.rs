//! `secretsnap plakar importer|exporter|manifest`: the faces a Plakar host starts (gRPC on
//! stdin/stdout; stdout carries nothing else) and the command that generates Plakar's
//! manifest.yaml and config schemas from plugin.toml for `plakar pkg create`.

use std::path::PathBuf;

use clap::Subcommand;
use secretsnap::plugin::PluginConnect;
use secretsnap_plakar::manifest::Manifest;
use secretsnap_plakar::proto::importer::importer_server::ImporterServer;
use secretsnap_plakar::proto::plakar::exporter::exporter_server::ExporterServer;
use secretsnap_plakar::{ExporterService, ImporterService};
use tonic::service::Routes;

use super::{output, Global};

#[derive(Subcommand)]
pub enum PlakarCmd {
    /// Serve the importer (schemes scaleway-secrets, aws-secrets) on stdin/stdout.
    Importer,
    /// Serve the exporter on stdin/stdout.
    Exporter,
    /// Write manifest.yaml and the config JSON Schemas, generated from plugin.toml, into a folder.
    Manifest {
        #[arg(long)]
        out: PathBuf,
    },
}

pub async fn run(g: &Global, cmd: &PlakarCmd) -> anyhow::Result<u8> {
    let routes = match cmd {
        PlakarCmd::Importer => {
            Routes::new(ImporterServer::new(ImporterService::new(PluginConnect)))
        }
        PlakarCmd::Exporter => {
            Routes::new(ExporterServer::new(ExporterService::new(PluginConnect)))
        }
        PlakarCmd::Manifest { out } => {
            let files = Manifest::embedded()?.write(out)?;
            output::print(g, serde_json::json!({"dir": out, "files": files}), || {
                for f in &files {
                    println!("{}", out.join(f).display());
                }
            });
            return Ok(output::OK);
        }
    };
    let code = match secretsnap_plakar::stdio::serve_stdio(routes).await {
        Ok(()) => output::OK,
        Err(e) => {
            eprintln!("error: {e}");
            output::FAILED
        }
    };
    // The blocking stdin reader may still be parked on a pipe the host keeps open; the
    // connection is over, so leave now rather than wait for it.
    std::process::exit(code.into());
}
