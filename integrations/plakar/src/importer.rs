//! The importer service. Init opens the source; Import lists and fetches secrets with bounded
//! concurrency and streams their records as each secret arrives, while a separate task drains
//! the host's acknowledgements (so a host that never acks cannot stall us, and one that closes
//! early simply stops the producer); Open hands each file's content out once, in ≤ 1 MiB pieces,
//! then forgets (zeroizes) it. Values are read during Import, not in Open: the version metadata
//! written to `secret.json` depends on the read (AWS binary vs string), and the `stream` flag
//! tells the host to run Import once, with no counting pass that would read every value twice.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use secretsnap_core::fetch::fetch_each;
use secretsnap_core::model::show_time;
use secretsnap_core::NothingKnown;
use secretsnap_core::{Filter, Payload, Secret, Source};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use zeroize::Zeroizing;

use crate::config::{wipe, PluginConfig, Side};
use crate::connect::Connect;
use crate::layout::{self, CHUNK};
use crate::proto::importer::importer_server::Importer;
use crate::proto::importer::*;
use crate::proto::Record;

/// Location flag: Import runs once; the host makes no counting pass.
pub const FLAG_STREAM: u32 = 1 << 2;

struct Session {
    source: Box<dyn Source>,
    filter: Filter,
    cfg: PluginConfig,
    concurrency: usize,
}

/// Contents not yet handed out, by pathname.
type Contents = Arc<Mutex<HashMap<String, Zeroizing<Vec<u8>>>>>;

pub struct ImporterService<C> {
    connect: Arc<C>,
    session: Mutex<Option<Arc<Session>>>,
    contents: Contents,
}

impl<C: Connect> ImporterService<C> {
    pub fn new(connect: C) -> Self {
        ImporterService {
            connect: Arc::new(connect),
            session: Mutex::new(None),
            contents: Arc::default(),
        }
    }

    fn session(&self) -> Result<Arc<Session>, Status> {
        self.session
            .lock()
            .expect("session lock")
            .clone()
            .ok_or_else(|| Status::failed_precondition("Init was not called"))
    }
}

/// `fr-par/<project>` or `eu-west-1`: the origin a host records.
fn origin(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split('?').next().unwrap_or("").to_string()
}

#[tonic::async_trait]
impl<C: Connect> Importer for ImporterService<C> {
    async fn init(&self, req: Request<InitRequest>) -> Result<Response<InitResponse>, Status> {
        let mut req = req.into_inner();
        let cfg = PluginConfig::parse(&req.proto, &req.config, Side::Importer);
        wipe(&mut req.config); // the host's map carries credentials: parsed, then wiped
        let cfg = cfg.map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (source, mut filter) = self
            .connect
            .source(&cfg)
            .await
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        filter.read_disabled = cfg.read_disabled;
        filter.read_once = cfg.read_once;
        filter.face = secretsnap_core::Face::Plugin;
        let concurrency = req
            .options
            .map(|o| o.maxconcurrency)
            .filter(|c| *c > 0)
            .unwrap_or(8)
            .clamp(1, 32) as usize;
        let loc = source.location();
        let origin = origin(&loc.url());
        tracing::info!("importer ready for {}", loc.url());
        *self.session.lock().expect("session lock") = Some(Arc::new(Session {
            source,
            filter,
            cfg,
            concurrency,
        }));
        Ok(Response::new(InitResponse {
            origin,
            r#type: req.proto,
            root: "/".into(),
            flags: FLAG_STREAM,
        }))
    }

    async fn ping(&self, _: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        Ok(Response::new(PingResponse {}))
    }

    type ImportStream = ReceiverStream<Result<ImportResponse, Status>>;

    async fn import(
        &self,
        req: Request<Streaming<ImportRequest>>,
    ) -> Result<Response<Self::ImportStream>, Status> {
        let session = self.session()?;
        let mut acks = req.into_inner();
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while let Ok(Some(ack)) = acks.message().await {
                match ack.result {
                    Some(r) if !r.error.is_empty() => {
                        failed += 1;
                        let path = r.header.map(|h| h.pathname).unwrap_or_default();
                        tracing::warn!("host could not store {path}: {}", r.error);
                    }
                    _ => ok += 1,
                }
            }
            tracing::debug!("acknowledgements: {ok} ok, {failed} failed");
        });
        let (tx, rx) = mpsc::channel(64);
        let contents = self.contents.clone();
        tokio::spawn(async move {
            if let Err(status) = produce(&session, &contents, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type OpenStream = futures::stream::Iter<std::vec::IntoIter<Result<OpenResponse, Status>>>;

    async fn open(&self, req: Request<OpenRequest>) -> Result<Response<Self::OpenStream>, Status> {
        let path = req
            .into_inner()
            .record
            .map(|r| r.pathname)
            .unwrap_or_default();
        let content = self
            .contents
            .lock()
            .expect("contents lock")
            .remove(&path)
            .ok_or_else(|| Status::not_found("file does not exist"))?;
        let chunks: Vec<_> = content
            .chunks(CHUNK)
            .map(|c| Ok(OpenResponse { chunk: c.to_vec() }))
            .collect();
        Ok(Response::new(futures::stream::iter(chunks)))
    }

    async fn close(&self, _: Request<CloseRequest>) -> Result<Response<CloseResponse>, Status> {
        self.contents.lock().expect("contents lock").clear();
        Ok(Response::new(CloseResponse {}))
    }
}

type Tx = mpsc::Sender<Result<ImportResponse, Status>>;

/// Sends one record; `false` when the host has gone (stop producing).
async fn send(tx: &Tx, record: Record) -> bool {
    tx.send(Ok(ImportResponse {
        record: Some(record),
        finished: false,
    }))
    .await
    .is_ok()
}

/// Lists, fetches and streams every secret; a listing failure is the only fatal error.
async fn produce(session: &Session, contents: &Contents, tx: &Tx) -> Result<(), Status> {
    let src = session.source.as_ref();
    let list = src
        .list(&session.filter)
        .await
        .map_err(|e| Status::unavailable(format!("listing secrets: {e}")))?;
    let now = chrono::Utc::now().to_rfc3339();
    if !send(tx, layout::dir_record("/", &now)).await {
        return Ok(());
    }
    let mut dirs = BTreeSet::new();
    let (mut secrets, mut versions, mut failed) = (0usize, 0usize, 0usize);
    let filter = &session.filter;
    let mut fetched = fetch_each(
        src,
        list,
        filter,
        &NothingKnown,
        session.concurrency,
        layout::secret_dir,
    );
    while let Some((dir, result)) = fetched.next().await {
        let records = match result {
            Ok(s) => {
                secrets += 1;
                versions += s.versions.len();
                failed += s
                    .versions
                    .iter()
                    .filter(|v| matches!(v.payload, Payload::Failed(_)))
                    .count();
                secret_records(&s, &dir, &mut dirs, contents)
            }
            Err(f) => {
                failed += 1;
                tracing::warn!("{}: {}", f.item, f.reason);
                let mut out: Vec<Record> = new_dirs(&dir, &mut dirs, &now);
                out.push(layout::error_record(&dir, &f.reason));
                out
            }
        };
        for r in records {
            if !send(tx, r).await {
                tracing::info!("host stopped the import");
                return Ok(());
            }
        }
    }
    let info = serde_json::json!({
        "format": 1,
        "source": src.location().url(),
        "environment": session.cfg.environment,
        "data_classes": session.cfg.data_classes,
        "secrets": secrets,
        "versions": versions,
        "failed": failed,
        "api_calls": src.calls(),
        "imported_at": now,
    });
    let info = Zeroizing::new(serde_json::to_vec_pretty(&info).expect("info serializes"));
    let path = format!("/{}", layout::INFO_FILE);
    let record = layout::file_record(&path, info.len(), &now);
    contents.lock().expect("contents lock").insert(path, info);
    if send(tx, record).await {
        let _ = tx
            .send(Ok(ImportResponse {
                record: None,
                finished: true,
            }))
            .await;
    }
    tracing::info!("imported {secrets} secrets, {versions} versions, {failed} failures");
    Ok(())
}

/// Directory records for `dir` and its parents not sent yet.
fn new_dirs(dir: &str, sent: &mut BTreeSet<String>, mtime: &str) -> Vec<Record> {
    layout::parents(dir)
        .into_iter()
        .chain(std::iter::once(dir.to_string()))
        .filter(|d| sent.insert(d.clone()))
        .map(|d| layout::dir_record(&d, mtime))
        .collect()
}

/// A secret's records; their contents go to `contents` before the records are sent.
fn secret_records(
    s: &Secret,
    dir: &str,
    dirs: &mut BTreeSet<String>,
    contents: &Contents,
) -> Vec<Record> {
    let mtime = s
        .updated_at
        .or(s.created_at)
        .map(|t| show_time(&t))
        .unwrap_or_default();
    let mtime = mtime.as_str();
    let mut out = new_dirs(dir, dirs, mtime);
    let meta = Zeroizing::new(serde_json::to_vec_pretty(s).expect("secret metadata serializes"));
    let meta_path = format!("{dir}/{}", layout::SECRET_FILE);
    out.push(layout::file_record(&meta_path, meta.len(), mtime));
    let mut map = contents.lock().expect("contents lock");
    map.insert(meta_path, meta);
    let vdir = format!("{dir}/{}", layout::VERSIONS_DIR);
    let mut vdir_sent = false;
    for v in &s.versions {
        let path = layout::version_path(dir, v);
        let record = match &v.payload {
            Payload::Bytes(b) => {
                map.insert(path.clone(), b.clone());
                let created = v.created_at.map(|t| show_time(&t)).unwrap_or_default();
                layout::file_record(&path, b.len(), &created)
            }
            Payload::Failed(reason) => layout::error_record(&path, reason),
            // Not read on purpose (disabled, read-once): secret.json says why.
            _ => continue,
        };
        if !vdir_sent {
            out.push(layout::dir_record(&vdir, mtime));
            vdir_sent = true;
        }
        out.push(record);
    }
    out
}
