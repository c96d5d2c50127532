//! AWS shapes ↔ the shared model. Names: `a/b/c` is path `/a/b` and name `c` (the original name
//! is kept in `extras.aws_name`, so AWS → AWS restores it exactly, leading slash included). Tags:
//! `key=value` strings, the exact pairs in `extras.aws_tags`. Rotation settings, resource policy,
//! primary region and owning service live in `extras` and the model's fields.

use aws_sdk_secretsmanager::primitives::DateTime;
use aws_sdk_secretsmanager::types::Tag;
use secretsnap_core::{Location, Secret};
use serde_json::{json, Value};

pub fn time(t: Option<&DateTime>) -> String {
    t.and_then(|t| {
        chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    })
    .unwrap_or_default()
}

/// Splits an AWS name into (path, name).
pub fn split_name(full: &str) -> (String, String) {
    match full.rsplit_once('/') {
        Some((dir, base)) if !base.is_empty() => {
            let dir = dir.trim_start_matches('/');
            (
                if dir.is_empty() {
                    "/".into()
                } else {
                    format!("/{dir}")
                },
                base.to_string(),
            )
        }
        _ => ("/".into(), full.to_string()),
    }
}

/// The AWS name for a secret: the original when it came from AWS, else `path/name` without the
/// leading slash.
pub fn aws_name(s: &Secret) -> String {
    s.extras
        .get("aws_name")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| s.full_name().trim_start_matches('/').to_string())
}

/// Tags for AWS: the exact pairs when they came from AWS, else `key=value` strings split at the
/// first `=` (a tag without one becomes a key with an empty value).
pub fn aws_tags(s: &Secret) -> Vec<Tag> {
    let pairs: Vec<(String, String)> = match s.extras.get("aws_tags").and_then(Value::as_array) {
        Some(list) if s.location.as_ref().is_some_and(|l| l.provider == "aws") => list
            .iter()
            .map(|t| {
                (
                    t["Key"].as_str().unwrap_or("").to_string(),
                    t["Value"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
        _ => s
            .tags
            .iter()
            .map(|t| match t.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect(),
    };
    pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tag_pairs(tags: &[Tag]) -> (Vec<String>, Value) {
    let strings = tags
        .iter()
        .map(|t| format!("{}={}", t.key().unwrap_or(""), t.value().unwrap_or("")))
        .collect();
    let exact = tags
        .iter()
        .map(|t| json!({"Key": t.key(), "Value": t.value()}))
        .collect();
    (strings, exact)
}

/// Metadata of one secret (no versions) as DescribeSecret or ListSecrets return it.
#[allow(clippy::too_many_arguments)]
pub struct Meta<'a> {
    pub arn: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub kms_key_id: Option<&'a str>,
    pub tags: &'a [Tag],
    pub deleted: Option<&'a DateTime>,
    pub created: Option<&'a DateTime>,
    pub changed: Option<&'a DateTime>,
    pub owning_service: Option<&'a str>,
    pub primary_region: Option<&'a str>,
    pub rotation: Value,
}

pub fn secret(m: Meta<'_>, location: &Location) -> Secret {
    let (path, name) = split_name(m.name);
    let (tags, exact) = tag_pairs(m.tags);
    let mut s = Secret {
        location: Some(location.clone()),
        id: m.arn.to_string(),
        name,
        path,
        kind: String::new(),
        description: m.description.unwrap_or("").to_string(),
        tags,
        key_id: m.kms_key_id.map(String::from),
        managed: m.owning_service.is_some(),
        used_by: m.owning_service.map(String::from).into_iter().collect(),
        deletion_requested_at: m.deleted.map(|d| time(Some(d))),
        created_at: time(m.created),
        updated_at: time(m.changed),
        ..Default::default()
    };
    s.extras.insert("aws_name".into(), json!(m.name));
    s.extras.insert("aws_tags".into(), exact);
    if let Some(r) = m.primary_region {
        s.extras.insert("primary_region".into(), json!(r));
    }
    if !m.rotation.is_null() {
        s.extras.insert("rotation".into(), m.rotation);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_path_and_name() {
        assert_eq!(split_name("a/b/c"), ("/a/b".into(), "c".into()));
        assert_eq!(split_name("/a/b"), ("/a".into(), "b".into()));
        assert_eq!(split_name("plain"), ("/".into(), "plain".into()));
        assert_eq!(split_name("/top"), ("/".into(), "top".into()));
        assert_eq!(split_name("trailing/"), ("/".into(), "trailing/".into()));
    }
}
