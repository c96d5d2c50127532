//! Request validation the live API performs: paths, payload size, payload shape per secret type
//! (the recorded `key_value` error included), durations.

use serde_json::Value;

use super::errors::ApiError;

pub const SECRET_TYPES: [&str; 6] = [
    "opaque",
    "certificate",
    "key_value",
    "basic_credentials",
    "database_credentials",
    "ssh_key",
];
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// Normalizes a folder path: default `/`, trailing slash stripped; segments of 1–255 characters
/// from `[A-Za-z0-9._-]`.
pub fn path(p: Option<&str>) -> Result<String, ApiError> {
    let p = p.unwrap_or("/");
    if !p.starts_with('/') {
        return Err(ApiError::invalid(
            "path",
            "- must start with a slash\n",
            "constraint",
        ));
    }
    let trimmed = if p.len() > 1 {
        p.trim_end_matches('/')
    } else {
        p
    };
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    if trimmed != "/" {
        for seg in trimmed[1..].split('/') {
            let ok = (1..=255).contains(&seg.len())
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !ok {
                return Err(ApiError::invalid(
                    "path",
                    "- invalid: path segments are 1 to 255 \
                 alphanumerics, dots, underscores or dashes\n",
                    "constraint",
                ));
            }
        }
    }
    Ok(trimmed.to_string())
}

pub fn name(n: &str) -> Result<(), ApiError> {
    if n.is_empty() || n.len() > 255 || n.contains('/') {
        return Err(ApiError::invalid(
            "name",
            "- invalid: a name is 1 to 255 characters without '/'\n",
            "constraint",
        ));
    }
    Ok(())
}

/// Go-style protobuf duration (`"1800.000000000s"`) → echoed form (`"1800s"`).
pub fn duration(d: &str) -> Result<(String, i64), ApiError> {
    let bad = || {
        ApiError::invalid(
            "ephemeral_policy.time_to_live",
            "- invalid duration\n",
            "format",
        )
    };
    let secs: f64 = d
        .strip_suffix('s')
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    if !(1.0..=31_536_000.0).contains(&secs) {
        return Err(ApiError::invalid(
            "ephemeral_policy.time_to_live",
            "- must be between 1 second and 1 year\n",
            "constraint",
        ));
    }
    let whole = secs.trunc() as i64;
    let s = if secs.fract() == 0.0 {
        format!("{whole}s")
    } else {
        format!("{secs}s")
    };
    Ok((s, whole))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn data_error(help: String) -> ApiError {
    ApiError::invalid("data", &help, "format")
}

fn object(data: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(data_error(format!(
            "- invalid: Invalid type. Expected: object, given: {}\n",
            json_type(&other)
        ))),
        Err(_) => Err(data_error("- invalid: data is not valid JSON\n".into())),
    }
}

fn require_strings(m: &serde_json::Map<String, Value>, required: &[&str]) -> Result<(), ApiError> {
    for k in required {
        if !m.contains_key(*k) {
            return Err(data_error(format!("- (root): {k} is required\n")));
        }
    }
    for (k, v) in m {
        if !v.is_string() {
            return Err(data_error(format!(
                "- {k}: Invalid type. Expected: string, given: {}\n",
                json_type(v)
            )));
        }
    }
    Ok(())
}

/// Checks a payload against its secret type.
pub fn payload(kind: &str, data: &[u8]) -> Result<(), ApiError> {
    if data.len() > MAX_PAYLOAD {
        return Err(ApiError::invalid(
            "data",
            "- length must be at most 65536 bytes\n",
            "constraint",
        ));
    }
    match kind {
        "key_value" => {
            for v in object(data)?.values() {
                if matches!(v, Value::Object(_) | Value::Array(_) | Value::Null) {
                    return Err(data_error(format!(
                        "- invalid: Invalid type. Expected: string, given: {}\n",
                        json_type(v)
                    )));
                }
            }
            Ok(())
        }
        "basic_credentials" => require_strings(&object(data)?, &["username", "password"]),
        "database_credentials" => {
            let m = object(data)?;
            require_strings(
                &m,
                &["engine", "username", "password", "host", "dbname", "port"],
            )?;
            let port_ok = m["port"]
                .as_str()
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| p <= 65535);
            if !port_ok {
                return Err(data_error(
                    "- port: must be a string holding an integer from 0 to 65535\n".into(),
                ));
            }
            Ok(())
        }
        "ssh_key" => require_strings(&object(data)?, &["ssh_private_key"]),
        "certificate" => {
            let text = std::str::from_utf8(data).unwrap_or("");
            if text.contains("-----BEGIN ") && text.contains("-----END ") {
                Ok(())
            } else {
                Err(data_error(
                    "- invalid: expected concatenated PEM blocks\n".into(),
                ))
            }
        }
        _ => Ok(()),
    }
}
