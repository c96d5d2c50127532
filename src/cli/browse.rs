//! Looking into snapshots: `ls` (secrets and versions, never values), `diff` (what changed
//! between two snapshots, never values) and `cat` (one value to stdout: the only command that
//! ever prints plaintext).

use std::io::Write;

use clap::Args;
use secretsnap::engine::{inventory, read_value, select};
use serde_json::json;
use zeroize::Zeroizing;

use super::args::SelectArgs;
use super::output::{bytes, print, OK};
use super::{context, Global};

#[derive(Args, Debug)]
pub struct LsCmd {
    /// Snapshot id, unique prefix, or `latest`.
    #[arg(default_value = "latest")]
    pub snapshot: String,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Args, Debug)]
pub struct DiffCmd {
    /// The earlier snapshot (id, prefix or `latest`).
    pub a: String,
    /// The later snapshot.
    pub b: String,
}

#[derive(Args, Debug)]
pub struct CatCmd {
    /// Snapshot id, unique prefix, or `latest`.
    pub snapshot: String,
    /// The secret: /path/name, or its bare name when unique.
    pub secret: String,
    /// Version id (default: the newest enabled version held by the snapshot).
    #[arg(long)]
    pub version: Option<String>,
    #[command(flatten)]
    pub select: SelectArgs,
}

pub async fn ls(g: &Global, cmd: &LsCmd) -> anyhow::Result<u8> {
    let repo = context::open(g).await?;
    let snap = select::resolve(&repo, &cmd.snapshot, &cmd.select.filter()?).await?;
    let secrets = inventory::list(&repo, &snap.id).await?;
    print(
        g,
        json!({"snapshot": snap.id, "source": snap.header.meta.source, "secrets": &secrets}),
        || {
            println!(
                "snapshot {} of {} at {}",
                snap.id.short(),
                snap.header.meta.source,
                snap.header.time.format("%Y-%m-%d %H:%M:%S")
            );
            for s in &secrets {
                println!(
                    "{}  [{}]{}{}{}{}",
                    s.secret,
                    s.kind,
                    if s.tags.is_empty() {
                        String::new()
                    } else {
                        format!(" tags={}", s.tags.join(","))
                    },
                    if s.replicas.is_empty() {
                        String::new()
                    } else {
                        format!(" replicas={}", s.replicas.join(","))
                    },
                    if s.protected { " protected" } else { "" },
                    if s.deletion_requested_at.is_some() {
                        " scheduled-for-deletion"
                    } else {
                        ""
                    }
                );
                for v in &s.versions {
                    let held = match (&v.size, &v.not_read) {
                        (Some(n), _) => bytes(*n),
                        (None, Some(why)) => format!("not in snapshot: {why}"),
                        (None, None) => "no value".into(),
                    };
                    println!(
                        "    v{:<4} {:<24} {:<10} {held}{}",
                        v.id,
                        v.created_at,
                        v.status,
                        if v.labels.is_empty() {
                            String::new()
                        } else {
                            format!(" [{}]", v.labels.join(","))
                        }
                    );
                }
            }
        },
    );
    Ok(OK)
}

pub async fn diff(g: &Global, cmd: &DiffCmd) -> anyhow::Result<u8> {
    let repo = context::open(g).await?;
    let none = Default::default();
    let a = select::resolve(&repo, &cmd.a, &none).await?;
    let b = select::resolve(&repo, &cmd.b, &none).await?;
    let d = inventory::diff(&repo, &a.id, &b.id).await?;
    print(g, json!({"from": a.id, "to": b.id, "diff": &d}), || {
        println!("{} → {}", a.id.short(), b.id.short());
        show_diff(&d);
    });
    Ok(OK)
}

/// Prints a diff (`diff`, `drift`): `+` added, `-` removed, `M` changed with each field.
pub fn show_diff(d: &inventory::Diff) {
    for s in &d.added {
        println!("+ {s}");
    }
    for s in &d.removed {
        println!("- {s}");
    }
    for c in &d.changed {
        println!("M {}", c.secret);
        for f in &c.changes {
            println!("    {}: {:?} → {:?}", f.field, f.before, f.after);
        }
        for v in &c.versions_added {
            println!("    + version {v}");
        }
        for v in &c.versions_removed {
            println!("    - version {v}");
        }
        for v in &c.versions_changed {
            for f in &v.changes {
                println!(
                    "    ~ version {} {}: {:?} → {:?}",
                    v.version, f.field, f.before, f.after
                );
            }
            if v.content_changed {
                println!("    ~ version {} value changed", v.version);
            }
        }
    }
    println!(
        "{} added, {} removed, {} changed, {} unchanged",
        d.added.len(),
        d.removed.len(),
        d.changed.len(),
        d.unchanged
    );
}

pub async fn cat(g: &Global, cmd: &CatCmd) -> anyhow::Result<u8> {
    let repo = context::open(g).await?;
    let snap = select::resolve(&repo, &cmd.snapshot, &cmd.select.filter()?).await?;
    let value = read_value(&repo, &snap.id, &cmd.secret, cmd.version.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    if g.json {
        use base64::Engine;
        let (encoding, text) = match std::str::from_utf8(&value) {
            Ok(t) => ("utf-8", Zeroizing::new(t.to_string())),
            Err(_) => (
                "base64",
                Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&value[..])),
            ),
        };
        #[derive(serde::Serialize)]
        struct Out<'a> {
            snapshot: String,
            secret: &'a str,
            version: Option<&'a str>,
            encoding: &'a str,
            value: &'a str,
        }
        let mut doc = Zeroizing::new(
            serde_json::to_string(&Out {
                snapshot: snap.id.to_hex(),
                secret: &cmd.secret,
                version: cmd.version.as_deref(),
                encoding,
                value: &text,
            })
            .expect("JSON values serialize"),
        );
        doc.push('\n');
        out.write_all(doc.as_bytes())?;
    } else {
        out.write_all(&value)?;
    }
    out.flush()?;
    Ok(OK)
}
