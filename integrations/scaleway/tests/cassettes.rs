//! Cassette conformance: replays every interaction of every recorded cassette in
//! ../shared/reference/scaleway/cassettes (live API, fr-par, July 2026) against the emulator, in
//! order, and compares the status code and the response body *shape*: keys, key order, value types,
//! nulls and the timestamp format (ids and timestamp values normalised, so recorded ids are mapped
//! to the emulator's as they appear). Error bodies are compared exactly. Prints matched / total;
//! every mismatch must be listed in `KNOWN` with its reason.

use std::collections::HashMap;
use std::path::PathBuf;

use secretsnap_scaleway::emulator::{Config, Emulator};
use serde_json::Value;

/// Interactions that cannot match, with the reason (none so far).
const KNOWN: &[(&str, u64, &str)] = &[];

fn reference_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SECRETSNAP_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
        })
        .join("scaleway/cassettes");
    dir.is_dir().then_some(dir)
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 27
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[26] == b'Z'
        && b[20..26].iter().all(u8::is_ascii_digit)
}

/// The shape of a JSON value; an empty array is compatible with any element shape.
fn shape(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(s) if is_timestamp(s) => "timestamp".into(),
        Value::String(_) => "string".into(),
        Value::Array(a) => match a.first() {
            None => "[]".into(),
            Some(x) => format!("[{}]", shape(x)),
        },
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", shape(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn shapes_match(recorded: &str, ours: &str) -> bool {
    // Treat "[]" on either side as matching any array at that position.
    let (r, o) = (recorded.replace("[]", "[*]"), ours.replace("[]", "[*]"));
    if r == o {
        return true;
    }
    let mut rs = r.chars().peekable();
    let mut os = o.chars().peekable();
    loop {
        match (rs.peek().copied(), os.peek().copied()) {
            (None, None) => return true,
            (Some('['), Some('[')) => {
                rs.next();
                os.next();
                if rs.peek() == Some(&'*') || os.peek() == Some(&'*') {
                    skip_bracket(&mut rs);
                    skip_bracket(&mut os);
                }
            }
            (Some(a), Some(b)) if a == b => {
                rs.next();
                os.next();
            }
            _ => return false,
        }
    }
}

fn skip_bracket(it: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let mut depth = 1;
    for c in it.by_ref() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Learns recorded → emulator id pairs from two bodies of the same shape.
fn learn(recorded: &Value, ours: &Value, map: &mut HashMap<String, String>) {
    match (recorded, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (k, rv) in r {
                if let (Some(ov), true) = (o.get(k), k == "id" || k == "secret_id") {
                    if let (Some(a), Some(b)) = (rv.as_str(), ov.as_str()) {
                        map.entry(a.to_string()).or_insert_with(|| b.to_string());
                    }
                } else if let Some(ov) = o.get(k) {
                    learn(rv, ov, map);
                }
            }
        }
        (Value::Array(r), Value::Array(o)) if r.len() == o.len() => {
            r.iter().zip(o).for_each(|(a, b)| learn(a, b, map))
        }
        _ => {}
    }
}

fn substitute(text: &str, map: &HashMap<String, String>) -> String {
    map.iter()
        .fold(text.to_string(), |t, (a, b)| t.replace(a, b))
}

#[tokio::test]
async fn cassettes_replay_against_the_emulator() {
    let Some(dir) = reference_dir() else {
        if std::env::var("CI").is_ok() {
            panic!("../shared/reference is missing; CI always has it");
        }
        eprintln!(
            "SKIPPED cassette conformance: ../shared/reference/scaleway/cassettes not found \
         (set SECRETSNAP_REFERENCE)"
        );
        return;
    };
    let client = reqwest::Client::new();
    let (mut matched, mut total) = (0u64, 0u64);
    let mut mismatches: Vec<(String, u64, String)> = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let doc: Value =
            serde_norway::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap_or(Value::Null);
        let Some(interactions) = doc.get("interactions").and_then(Value::as_array) else {
            continue;
        };
        let emu = Emulator::start(
            Config {
                rate_limit: None,
                ..Default::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let mut ids: HashMap<String, String> = HashMap::new();
        // Secrets the live project already held (listed but never created by this cassette) are
        // imported with their recorded ids, as the project's prior state.
        let created: Vec<String> = interactions
            .iter()
            .filter(|it| {
                it["request"]["method"] == "POST"
                    && it["request"]["url"]
                        .as_str()
                        .is_some_and(|u| u.ends_with("/secrets"))
            })
            .filter_map(|it| {
                serde_json::from_str::<Value>(it["response"]["body"].as_str()?)
                    .ok()?
                    .get("id")?
                    .as_str()
                    .map(String::from)
            })
            .collect();
        for it in interactions {
            let Some(listed) = it["response"]["body"]
                .as_str()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
            else {
                continue;
            };
            for s in listed
                .get("secrets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let id = s["id"].as_str().unwrap_or("").to_string();
                if !created.contains(&id) && !ids.contains_key(&id) {
                    emu.with_state(|st| st.import(s)).unwrap();
                    ids.insert(id.clone(), id);
                }
            }
        }
        for it in interactions {
            total += 1;
            let n = it["id"].as_u64().unwrap_or(0);
            let req = &it["request"];
            let url = substitute(req["url"].as_str().unwrap(), &ids)
                .replace("https://api.scaleway.com", &emu.url());
            let method: reqwest::Method = req["method"].as_str().unwrap().parse().unwrap();
            let mut rb = client
                .request(method, &url)
                .header("X-Auth-Token", "replay");
            if let Some(body) = req["body"].as_str().filter(|b| !b.is_empty()) {
                rb = rb
                    .header("Content-Type", "application/json")
                    .body(substitute(body, &ids));
            }
            let resp = rb.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            let want_status = it["response"]["code"].as_u64().unwrap() as u16;
            let want_text = it["response"]["body"].as_str().unwrap_or("");
            let problem = if status != want_status {
                Some(format!("status {status}, recorded {want_status}: {text}"))
            } else if want_text.is_empty() || text.is_empty() {
                (want_text.is_empty() != text.is_empty())
                    .then(|| format!("body presence differs: {text:?}"))
            } else {
                let (want, got): (Value, Value) = (
                    serde_json::from_str(want_text).unwrap(),
                    serde_json::from_str(&text).unwrap(),
                );
                learn(&want, &got, &mut ids);
                let back: HashMap<String, String> =
                    ids.iter().map(|(a, b)| (b.clone(), a.clone())).collect();
                if status >= 400 {
                    let normalised: Value =
                        serde_json::from_str(&substitute(&text, &back)).unwrap();
                    (normalised != want).then(|| format!("error body {text}, recorded {want_text}"))
                } else {
                    let (ws, gs) = (shape(&want), shape(&got));
                    (!shapes_match(&ws, &gs))
                        .then(|| format!("shape\n    ours     {gs}\n    recorded {ws}"))
                }
            };
            match problem {
                None => matched += 1,
                Some(p) => mismatches.push((name.clone(), n, p)),
            }
        }
    }
    eprintln!("cassette conformance: {matched} / {total} interactions matched");
    for (f, n, p) in &mismatches {
        let known = KNOWN.iter().find(|(kf, kn, _)| kf == f && kn == n);
        eprintln!(
            "  {} {f} #{n}: {p}{}",
            if known.is_some() { "known" } else { "MISMATCH" },
            known.map(|k| format!(" ({})", k.2)).unwrap_or_default()
        );
    }
    assert!(
        total > 700,
        "expected the 24 recorded cassettes (726 interactions), found {total}"
    );
    let unexplained: Vec<_> = mismatches
        .iter()
        .filter(|(f, n, _)| !KNOWN.iter().any(|(kf, kn, _)| kf == f && kn == n))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} unexplained mismatches (see above)",
        unexplained.len()
    );
}

/// The comparison must see key order (serde_json's `preserve_order` feature); without it every
/// map is sorted and a wrong wire order would go unnoticed.
#[test]
fn shape_sees_key_order() {
    let a: Value = serde_json::from_str(r#"{"versions":[],"total_count":0}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"total_count":0,"versions":[]}"#).unwrap();
    assert_ne!(shape(&a), shape(&b));
}
