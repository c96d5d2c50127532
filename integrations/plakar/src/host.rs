//! The host side, as Plakar drives a plugin: start the executable, speak gRPC over its pipes,
//! run Init → Import (acknowledging each record) → Open for every file, or Init → Export with
//! each file's content in ≤ 1 MiB chunks and an empty one after it. Our tests act as the host
//! through this module; any Rust host can too.

use std::collections::HashMap;
use std::process::Stdio;

use futures::StreamExt;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::error::{Error, Result};
use crate::layout::CHUNK;
use crate::proto::importer::importer_client::ImporterClient;
use crate::proto::importer::{self, ImportRequest, OpenRequest};
use crate::proto::plakar::exporter::exporter_client::ExporterClient;
use crate::proto::plakar::exporter::{self, export_request::Packet, ExportRequest};
use crate::proto::{Record, RecordResult};

fn status(e: tonic::Status) -> Error {
    Error::Transport(format!("{:?}: {}", e.code(), e.message()))
}

/// A started plugin process and the channel to it.
pub struct Plugin {
    pub child: Child,
    pub channel: Channel,
}

impl Plugin {
    /// Starts `program args…` with piped stdin/stdout (stderr inherited, as Plakar does).
    pub async fn spawn(program: &str, args: &[&str]) -> Result<Plugin> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let io = tokio::io::join(
            child.stdout.take().expect("piped stdout"),
            child.stdin.take().expect("piped stdin"),
        );
        let channel = crate::stdio::channel(io).await?;
        Ok(Plugin { child, channel })
    }

    /// Drops the connection (closing the plugin's stdin) and waits for the exit code.
    pub async fn close(self) -> Result<std::process::ExitStatus> {
        let Plugin { mut child, channel } = self;
        drop(channel);
        Ok(child.wait().await?)
    }
}

/// What an import produced.
#[derive(Debug, Default)]
pub struct Imported {
    /// Every record, in the order received.
    pub records: Vec<Record>,
    /// Acknowledged results the host sent back (one per record when acking).
    pub acks_sent: usize,
    /// Content of each file record, by pathname.
    pub contents: HashMap<String, Vec<u8>>,
}

/// Init + Import (+ Open for every file). `ack`: send one acknowledgement per record.
pub async fn import(
    channel: Channel,
    proto: &str,
    config: HashMap<String, String>,
    ack: bool,
) -> Result<Imported> {
    let mut client = ImporterClient::new(channel);
    client
        .init(importer::InitRequest {
            options: Some(importer::Options {
                maxconcurrency: 4,
                ..Default::default()
            }),
            proto: proto.to_string(),
            config,
        })
        .await
        .map_err(status)?;
    let (acks, rx) = mpsc::unbounded_channel::<ImportRequest>();
    let mut stream = client
        .import(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .await
        .map_err(status)?
        .into_inner();
    let mut out = Imported::default();
    let mut finished = false;
    while let Some(msg) = stream.message().await.map_err(status)? {
        if msg.finished {
            finished = true;
            break;
        }
        let Some(record) = msg.record else { continue };
        if ack {
            let _ = acks.send(ImportRequest {
                result: Some(RecordResult {
                    header: Some(record.clone()),
                    error: String::new(),
                }),
            });
            out.acks_sent += 1;
        }
        out.records.push(record);
    }
    if !finished {
        return Err(Error::Transport(
            "the import ended without `finished`".into(),
        ));
    }
    drop(acks);
    for r in out.records.iter().filter(|r| r.has_reader) {
        let mut pieces = client
            .open(OpenRequest {
                record: Some(r.clone()),
            })
            .await
            .map_err(status)?
            .into_inner();
        let mut content = Vec::new();
        while let Some(p) = pieces.message().await.map_err(status)? {
            if p.chunk.len() > CHUNK {
                return Err(Error::Transport(format!(
                    "{}: a {}-byte piece exceeds 1 MiB",
                    r.pathname,
                    p.chunk.len()
                )));
            }
            content.extend_from_slice(&p.chunk);
        }
        out.contents.insert(r.pathname.clone(), content);
    }
    client
        .close(importer::CloseRequest {})
        .await
        .map_err(status)?;
    Ok(out)
}

/// The export requests for `records` in tree-walk order (parents first), each file followed by
/// its content and an empty chunk.
pub fn export_requests(
    records: &[Record],
    contents: &HashMap<String, Vec<u8>>,
) -> Vec<ExportRequest> {
    let mut sorted: Vec<&Record> = records.iter().filter(|r| r.error.is_empty()).collect();
    sorted.sort_by(|a, b| a.pathname.cmp(&b.pathname));
    let mut out = Vec::new();
    for r in sorted {
        out.push(ExportRequest {
            packet: Some(Packet::Record(r.clone())),
        });
        if r.has_reader {
            let content = contents.get(&r.pathname).map(Vec::as_slice).unwrap_or(&[]);
            for c in content.chunks(CHUNK) {
                out.push(ExportRequest {
                    packet: Some(Packet::Chunk(c.to_vec())),
                });
            }
            out.push(ExportRequest {
                packet: Some(Packet::Chunk(Vec::new())),
            });
        }
    }
    out
}

/// Init + Export of `requests`; returns every result the plugin answered.
pub async fn export(
    channel: Channel,
    proto: &str,
    config: HashMap<String, String>,
    requests: Vec<ExportRequest>,
) -> Result<Vec<RecordResult>> {
    let mut client = ExporterClient::new(channel);
    client
        .init(exporter::InitRequest {
            options: None,
            proto: proto.to_string(),
            config,
        })
        .await
        .map_err(status)?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        for r in requests {
            if tx.send(r).await.is_err() {
                break;
            }
        }
    });
    let results: Vec<_> = client
        .export(ReceiverStream::new(rx))
        .await
        .map_err(status)?
        .into_inner()
        .collect()
        .await;
    let mut out = Vec::new();
    for r in results {
        if let Some(r) = r.map_err(status)?.result {
            out.push(r);
        }
    }
    client
        .close(exporter::CloseRequest {})
        .await
        .map_err(status)?;
    Ok(out)
}
