//! What every command needs before it does its own work, resolved in one place: the
//! configuration file, `-r @NAME` named repositories, a source's referenced credentials, the
//! repository location, passphrase and cache, and the time (`--now` for tests). Every command
//! depends on this module; it depends on no command.

use anyhow::{anyhow, Context as _};
use chrono::{DateTime, Utc};
use secretsnap::locations::{Connections, Keys};
use secretsnap::sla::config::{Config, Source};
use secretsnap_store::{backend, OpenOptions, Repository};

use super::output::usage;
use super::password::passphrase;
use super::Global;

pub fn load(g: &Global) -> anyhow::Result<Config> {
    let path = g
        .config
        .clone()
        .or_else(secretsnap::sla::config::default_path)
        .ok_or_else(|| usage("no configuration: pass --config or set SECRETSNAP_CONFIG"))?;
    if !path.exists() {
        return Err(usage(format!(
            "no configuration file at {}",
            path.display()
        )));
    }
    Config::load(&path).map_err(usage)
}

pub fn now(g: &Global) -> anyhow::Result<DateTime<Utc>> {
    match &g.now {
        Some(t) => secretsnap::engine::select::parse_time(t).map_err(usage),
        None => Ok(Utc::now()),
    }
}

/// `g` pointing at the configuration's repository `name`.
pub fn with_repository(g: &Global, cfg: &Config, name: &str) -> anyhow::Result<Global> {
    let r = cfg.repository(name).map_err(usage)?;
    let mut out = g.clone();
    out.repo = Some(r.url.clone());
    out.repo_password = Some(r.password.clone());
    if out.cache_dir.is_none() {
        out.cache_dir = r.cache_dir.clone();
    }
    Ok(out)
}

/// `-r @NAME`, or the configuration's only repository when no `-r` is given.
pub fn named_repository(g: &Global) -> anyhow::Result<Global> {
    let cfg = load(g)?;
    let name = match g.repo.as_deref().and_then(|r| r.strip_prefix('@')) {
        Some(n) => n.to_string(),
        None if cfg.repositories.len() == 1 => {
            cfg.repositories.keys().next().cloned().unwrap_or_default()
        }
        None => {
            return Err(usage(
                "several repositories are configured: choose one with -r @NAME",
            ))
        }
    };
    with_repository(g, &cfg, &name)
}

/// The credentials a source references, resolved now.
pub fn keys(src: &Source) -> anyhow::Result<Keys> {
    let get = |k: &str| -> anyhow::Result<Option<zeroize::Zeroizing<String>>> {
        src.credentials
            .get(k)
            .map(|r| {
                r.resolve()
                    .map_err(|e| anyhow!("source {}: credential {k}: {e}", src.name))
            })
            .transpose()
    };
    Ok(Keys {
        access_key: get("access_key")?.map(|k| k.to_string()),
        secret_key: get("secret_key")?,
        session_token: get("session_token")?,
    })
}

pub fn open_options(g: &Global) -> OpenOptions {
    let cache_dir = g.cache_dir.clone().or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
            .map(|d| d.join("secretsnap"))
    });
    OpenOptions {
        cache_dir,
        ..Default::default()
    }
}

pub fn location(g: &Global) -> anyhow::Result<&str> {
    g.repo
        .as_deref()
        .context("no repository: pass --repo or set SECRETSNAP_REPOSITORY")
}

/// `g`, with `-r @NAME` (or no `-r` and a configuration) resolved to a configured repository.
pub fn resolved(g: &Global) -> anyhow::Result<std::borrow::Cow<'_, Global>> {
    let named = g.repo.as_deref().is_some_and(|r| r.starts_with('@'));
    if named || (g.repo.is_none() && g.config.is_some()) {
        Ok(std::borrow::Cow::Owned(named_repository(g)?))
    } else {
        Ok(std::borrow::Cow::Borrowed(g))
    }
}

pub async fn open(g: &Global) -> anyhow::Result<Repository> {
    let g = &*resolved(g)?;
    let b = backend::open_url(location(g)?, &Default::default())?;
    Ok(Repository::open(b, &passphrase(g)?, open_options(g)).await?)
}

/// Connections for a command line location: `--max-rate` applies.
pub fn connections(g: &Global) -> Connections {
    let mut c = Connections::default();
    c.max_rate = g.max_rate;
    c
}

/// Connections for a configured source: its credentials, and `--max-rate` else its `max_rate`.
pub fn source_connections(g: &Global, src: &Source) -> anyhow::Result<Connections> {
    let mut c = Connections::default();
    c.keys = keys(src)?;
    c.max_rate = g.max_rate.or(src.max_rate);
    Ok(c)
}
