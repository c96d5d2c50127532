//! Argument groups several commands share: snapshot selection (`latest` + SLA filters +
//! `--before`), secret filters, and restore options. Each converts into the engine's types;
//! a bad value becomes a usage error (exit code 2).

use clap::Args;
use secretsnap::engine::select::{parse_time, SnapshotFilter};
use secretsnap_core::plan::parse_mappings;
use secretsnap_core::{ConflictMode, Face, Filter, RestoreOptions};

use super::output::usage;

/// Which snapshot: filters for `latest` (and checked against an explicit id).
#[derive(Args, Clone, Default, Debug)]
pub struct SelectArgs {
    /// Only snapshots of this SLA environment.
    #[arg(long)]
    pub environment: Option<String>,
    /// Only snapshots carrying this data class (repeatable: all of them).
    #[arg(long = "data-class")]
    pub data_class: Vec<String>,
    /// Only snapshots carrying this snapshot tag (repeatable: all of them).
    #[arg(long = "snapshot-tag")]
    pub snapshot_tag: Vec<String>,
    /// Only snapshots of this job.
    #[arg(long)]
    pub job: Option<String>,
    /// Only snapshots of this source URL.
    #[arg(long)]
    pub source: Option<String>,
    /// Only snapshots taken before this time (RFC 3339, "YYYY-MM-DD HH:MM" UTC, or a date).
    #[arg(long)]
    pub before: Option<String>,
}

impl SelectArgs {
    pub fn filter(&self) -> anyhow::Result<SnapshotFilter> {
        Ok(SnapshotFilter {
            environment: self.environment.clone(),
            data_classes: self.data_class.clone(),
            tags: self.snapshot_tag.clone(),
            job: self.job.clone(),
            source: self.source.clone(),
            before: self
                .before
                .as_deref()
                .map(parse_time)
                .transpose()
                .map_err(usage)?,
        })
    }
}

/// Which secrets.
#[derive(Args, Clone, Default, Debug)]
pub struct SecretArgs {
    /// Only secrets whose name matches this glob (`*`, `?`).
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Only secrets in this folder or below.
    #[arg(long = "path-prefix")]
    pub path_prefix: Option<String>,
    /// Only secrets of this type (repeatable: any of them).
    #[arg(long = "type")]
    pub kind: Vec<String>,
}

impl SecretArgs {
    pub fn filter(&self, tags: &[String]) -> Filter {
        Filter {
            path_prefix: self.path_prefix.clone(),
            name_glob: self.name.clone(),
            tags: tags.to_vec(),
            kinds: self.kind.clone(),
            ..Default::default()
        }
    }
}

/// Opt-in reads that have side effects at the source.
#[derive(Args, Clone, Default, Debug)]
pub struct ReadArgs {
    /// Also read disabled versions by enabling, reading and disabling them again: this WRITES to
    /// the source.
    #[arg(long)]
    pub read_disabled: bool,
    /// Also read versions that expire once accessed: reading destroys them at the source.
    #[arg(long)]
    pub read_once: bool,
    /// Secrets read at once.
    #[arg(long, default_value_t = secretsnap::engine::BackupOptions::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
}

/// How to restore.
#[derive(Args, Clone, Default, Debug)]
pub struct RestoreArgs {
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When a secret of the same path and name exists: skip it, append the missing versions, or
    /// fail that item.
    #[arg(long = "on-conflict", default_value = "skip")]
    pub on_conflict: String,
    /// Also restore secrets managed by another product (used_by).
    #[arg(long)]
    pub include_managed: bool,
    /// Map a source encryption key id to a target key id (SRC=DST, repeatable); unmapped key
    /// ids fall back to the target's default key.
    #[arg(long = "map-key")]
    pub map_key: Vec<String>,
    /// Map a source AWS account id to a target account id in resource policies (SRC=DST,
    /// repeatable). Without it a policy naming the source account is not restored into another
    /// account, and the report says which mapping would restore it.
    #[arg(long = "map-account")]
    pub map_account: Vec<String>,
    /// Re-create the replication to other regions a secret had at the source (AWS; replicas are
    /// billed). Without it the report lists the regions that were not re-created.
    #[arg(long)]
    pub replicate: bool,
}

impl RestoreArgs {
    pub fn options(&self) -> anyhow::Result<RestoreOptions> {
        let conflict: ConflictMode = self.on_conflict.parse().map_err(usage)?;
        let key_ids = parse_mappings(self.map_key.iter().map(String::as_str), "--map-key", false)
            .map_err(usage)?;
        let accounts = parse_mappings(
            self.map_account.iter().map(String::as_str),
            "--map-account",
            true,
        )
        .map_err(usage)?;
        Ok(RestoreOptions {
            conflict,
            include_managed: self.include_managed,
            key_ids,
            accounts,
            replicate: self.replicate,
            face: Face::Cli,
            under: None,
            mark: None,
            origins: secretsnap::locations::origins(),
        })
    }
}
