//! `schedule export`: the configured backups as systemd timer units, a crontab, or Kubernetes
//! CronJobs, for teams whose platform already schedules things. Each entry runs
//! `secretsnap schedule job NAME`; credentials stay references resolved at run time, never
//! values in the generated files. Every argument is quoted by the target's own rules (sh plus
//! cron's `%` for a crontab, systemd's quoting with `%%` and `$$` for a unit, YAML for
//! Kubernetes), so a path with spaces, quotes, `%` or `$` comes back exactly; what a target
//! cannot carry (a control character) is refused, never written.

use crate::sla::config::Config;
use crate::sla::scheduler::{jobs, Job};

/// Why a job cannot be exported: a name or path that the target format cannot carry.
#[derive(Debug, thiserror::Error)]
#[error("{what} {value:?} cannot be written into a {format} entry: {why}")]
pub struct ExportError {
    what: &'static str,
    value: String,
    format: &'static str,
    why: &'static str,
}

/// The job's command line as arguments: this executable's absolute path (cron's PATH holds
/// neither /usr/local/bin nor ~/.cargo/bin) and the configuration path made absolute (a
/// scheduler does not run in the folder the export ran in); a control character in any argument
/// (a newline in a source name would inject a whole crontab line) is refused.
fn command(cfg: &Config, job: &Job, format: &'static str) -> Result<Vec<String>, ExportError> {
    let conf = std::path::absolute(&cfg.file).unwrap_or_else(|_| cfg.file.clone());
    let conf = conf.to_str().ok_or_else(|| ExportError {
        what: "the configuration path",
        value: conf.display().to_string(),
        format,
        why: "it is not UTF-8",
    })?;
    let exe = crate::sla::exe::ours()
        .ok()
        .and_then(|p| p.to_str())
        .unwrap_or("secretsnap");
    let c = vec![
        exe.to_string(),
        "--config".into(),
        conf.to_string(),
        "schedule".into(),
        "job".into(),
        job.name.clone(),
    ];
    let named = [
        ("the executable's path", &c[0]),
        ("the configuration path", &c[2]),
        ("the job", &c[5]),
    ];
    for (what, a) in named {
        if a.chars().any(char::is_control) {
            return Err(ExportError {
                what,
                value: a.clone(),
                format,
                why: "it holds a control character (a newline, a tab, …)",
            });
        }
    }
    Ok(c)
}

/// Whether `a` needs no quoting in sh or in a systemd command line.
fn plain(a: &str) -> bool {
    !a.is_empty()
        && a.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_@+=:,./-".contains(&c))
}

/// One argument for sh: as is when plain, else single-quoted (a quote becomes `'\''`).
pub fn sh_quote(a: &str) -> String {
    if plain(a) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// One argument for a systemd command line: as is when plain, else double-quoted with C-style
/// escapes, and `%` (specifiers) and `$` (variables) doubled, which systemd reads as themselves.
pub fn systemd_quote(a: &str) -> String {
    if plain(a) {
        return a.to_string();
    }
    let mut out = String::from("\"");
    for c in a.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A command line for a crontab: sh-quoted words, and `%` (which cron turns into a newline)
/// escaped as `\%`, which cron passes on to sh as `%`.
fn cron_line(args: &[String]) -> String {
    let words: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
    words.join(" ").replace('%', r"\%")
}

/// A systemd unit name for the job: `secretsnap-KIND-NAME`, every byte of the name outside
/// `[A-Za-z0-9_.-]` written `\xNN` as `systemd-escape` does.
fn unit_name(job: &Job) -> String {
    let (kind, name) = job.name.split_once(':').unwrap_or(("job", &job.name));
    let mut out = format!("secretsnap-{kind}-");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A Kubernetes object name for the job (DNS-1123, at most 52 characters for a CronJob):
/// `secretsnap-KIND-NAME` lowercased where that is all it takes, else its letters and digits
/// with a short hash of the job's name, so two jobs never share a name.
fn k8s_name(job: &Job) -> String {
    let want = format!("secretsnap-{}", job.name.replace(':', "-"));
    let valid = |n: &str| {
        n.len() <= 52
            && n.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && !n.ends_with('-')
    };
    if valid(&want) {
        return want;
    }
    let mut base: String = want
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base.truncate(43);
    // A job's name is configuration, not a secret: a plain hash only keeps names apart.
    let hash = blake3::hash(job.name.as_bytes()).to_hex();
    format!("{}-{}", base.trim_end_matches('-'), &hash[..8])
}

/// systemd: one service + timer pair per job, as `(file name, content)`.
pub fn systemd(cfg: &Config) -> Result<Vec<(String, String)>, ExportError> {
    let mut out = Vec::new();
    for job in jobs(cfg) {
        let name = unit_name(&job);
        let exec: Vec<String> = command(cfg, &job, "systemd")?
            .iter()
            .map(|a| systemd_quote(a))
            .collect();
        let service = format!(
            concat!(
                "# Generated by `secretsnap schedule export systemd`.\n",
                "[Unit]\n",
                "Description=secretsnap {}\n",
                "After=network-online.target\n",
                "Wants=network-online.target\n",
                "\n",
                "[Service]\n",
                "Type=oneshot\n",
                "ExecStart={}\n",
                "# SIGTERM reaches secretsnap only; it finishes the running job before exiting.\n",
                "KillMode=mixed\n",
                "TimeoutStopSec=15min\n",
            ),
            job.name.replace('%', "%%"),
            exec.join(" ")
        );
        let when = match job.cadence.as_cron().and_then(|c| cron_to_calendar(&c)) {
            Some(cal) => match job.cadence.zone() {
                Some(z) => format!("OnCalendar={cal} {z}"),
                None => format!("OnCalendar={cal}"),
            },
            None => match &job.cadence {
                crate::sla::cadence::Cadence::Every(d) => {
                    format!("OnBootSec=5min\nOnUnitInactiveSec={}s", d.as_secs())
                }
                crate::sla::cadence::Cadence::Cron(_, e, _) => {
                    format!("# cron {e}: no OnCalendar equivalent\nOnUnitInactiveSec=1h")
                }
            },
        };
        let timer = format!(
            concat!(
                "# Generated by `secretsnap schedule export systemd`.\n",
                "[Unit]\n",
                "Description=secretsnap {} ({})\n",
                "\n",
                "[Timer]\n",
                "{when}\n",
                "RandomizedDelaySec={}\n",
                "Persistent=true\n",
                "\n",
                "[Install]\n",
                "WantedBy=timers.target\n",
            ),
            job.name.replace('%', "%%"),
            job.cadence.describe(),
            cfg.jitter.as_secs(),
            when = when
        );
        out.push((format!("{name}.service"), service));
        out.push((format!("{name}.timer"), timer));
    }
    Ok(out)
}

/// A 5-field cron expression as a systemd calendar spec (numbers, `*`, `*/n`, lists, ranges).
fn cron_to_calendar(cron: &str) -> Option<String> {
    let f: Vec<&str> = cron.split_whitespace().collect();
    let [min, hour, dom, month, dow] = f.as_slice() else {
        return None;
    };
    let conv = |s: &str| -> Option<String> {
        if s == "*" {
            return Some("*".into());
        }
        if let Some(step) = s.strip_prefix("*/") {
            return Some(format!("0/{step}"));
        }
        s.chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
            .then(|| s.replace('-', ".."))
    };
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let dow = if *dow == "*" {
        String::new()
    } else {
        let days: Option<Vec<&str>> = dow
            .split(',')
            .map(|d| {
                d.parse::<usize>()
                    .ok()
                    .and_then(|n| DAYS.get(n % 7).copied())
            })
            .collect();
        format!("{} ", days?.join(","))
    };
    Some(format!(
        "{dow}*-{}-{} {}:{}:00",
        conv(month)?,
        conv(dom)?,
        conv(hour)?,
        conv(min)?
    ))
}

/// A crontab.
pub fn crontab(cfg: &Config) -> Result<String, ExportError> {
    let mut out = String::from("# Generated by `secretsnap schedule export cron`.\n");
    for job in jobs(cfg) {
        match job.cadence.as_cron() {
            Some(c) => {
                // cronie reads CRON_TZ for the lines that follow it.
                let zone = job
                    .cadence
                    .zone()
                    .map_or("UTC".to_string(), |z| z.to_string());
                out.push_str(&format!(
                    "CRON_TZ={zone}\n{c} {}\n",
                    cron_line(&command(cfg, &job, "crontab")?)
                ))
            }
            None => out.push_str(&format!(
                "# {} ({}) has no crontab equivalent: run `secretsnap schedule once` every few \
                 minutes instead\n",
                job.name,
                job.cadence.describe()
            )),
        }
    }
    Ok(out)
}

/// Kubernetes CronJobs (one YAML document per job). The config and the credentials it
/// references are mounted from a ConfigMap `secretsnap-config` and a Secret
/// `secretsnap-credentials`.
pub fn kubernetes(cfg: &Config) -> Result<String, ExportError> {
    let mut docs = Vec::new();
    for job in jobs(cfg) {
        let Some(schedule) = job.cadence.as_cron() else {
            docs.push(format!(
                "# {} ({}) has no cron equivalent; use a cron expression in its policy",
                job.name,
                job.cadence.describe()
            ));
            continue;
        };
        let mut args = command(cfg, &job, "Kubernetes")?;
        args.remove(0);
        args[1] = "/etc/secretsnap/config.toml".into();
        // JSON strings are YAML double-quoted scalars: every character survives.
        let yaml = |a: &str| serde_json::Value::from(a).to_string();
        let args: Vec<String> = args.iter().map(|a| yaml(a)).collect();
        docs.push(format!(
            concat!(
                "apiVersion: batch/v1\n",
                "kind: CronJob\n",
                "metadata:\n",
                "  name: {}\n",
                "spec:\n",
                "  schedule: {schedule}\n",
                "  timeZone: {}\n",
                "  concurrencyPolicy: Forbid\n",
                "  jobTemplate:\n",
                "    spec:\n",
                "      backoffLimit: 0\n",
                "      template:\n",
                "        spec:\n",
                "          restartPolicy: Never\n",
                "          terminationGracePeriodSeconds: 900\n",
                "          containers:\n",
                "            - name: secretsnap\n",
                "              image: secretsnap:latest\n",
                "              args: [{}]\n",
                "              envFrom:\n",
                "                - secretRef:\n",
                "                    name: secretsnap-credentials\n",
                "              volumeMounts:\n",
                "                - name: config\n",
                "                  mountPath: /etc/secretsnap\n",
                "          volumes:\n",
                "            - name: config\n",
                "              configMap:\n",
                "                name: secretsnap-config\n",
            ),
            k8s_name(&job),
            yaml(
                &job.cadence
                    .zone()
                    .map_or("Etc/UTC".to_string(), |z| z.to_string())
            ),
            args.join(", "),
            schedule = yaml(&schedule)
        ));
    }
    Ok(docs.join("---\n"))
}
