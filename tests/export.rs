//! `schedule export` parsed back by the programs that will read it: a configuration path and
//! source names with spaces, quotes, `%` and `$` come back as the exact arguments from `sh` (after
//! cron's own `%` handling), from systemd's quoting rules (and `systemd-analyze verify` where it
//! is installed) and from a YAML parser; a newline in a name is refused, never written.

use std::path::Path;
use std::process::Command;

use secretsnap::sla::config::Config;
use secretsnap::sla::export;

/// Source names no format may mangle (each is a TOML key, so anything goes).
const NAMES: [&str; 4] = [
    "plain",
    "with space",
    "quote'and\"double",
    "100% $HOME `x` \\n",
];

fn config(file: &Path, names: &[&str]) -> Config {
    let mut text = String::from(
        r#"
[repositories.main]
url = "/srv/repo"
password = { env = "P" }

[policies.p]
scope = { environment = "production" }
cron = "0 3 * * *"
"#,
    );
    for n in names {
        text.push_str(&format!(
            "\n[sources.{}]\nurl = \"scaleway://fr-par/aaaaaaaa-1111-4000-8000-00000000000a\"\n\
             repository = \"main\"\nenvironment = \"production\"\n",
            serde_json::Value::from(*n) // a JSON string is a TOML basic string
        ));
    }
    Config::parse(file, &text).unwrap()
}

/// The folder with a space, both quotes, `%` and `$` in its name, and the configuration in it.
fn weird_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("ops team's \"conf\" 100% $HOME");
    std::fs::create_dir(&dir).unwrap();
    (d, dir.join("config.toml"))
}

fn expected(file: &Path, name: &str) -> Vec<String> {
    vec![
        secretsnap::sla::exe::ours().unwrap().display().to_string(),
        "--config".into(),
        file.display().to_string(),
        "schedule".into(),
        "job".into(),
        format!("backup:{name}"),
    ]
}

/// The words `sh` makes of a command line (printed NUL-separated by printf).
fn sh_words(line: &str) -> Vec<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {line}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{line}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_terminator('\0').map(String::from).collect()
}

/// What cron hands to sh: `\%` becomes `%`, and a bare `%` would end the command (refused here).
fn cron_command(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'%') => out.push(chars.next().unwrap()),
            '%' => panic!("an unescaped % ends a cron command: {line}"),
            c => out.push(c),
        }
    }
    out
}

#[test]
fn crontab_lines_give_sh_the_exact_arguments() {
    let (_d, file) = weird_dir();
    let cfg = config(&file, &NAMES);
    let tab = export::crontab(&cfg).unwrap();
    for name in NAMES {
        let job = format!("backup:{name}");
        let line = tab
            .lines()
            .find(|l| {
                l.starts_with("0 3 * * * ") && sh_words(&cron_command(&l[10..])).contains(&job)
            })
            .unwrap_or_else(|| panic!("no line for {job:?} in\n{tab}"));
        assert_eq!(sh_words(&cron_command(&line[10..])), expected(&file, name));
    }
}

/// systemd's reading of an ExecStart line (systemd.service(5), "Command lines"): words split at
/// blanks, double or single quotes with C-style escapes, `%%` → `%`, `$$` → `$`.
fn systemd_words(line: &str) -> Vec<String> {
    let line = line.replace("%%", "\u{1}").replace("$$", "\u{2}");
    assert!(
        !line.contains('%') && !line.contains('$'),
        "unescaped: {line}"
    );
    let mut words = Vec::new();
    let mut chars = line.chars();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, ' ') => words.extend(cur.take()),
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.get_or_insert_with(String::new);
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                let e = chars.next().unwrap();
                cur.get_or_insert_with(String::new).push(match e {
                    'n' => '\n',
                    't' => '\t',
                    e => e,
                });
            }
            (_, c) => cur.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unterminated quote in {line}");
    words.extend(cur);
    words
        .into_iter()
        .map(|w| w.replace('\u{1}', "%").replace('\u{2}', "$"))
        .collect()
}

#[test]
fn systemd_units_give_the_exact_arguments_and_verify() {
    let (d, file) = weird_dir();
    let cfg = config(&file, &NAMES);
    let units = export::systemd(&cfg).unwrap();
    let out = d.path().join("units");
    std::fs::create_dir(&out).unwrap();
    for name in NAMES {
        let (f, text) = units
            .iter()
            .filter(|(f, _)| f.ends_with(".service"))
            .find(|(_, t)| {
                t.lines()
                    .filter_map(|l| l.strip_prefix("ExecStart="))
                    .any(|l| systemd_words(l).last() == Some(&format!("backup:{name}")))
            })
            .unwrap_or_else(|| panic!("no unit for {name:?}"));
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        assert_eq!(systemd_words(exec), expected(&file, name), "{f}");
    }
    let names: std::collections::BTreeSet<&String> = units.iter().map(|(f, _)| f).collect();
    assert_eq!(names.len(), units.len(), "unit names are distinct");
    for (f, text) in &units {
        assert!(!f.contains('/') && !f.contains(' '), "{f}");
        std::fs::write(out.join(f), text).unwrap();
    }
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    if analyze.is_err() {
        eprintln!(
            "systemd-analyze is not installed: the units were checked by the rules above only"
        );
        return;
    }
    let services: Vec<_> = units
        .iter()
        .filter(|(f, _)| f.ends_with(".service"))
        .map(|(f, _)| out.join(f))
        .collect();
    let v = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&services)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&v.stderr);
    // Only the unit files themselves are judged (not the host's other units).
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("secretsnap-")).collect();
    assert!(v.status.success() && ours.is_empty(), "{err}");
}

#[test]
fn kubernetes_args_parse_back_from_yaml() {
    let (_d, file) = weird_dir();
    let cfg = config(&file, &NAMES);
    let yaml = export::kubernetes(&cfg).unwrap();
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        "python3".into()
    };
    let script = "import json, sys, yaml\n\
                  print(json.dumps(list(yaml.safe_load_all(sys.stdin))))";
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("No module named") {
        assert!(
            std::env::var_os("SECRETSNAP_REQUIRE_SERVERS").is_none(),
            "PyYAML is missing from {}",
            python.display()
        );
        eprintln!("PyYAML is not installed: skipped");
        return;
    }
    assert!(
        out.status.success(),
        "{}\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut k8s_names = std::collections::BTreeSet::new();
    for name in NAMES {
        let doc = docs
            .iter()
            .find(|d| {
                d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][4]
                    == format!("backup:{name}").as_str()
            })
            .unwrap_or_else(|| panic!("no CronJob for {name:?}:\n{yaml}"));
        let args = &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"];
        let want = &expected(&file, name)[1..];
        let mut want = want.to_vec();
        want[1] = "/etc/secretsnap/config.toml".into();
        assert_eq!(args, &serde_json::json!(want));
        assert_eq!(doc["spec"]["schedule"], "0 3 * * *");
        let n = doc["metadata"]["name"].as_str().unwrap();
        assert!(
            n.len() <= 52
                && n.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'),
            "{n}"
        );
        k8s_names.insert(n.to_string());
    }
    assert_eq!(k8s_names.len(), NAMES.len(), "distinct object names");
}

#[test]
fn a_newline_in_a_name_is_refused_in_every_format() {
    let (_d, file) = weird_dir();
    let cfg = config(&file, &["ok", "evil\n* * * * * rm -rf /"]);
    let errors = [
        export::crontab(&cfg).unwrap_err().to_string(),
        export::systemd(&cfg).unwrap_err().to_string(),
        export::kubernetes(&cfg).unwrap_err().to_string(),
    ];
    for e in errors {
        assert!(e.contains("control character") && e.contains("evil"), "{e}");
    }
}

#[test]
fn a_relative_configuration_path_is_exported_absolute() {
    let cfg = config(Path::new("conf/config.toml"), &["plain"]);
    let tab = export::crontab(&cfg).unwrap();
    let line = tab.lines().find(|l| l.starts_with("0 3")).unwrap();
    let words = sh_words(&cron_command(&line[10..]));
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(words[2], cwd.join("conf/config.toml").display().to_string());
}
