//! The exporter service. Records arrive in tree-walk order, each file followed by its content in
//! chunks and one empty chunk. A secret's records (`secret.json` and `versions/*`) are gathered
//! until the walk leaves its directory (or the stream ends); the secret then goes through the
//! destination's plan and apply, exactly as `secretsnap restore` does, and every one of its
//! records gets a result carrying that secret's error, if any. Directories and the info file are
//! answered at once. Results never wait for the host, and the host never waits for them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use secretsnap_core::restore::restore_each;
use secretsnap_core::{Destination, Payload, Secret};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use zeroize::Zeroizing;

use crate::config::{wipe, PluginConfig, Side};
use crate::connect::Connect;
use crate::layout::{self, Kind};
use crate::proto::plakar::exporter::export_request::Packet;
use crate::proto::plakar::exporter::exporter_server::Exporter;
use crate::proto::plakar::exporter::*;
use crate::proto::{Record, RecordResult};

/// Largest content accepted for one record (a secret.json with thousands of versions is far
/// below this; provider values are at most 64 KiB).
pub const MAX_CONTENT: usize = 64 << 20;

struct Session {
    dest: Box<dyn Destination>,
    cfg: PluginConfig,
}

pub struct ExporterService<C> {
    connect: Arc<C>,
    session: Mutex<Option<Arc<Session>>>,
}

impl<C: Connect> ExporterService<C> {
    pub fn new(connect: C) -> Self {
        ExporterService {
            connect: Arc::new(connect),
            session: Mutex::new(None),
        }
    }
}

#[tonic::async_trait]
impl<C: Connect> Exporter for ExporterService<C> {
    async fn init(&self, req: Request<InitRequest>) -> Result<Response<InitResponse>, Status> {
        let mut req = req.into_inner();
        let cfg = PluginConfig::parse(&req.proto, &req.config, Side::Exporter);
        wipe(&mut req.config); // the host's map carries credentials: parsed, then wiped
        let mut cfg = cfg.map_err(|e| Status::invalid_argument(e.to_string()))?;
        cfg.restore.origins = self.connect.origins();
        let dest = self
            .connect
            .destination(&cfg)
            .await
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let url = dest.location().url();
        tracing::info!(
            "exporter ready for {url}{}",
            if cfg.dry_run { " (dry run)" } else { "" }
        );
        *self.session.lock().expect("session lock") = Some(Arc::new(Session { dest, cfg }));
        Ok(Response::new(InitResponse {
            origin: url
                .split_once("://")
                .map(|(_, r)| r.to_string())
                .unwrap_or(url),
            r#type: req.proto,
            root: "/".into(),
            flags: 0,
        }))
    }

    async fn ping(&self, _: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        Ok(Response::new(PingResponse {}))
    }

    type ExportStream = ReceiverStream<Result<ExportResponse, Status>>;

    async fn export(
        &self,
        req: Request<Streaming<ExportRequest>>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let session = self
            .session
            .lock()
            .expect("session lock")
            .clone()
            .ok_or_else(|| Status::failed_precondition("Init was not called"))?;
        let inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut run = Run {
                session,
                tx,
                pending: BTreeMap::new(),
                restored: 0,
                failed: 0,
            };
            run.consume(inbound).await;
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn close(&self, _: Request<CloseRequest>) -> Result<Response<CloseResponse>, Status> {
        Ok(Response::new(CloseResponse {}))
    }
}

/// A secret's records gathered so far.
#[derive(Default)]
struct Gathered {
    secret: Option<(Record, Result<Secret, String>)>,
    versions: Vec<(Record, String, Zeroizing<Vec<u8>>)>,
}

struct Run {
    session: Arc<Session>,
    tx: mpsc::Sender<Result<ExportResponse, Status>>,
    /// By secret directory.
    pending: BTreeMap<String, Gathered>,
    restored: usize,
    failed: usize,
}

impl Run {
    async fn consume(&mut self, mut inbound: Streaming<ExportRequest>) {
        // The record whose content is being received.
        let mut current: Option<(Record, Zeroizing<Vec<u8>>)> = None;
        loop {
            let packet = match inbound.message().await {
                Ok(Some(m)) => m.packet,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("export stream ended: {e}");
                    break;
                }
            };
            match packet {
                Some(Packet::Record(r)) => {
                    if let Some((prev, _)) = current.take() {
                        self.answer(
                            prev,
                            Some("its content was not terminated by an empty chunk"),
                        )
                        .await;
                    }
                    self.flush_outside(&r.pathname).await;
                    if r.has_reader {
                        current = Some((r, Zeroizing::new(Vec::new())));
                    } else {
                        self.record(r, None).await;
                    }
                }
                Some(Packet::Chunk(c)) => match current.as_mut() {
                    None if c.is_empty() => {}
                    None => tracing::warn!("content chunk without a record: ignored"),
                    Some(_) if c.is_empty() => {
                        let (r, content) = current.take().expect("checked");
                        self.record(r, Some(content)).await;
                    }
                    Some((_, buf)) => {
                        if buf.len() + c.len() > MAX_CONTENT {
                            let (r, _) = current.take().expect("checked");
                            self.answer(r, Some("content larger than 64 MiB")).await;
                        } else {
                            buf.extend_from_slice(&c);
                        }
                        let mut c = c;
                        zeroize::Zeroize::zeroize(&mut c);
                    }
                },
                None => {}
            }
        }
        if let Some((r, _)) = current.take() {
            self.answer(r, Some("the stream ended inside its content"))
                .await;
        }
        let dirs: Vec<String> = self.pending.keys().cloned().collect();
        for d in dirs {
            self.flush(&d).await;
        }
        tracing::info!(
            "export finished: {} secrets restored, {} failed",
            self.restored,
            self.failed
        );
    }

    async fn answer(&self, record: Record, error: Option<&str>) {
        let _ = self
            .tx
            .send(Ok(ExportResponse {
                result: Some(RecordResult {
                    header: Some(record),
                    error: error.unwrap_or_default().to_string(),
                }),
            }))
            .await;
    }

    /// Restores every gathered secret whose directory does not contain `path` (the walk has
    /// left it, so it is complete).
    async fn flush_outside(&mut self, path: &str) {
        let done: Vec<String> = self
            .pending
            .keys()
            .filter(|d| !path.starts_with(&format!("{d}/")))
            .cloned()
            .collect();
        for d in done {
            self.flush(&d).await;
        }
    }

    async fn record(&mut self, r: Record, content: Option<Zeroizing<Vec<u8>>>) {
        match layout::classify(&r.pathname) {
            Kind::Other => {
                let dir = r
                    .file_info
                    .as_ref()
                    .is_some_and(|f| f.mode & layout::MODE_DIR != 0);
                let info = r.pathname.ends_with(&format!("/{}", layout::INFO_FILE));
                if dir || info || !r.has_reader {
                    self.answer(r, None).await;
                } else {
                    let why = format!(
                        "not a secretsnap record (expected <secret>/{} or <secret>/{}/<id>)",
                        layout::SECRET_FILE,
                        layout::VERSIONS_DIR
                    );
                    self.answer(r, Some(&why)).await;
                }
            }
            Kind::Secret { dir } => {
                let parsed = serde_json::from_slice::<Secret>(
                    content.as_ref().map(|c| c.as_slice()).unwrap_or(&[]),
                )
                .map(|mut s| {
                    // Written by an older importer: typed fields may still be in `extras`.
                    s.upgrade();
                    s
                })
                .map_err(|e| format!("{}: {e}", layout::SECRET_FILE));
                self.pending.entry(dir).or_default().secret = Some((r, parsed));
            }
            Kind::Version { dir, name } => {
                let content = content.unwrap_or_default();
                self.pending
                    .entry(dir)
                    .or_default()
                    .versions
                    .push((r, name, content));
            }
        }
    }

    async fn flush(&mut self, dir: &str) {
        let Some(g) = self.pending.remove(dir) else {
            return;
        };
        let (secret_record, mut secret) = match g.secret {
            Some((r, Ok(s))) => (r, s),
            Some((r, Err(e))) => {
                self.failed += 1;
                self.answer(r, Some(&e)).await;
                for (vr, _, _) in g.versions {
                    self.answer(vr, Some("its secret.json could not be read"))
                        .await;
                }
                return;
            }
            None => {
                self.failed += 1;
                for (vr, _, _) in g.versions {
                    self.answer(vr, Some("no secret.json in this secret's folder"))
                        .await;
                }
                return;
            }
        };
        let mut strays = Vec::new();
        let mut records = Vec::new();
        for (vr, name, content) in g.versions {
            match secret
                .versions
                .iter_mut()
                .find(|v| layout::segment(&v.id) == name)
            {
                Some(v) => {
                    v.payload = Payload::Bytes(content);
                    records.push(vr);
                }
                None => strays.push(vr),
            }
        }
        for v in &mut secret.versions {
            if matches!(v.payload, Payload::Absent) && v.not_read.is_none() {
                v.not_read = Some("its value was not in the snapshot".into());
            }
        }
        let s = &self.session;
        let (plan, report) = restore_each(
            s.dest.as_ref(),
            std::slice::from_ref(&secret),
            &s.cfg.restore,
            s.cfg.dry_run,
            &|_| {},
        )
        .await;
        for item in &plan.items {
            tracing::info!(
                "{}: {}",
                item.secret,
                serde_json::to_string(&item.action).unwrap_or_default()
            );
            for n in &item.notes {
                tracing::info!("{}: {n}", item.secret);
            }
        }
        for skip in &report.skipped {
            tracing::warn!("{}: skipped: {}", skip.item, skip.reason);
        }
        let error = report
            .failed
            .first()
            .map(|f| format!("{}: {}", secret.full_name(), f.reason));
        if error.is_some() {
            self.failed += 1;
        } else {
            self.restored += 1;
        }
        self.answer(secret_record, error.as_deref()).await;
        for vr in records {
            self.answer(vr, error.as_deref()).await;
        }
        for vr in strays {
            self.answer(vr, Some("no such version in secret.json"))
                .await;
        }
    }
}
