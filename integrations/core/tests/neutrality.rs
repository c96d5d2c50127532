//! Core is neutral: no provider's name and none of a provider's reserved words appears in its code
//! (comments and tests aside). What a provider alone understands lives in its crate and reaches
//! core as data (`Capabilities`); a rule written here for one provider would silently misfire on
//! the next one. Adding a provider adds its words to `FORBIDDEN`.

use std::path::Path;

/// Provider names and words only one provider gives meaning to, as whole words (split at
/// anything that is not a letter or a digit, so `AWS_META_PREFIX` holds `aws`).
const FORBIDDEN: &[&str] = &[
    // Names.
    "aws",
    "amazon",
    "scaleway",
    "scw",
    "vault",
    "openbao",
    "bao",
    // AWS Secrets Manager's reserved words.
    "awscurrent",
    "awsprevious",
    "awspending",
    "secretsmanager",
    "lambda",
    "kms",
    "arn",
    "versionid",
    "versionids",
    // Scaleway's secret types.
    "opaque",
    "certificate",
];

/// Reserved words that span a separator.
const FORBIDDEN_SPANS: &[&str] = &["key_value", "basic_credentials", "database_credentials"];

/// The code of a source file: its test module and every comment line removed, and a trailing
/// comment cut from the others.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            out.push('\n');
            continue;
        }
        out.push_str(line.split(" // ").next().unwrap_or(""));
        out.push('\n');
    }
    out
}

fn violations(file: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in code_of(text).lines().enumerate() {
        let lower = line.to_lowercase();
        let words = lower.split(|c: char| !c.is_ascii_alphanumeric());
        for w in words.filter(|w| FORBIDDEN.contains(w)) {
            found.push(format!("{file}:{}: {w:?} in {:?}", n + 1, line.trim()));
        }
        for span in FORBIDDEN_SPANS.iter().filter(|s| lower.contains(*s)) {
            found.push(format!("{file}:{}: {span:?} in {:?}", n + 1, line.trim()));
        }
    }
    found
}

#[test]
fn core_names_no_provider() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = 0;
    let mut found = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                let name = path.strip_prefix(&src).unwrap().display().to_string();
                found.extend(violations(&name, &text));
            }
        }
    }
    assert!(files >= 10, "read {files} files under {}", src.display());
    assert!(
        found.is_empty(),
        "provider words in core (move them to the provider's crate, or declare them in its \
         Capabilities):\n{}",
        found.join("\n")
    );
}

/// The scan itself: it finds a name in code and in a string, ignores comments and tests.
#[test]
fn the_scan_sees_code_and_skips_comments_and_tests() {
    let text = "/// AWS here is a comment\nconst A: &str = \"aws:\"; // scaleway\nlet k = \"key_value\";\n#[cfg(test)]\nmod tests { const B: &str = \"AWSCURRENT\"; }\n";
    let found = violations("x.rs", text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("x.rs:2: \"aws\""), "{found:#?}");
    assert!(found[1].starts_with("x.rs:3: \"key_value\""), "{found:#?}");
}
