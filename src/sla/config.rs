//! The configuration file: named repositories, named sources and SLA policies, in TOML. Found at
//! `--config`, `SECRETSNAP_CONFIG`, or `$XDG_CONFIG_HOME/secretsnap/config.toml` (else
//! `~/.config/secretsnap/config.toml`). Secrets are never written here: credentials and
//! passphrases are references (an environment variable, a file, a command). Every error names
//! the file, the line and the key. The format is documented in docs/configuration.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use zeroize::Zeroizing;

use crate::engine::retention::{KeepPolicy, Span};
use crate::sla::cadence::Cadence;

/// A configuration error: `file:line: key: what`.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// Where a secret comes from; never the secret itself.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Reference {
    /// An environment variable's value.
    Env(String),
    /// A file's first line.
    File(PathBuf),
    /// A shell command's first output line.
    Command(String),
}

impl Reference {
    /// The secret, read now.
    pub fn resolve(&self) -> Result<Zeroizing<String>, String> {
        let text = match self {
            Reference::Env(v) => Zeroizing::new(
                std::env::var(v).map_err(|_| format!("environment variable {v} is not set"))?,
            ),
            Reference::File(p) => Zeroizing::new(
                std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?,
            ),
            Reference::Command(c) => {
                let out = std::process::Command::new("sh")
                    .args(["-c", c])
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .map_err(|e| format!("running {c:?}: {e}"))?;
                if !out.status.success() {
                    return Err(format!("{c:?} exited with {}", out.status));
                }
                Zeroizing::new(
                    String::from_utf8(out.stdout)
                        .map_err(|_| format!("{c:?} printed non-UTF-8"))?,
                )
            }
        };
        let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
        Ok(Zeroizing::new(line.to_string()))
    }
}

/// A credential value in the file: a reference; a plain string is refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawReference {
    Reference(Reference),
    Literal(#[allow(dead_code)] String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepository {
    url: String,
    password: Spanned<RawReference>,
    cache_dir: Option<PathBuf>,
    /// How often to prune (reclaim space); default daily.
    prune: Option<Spanned<String>>,
    /// Scheduled prunes take the exclusive lock (immediate reclamation, backups wait) instead
    /// of lock-free maintenance.
    #[serde(default)]
    exclusive_prune: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    url: Spanned<String>,
    repository: Spanned<String>,
    environment: Option<String>,
    #[serde(default)]
    data_classes: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    job: Option<String>,
    #[serde(default)]
    read_disabled: bool,
    /// At most this many API requests per second (a quota shared with production traffic).
    max_rate: Option<f64>,
    /// Read every secret in full again after this long (list-only incremental runs between).
    full_scan_every: Option<Spanned<String>>,
    #[serde(default)]
    credentials: BTreeMap<String, Spanned<RawReference>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    environment: Option<String>,
    #[serde(default)]
    data_classes: Vec<String>,
    tag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeep {
    #[serde(default)]
    last: u32,
    #[serde(default)]
    hourly: u32,
    #[serde(default)]
    daily: u32,
    #[serde(default)]
    weekly: u32,
    #[serde(default)]
    monthly: u32,
    #[serde(default)]
    yearly: u32,
    within: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    every: Spanned<String>,
    read_data: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrill {
    every: Spanned<String>,
    into: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    scope: RawScope,
    every: Option<Spanned<String>>,
    cron: Option<Spanned<String>>,
    /// Time zone of `cron` (default: `[schedule] tz`, else UTC).
    tz: Option<Spanned<String>>,
    grace: Option<Spanned<String>>,
    #[serde(default)]
    keep: RawKeep,
    check: Option<RawCheck>,
    drill: Option<RawDrill>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    jitter: Option<Spanned<String>>,
    parallel: Option<usize>,
    state_file: Option<PathBuf>,
    lock_wait: Option<Spanned<String>>,
    /// Default time zone of every cron expression.
    tz: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    repositories: BTreeMap<String, RawRepository>,
    #[serde(default)]
    sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    policies: BTreeMap<String, RawPolicy>,
}

#[derive(Debug, Clone)]
pub struct Repository {
    pub name: String,
    pub url: String,
    pub password: Reference,
    pub cache_dir: Option<PathBuf>,
    pub prune: Cadence,
    /// Scheduled prunes are exclusive (`prune --exclusive`) rather than lock-free maintenance.
    pub exclusive_prune: bool,
}

/// Credential names a source may reference (the same names as the Plakar plugin's keys).
pub const CREDENTIALS: &[&str] = &["access_key", "secret_key", "session_token"];

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub url: String,
    pub repository: String,
    pub environment: Option<String>,
    pub data_classes: Vec<String>,
    pub tags: Vec<String>,
    /// Job name recorded in snapshots (default: the source's name).
    pub job: String,
    pub read_disabled: bool,
    /// At most this many API requests per second to the provider (`--max-rate` wins).
    pub max_rate: Option<f64>,
    /// How long a list-only incremental run may carry a secret before reading it in full again.
    pub full_scan_every: Duration,
    pub credentials: BTreeMap<String, Reference>,
}

impl Source {
    /// The engine's options for a backup of this source: its SLA fields and job name, and the
    /// URL's filters (`filter`, from its location) with the source's `read_disabled`.
    pub fn backup_options(&self, filter: secretsnap_core::Filter) -> crate::engine::BackupOptions {
        crate::engine::BackupOptions {
            filter: secretsnap_core::Filter {
                read_disabled: self.read_disabled,
                ..filter
            },
            environment: self.environment.clone(),
            data_classes: self.data_classes.clone(),
            tags: self.tags.clone(),
            job: Some(self.job.clone()),
            concurrency: crate::engine::BackupOptions::DEFAULT_CONCURRENCY,
            full_scan: false,
            full_scan_every: self.full_scan_every,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub environment: Option<String>,
    pub data_classes: Vec<String>,
    pub tag: Option<String>,
}

impl Scope {
    pub fn matches(&self, s: &Source) -> bool {
        self.environment
            .as_ref()
            .is_none_or(|e| s.environment.as_ref() == Some(e))
            && self.data_classes.iter().all(|c| s.data_classes.contains(c))
            && self.tag.as_ref().is_none_or(|t| s.tags.contains(t))
    }

    /// How specific the scope is (more fields set wins).
    pub fn weight(&self) -> usize {
        self.environment.is_some() as usize + self.data_classes.len() + self.tag.is_some() as usize
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub every: Cadence,
    pub read_data: Option<String>,
}

/// A restore drill in a policy: how often, into which scratch target.
#[derive(Debug, Clone)]
pub struct Drill {
    pub every: Cadence,
    /// The scratch target's location URL (checked when the file is read).
    pub into: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub scope: Scope,
    pub backup: Cadence,
    pub grace: Duration,
    pub keep: KeepPolicy,
    pub check: Option<Check>,
    pub drill: Option<Drill>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub jitter: Duration,
    pub parallel: usize,
    pub state_file: PathBuf,
    /// How long a scheduled prune waits for another process's lock on its repository.
    pub lock_wait: Duration,
    pub repositories: BTreeMap<String, Repository>,
    pub sources: BTreeMap<String, Source>,
    pub policies: BTreeMap<String, Policy>,
}

/// The default configuration path.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("secretsnap/config.toml"))
}

/// A scheduled prune waits this long for backups run by other processes (a few minutes).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5 * 60);

fn default_state_file() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("secretsnap/state.json")
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError {
            file: self.file.display().to_string(),
            line: self.line(span.start),
            key: key.to_string(),
            message: message.into(),
        })
    }

    fn reference(&self, r: &Spanned<RawReference>, key: &str) -> Result<Reference, ConfigError> {
        match r.get_ref() {
            RawReference::Reference(r) => Ok(r.clone()),
            RawReference::Literal(_) => self.err(
                r.span(),
                key,
                "secret values are never written in the config: use { env = \"VAR\" }, { file = \
                 \"/path\" } or { command = \"…\" }",
            ),
        }
    }

    fn zone(&self, s: &Spanned<String>, key: &str) -> Result<chrono_tz::Tz, ConfigError> {
        s.get_ref().parse::<chrono_tz::Tz>().or_else(|_| {
            self.err(
                s.span(),
                key,
                format!(
                    "{:?} is not a time zone of the IANA database (e.g. UTC, Europe/Paris)",
                    s.get_ref()
                ),
            )
        })
    }

    fn duration(&self, s: &Spanned<String>, key: &str) -> Result<Duration, ConfigError> {
        humantime::parse_duration(s.get_ref()).or_else(|e| {
            self.err(
                s.span(),
                key,
                format!("{:?}: {e} (e.g. 30m, 6h, 1d)", s.get_ref()),
            )
        })
    }
}

impl Config {
    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(path, &text)
    }

    pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let ctx = Ctx { file, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| ctx.line(s.start)).unwrap_or(0);
            ConfigError {
                file: file.display().to_string(),
                line,
                key: String::new(),
                message: e.message().trim().to_string(),
            }
        })?;
        let default_zone = match &raw.schedule.tz {
            Some(z) => ctx.zone(z, "schedule.tz")?,
            None => chrono_tz::Tz::UTC,
        };
        let mut repositories = BTreeMap::new();
        for (name, r) in raw.repositories {
            let key = format!("repositories.{name}");
            let prune = match &r.prune {
                Some(p) => Cadence::parse(p.get_ref())
                    .or_else(|e| ctx.err(p.span(), &format!("{key}.prune"), e.to_string()))?
                    .in_zone(default_zone),
                None => Cadence::Every(Duration::from_secs(86_400)),
            };
            repositories.insert(
                name.clone(),
                Repository {
                    password: ctx.reference(&r.password, &format!("{key}.password"))?,
                    name,
                    url: r.url,
                    cache_dir: r.cache_dir,
                    prune,
                    exclusive_prune: r.exclusive_prune,
                },
            );
        }
        let mut sources = BTreeMap::new();
        for (name, s) in raw.sources {
            let key = format!("sources.{name}");
            if !repositories.contains_key(s.repository.get_ref()) {
                return ctx.err(
                    s.repository.span(),
                    &format!("{key}.repository"),
                    format!(
                        "no repository named {:?} in [repositories]",
                        s.repository.get_ref()
                    ),
                );
            }
            if let Err(e) = crate::locations::Endpoint::parse(s.url.get_ref()) {
                return ctx.err(s.url.span(), &format!("{key}.url"), e.to_string());
            }
            let mut credentials = BTreeMap::new();
            for (k, r) in &s.credentials {
                let ck = format!("{key}.credentials.{k}");
                if !CREDENTIALS.contains(&k.as_str()) {
                    return ctx.err(
                        r.span(),
                        &ck,
                        format!("unknown credential (known: {})", CREDENTIALS.join(", ")),
                    );
                }
                credentials.insert(k.clone(), ctx.reference(r, &ck)?);
            }
            sources.insert(
                name.clone(),
                Source {
                    url: s.url.into_inner(),
                    repository: s.repository.into_inner(),
                    environment: s.environment,
                    data_classes: s.data_classes,
                    tags: s.tags,
                    job: s.job.unwrap_or_else(|| name.clone()),
                    read_disabled: s.read_disabled,
                    max_rate: s.max_rate,
                    full_scan_every: match &s.full_scan_every {
                        Some(d) => ctx.duration(d, &format!("sources.{name}.full_scan_every"))?,
                        None => crate::engine::BackupOptions::FULL_SCAN_EVERY,
                    },
                    credentials,
                    name,
                },
            );
        }
        let mut policies = BTreeMap::new();
        for (name, p) in raw.policies {
            let key = format!("policies.{name}");
            let backup = match (&p.every, &p.cron) {
                (Some(e), None) => Cadence::Every(ctx.duration(e, &format!("{key}.every"))?),
                (None, Some(c)) => Cadence::parse(&format!("cron {}", c.get_ref()))
                    .or_else(|e| ctx.err(c.span(), &format!("{key}.cron"), e.to_string()))?,
                (Some(e), Some(_)) => {
                    return ctx.err(e.span(), &key, "give either every or cron, not both")
                }
                (None, None) => {
                    return Err(ConfigError {
                        file: file.display().to_string(),
                        line: 0,
                        key,
                        message: "a policy needs a backup frequency: every = \"6h\" or cron = \"0 \
                         */6 * * *\""
                            .into(),
                    })
                }
            };
            let zone = match &p.tz {
                Some(z) => ctx.zone(z, &format!("{key}.tz"))?,
                None => default_zone,
            };
            let backup = backup.in_zone(zone);
            let grace = match &p.grace {
                Some(g) => ctx.duration(g, &format!("{key}.grace"))?,
                None => Duration::from_secs(15 * 60),
            };
            let within = match &p.keep.within {
                Some(w) => Some(
                    w.get_ref()
                        .parse::<Span>()
                        .or_else(|e| ctx.err(w.span(), &format!("{key}.keep.within"), e))?,
                ),
                None => None,
            };
            let check = match p.check {
                Some(c) => Some(Check {
                    every: Cadence::parse(c.every.get_ref())
                        .or_else(|e| {
                            ctx.err(c.every.span(), &format!("{key}.check.every"), e.to_string())
                        })?
                        .in_zone(zone),
                    read_data: c.read_data,
                }),
                None => None,
            };
            let drill = match p.drill {
                Some(d) => {
                    let every = Cadence::parse(d.every.get_ref())
                        .or_else(|e| {
                            ctx.err(d.every.span(), &format!("{key}.drill.every"), e.to_string())
                        })?
                        .in_zone(zone);
                    if let Err(e) = crate::locations::Endpoint::parse(d.into.get_ref()) {
                        return ctx.err(d.into.span(), &format!("{key}.drill.into"), e.to_string());
                    }
                    Some(Drill {
                        every,
                        into: d.into.into_inner(),
                    })
                }
                None => None,
            };
            policies.insert(
                name.clone(),
                Policy {
                    name,
                    scope: Scope {
                        environment: p.scope.environment,
                        data_classes: p.scope.data_classes,
                        tag: p.scope.tag,
                    },
                    backup,
                    grace,
                    keep: KeepPolicy {
                        last: p.keep.last,
                        hourly: p.keep.hourly,
                        daily: p.keep.daily,
                        weekly: p.keep.weekly,
                        monthly: p.keep.monthly,
                        yearly: p.keep.yearly,
                        within,
                    },
                    check,
                    drill,
                },
            );
        }
        let jitter = match &raw.schedule.jitter {
            Some(j) => ctx.duration(j, "schedule.jitter")?,
            None => Duration::ZERO,
        };
        let lock_wait = match &raw.schedule.lock_wait {
            Some(j) => ctx.duration(j, "schedule.lock_wait")?,
            None => DEFAULT_LOCK_WAIT,
        };
        let config = Config {
            file: file.to_path_buf(),
            jitter,
            lock_wait,
            parallel: raw.schedule.parallel.unwrap_or(2).max(1),
            state_file: raw.schedule.state_file.unwrap_or_else(default_state_file),
            repositories,
            sources,
            policies,
        };
        for s in config.sources.values() {
            config.policy_for(s).map_err(|e| ConfigError {
                file: file.display().to_string(),
                line: 0,
                key: format!("sources.{}", s.name),
                message: e.to_string(),
            })?;
        }
        Ok(config)
    }

    /// The policy that applies to `s`: the most specific matching scope; none is allowed (the
    /// source is then backed up only on demand), a tie is an error.
    pub fn policy_for(&self, s: &Source) -> Result<Option<&Policy>, crate::sla::error::Error> {
        let mut matching: Vec<&Policy> = self
            .policies
            .values()
            .filter(|p| p.scope.matches(s))
            .collect();
        matching.sort_by_key(|p| std::cmp::Reverse(p.scope.weight()));
        match matching.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            [a, b, ..] if a.scope.weight() == b.scope.weight() => {
                Err(crate::sla::error::Error::Config(format!(
                    "policies {:?} and {:?} apply equally; make one scope more specific",
                    a.name, b.name
                )))
            }
            [a, ..] => Ok(Some(a)),
        }
    }

    pub fn source(&self, name: &str) -> Result<&Source, crate::sla::error::Error> {
        self.sources.get(name).ok_or_else(|| {
            let names: Vec<&String> = self.sources.keys().collect();
            crate::sla::error::Error::Config(format!(
                "no source named {name:?} in {} (known: {names:?})",
                self.file.display()
            ))
        })
    }

    pub fn repository(&self, name: &str) -> Result<&Repository, crate::sla::error::Error> {
        self.repositories.get(name).ok_or_else(|| {
            crate::sla::error::Error::Config(format!(
                "no repository named {name:?} in {}",
                self.file.display()
            ))
        })
    }
}
