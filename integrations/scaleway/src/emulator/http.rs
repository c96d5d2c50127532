//! Routing, auth, rate limiting, latency and fault injection in front of `State`. One fallback
//! handler does the routing so every error (unknown route, bad JSON, auth) has a Scaleway body.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::errors::{json_response, no_content, rate_limited, ApiError};
use super::state::Query;
use super::{Grant, Shared};

const PREFIX: &str = "/secret-manager/v1beta1/regions/";
const REGIONS: [&str; 3] = ["fr-par", "nl-ams", "pl-waw"];

enum Outcome {
    Json(Value),
    Empty,
}

fn body_json(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", &format!("- invalid JSON: {e}\n"), "format"))
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_value(body_json(body)?)
        .map_err(|e| ApiError::invalid("body", &format!("- {e}\n"), "format"))
}

/// What the rate limiter told one request: its window's quota, what is left of it and the whole
/// seconds until the window resets. Sent back as the live API's `X-Ratelimit-*` headers.
struct Quota {
    limit: u32,
    remaining: u32,
    reset: u64,
}

/// Envoy's rate limit as the live API applies it: a fixed one-second window aligned to the clock,
/// `limit` requests per token in each; `Err` when the window is spent, `Ok(None)` when unlimited.
fn take_token(shared: &Shared, token: &str) -> Result<Option<Quota>, ()> {
    let rate = shared
        .config
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .rate_limit;
    let Some(rate) = rate else { return Ok(None) };
    let limit = rate.round().max(1.0) as u32;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let window = now.as_secs();
    let mut buckets = shared.buckets.lock().unwrap_or_else(|p| p.into_inner());
    let (w, used) = buckets.entry(token.to_string()).or_insert((window, 0));
    if *w != window {
        (*w, *used) = (window, 0);
    }
    if *used >= limit {
        return Err(());
    }
    *used += 1;
    Ok(Some(Quota {
        limit,
        remaining: limit - *used,
        // Whole seconds left in a one-second window: always 1, as recorded.
        reset: 1,
    }))
}

/// Adds the `X-Ratelimit-*` headers exactly as recorded (`50, 50;w=1`, `"49"`, `"1"`).
fn with_quota(mut r: Response, quota: Option<Quota>) -> Response {
    if let Some(q) = quota {
        let h = r.headers_mut();
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = value.parse() {
                h.insert(name, v);
            }
        };
        put("x-ratelimit-limit", format!("{0}, {0};w=1", q.limit));
        put("x-ratelimit-remaining", q.remaining.to_string());
        put("x-ratelimit-reset", q.reset.to_string());
    }
    r
}

fn dropped_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected drop",
        ))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    r
}

pub(crate) async fn handle(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let (latency, fault_rate, stall, grant) = {
        let c = shared.config.lock().unwrap_or_else(|p| p.into_inner());
        let token = headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let grant = if token.is_empty() {
            Err(ApiError::unauthenticated("not_found"))
        } else if c.tokens.is_empty() {
            Ok(Grant {
                projects: None,
                write: true,
            })
        } else {
            c.tokens
                .get(token)
                .cloned()
                .ok_or_else(|| ApiError::unauthenticated("invalid_argument"))
        };
        (
            c.latency,
            c.fault_rate,
            c.fault_stall,
            grant.map(|g| (token.to_string(), g)),
        )
    };
    // Half the latency on the way in (before the rate limiter counts the request, as at a
    // gateway), half on the way out.
    let inbound = latency / 2;
    if !inbound.is_zero() {
        tokio::time::sleep(inbound).await;
    }
    let (token, grant) = match grant {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let Ok(quota) = take_token(&shared, &token) else {
        shared.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        return rate_limited();
    };
    if fault_rate > 0.0 && rand::random::<f64>() < fault_rate {
        shared.counters.faults.fetch_add(1, Ordering::Relaxed);
        return match rand::random::<u8>() % 4 {
            0 => ApiError::internal().into_response(),
            1 => ApiError::unavailable().into_response(),
            2 => {
                tokio::time::sleep(stall).await;
                json_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    &json!({"message": "upstream request timeout", "type": "timeout"}),
                )
            }
            _ => dropped_connection(),
        };
    }
    let response = match route(&shared, &method, &uri, &body, &grant) {
        Ok(Outcome::Json(v)) => json_response(StatusCode::OK, &v),
        Ok(Outcome::Empty) => no_content(),
        Err(e) => e.into_response(),
    };
    let outbound = latency - inbound;
    if !outbound.is_zero() {
        tokio::time::sleep(outbound).await;
    }
    with_quota(response, quota)
}

fn route(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    body: &Bytes,
    grant: &Grant,
) -> Result<Outcome, ApiError> {
    let unknown = || ApiError {
        status: StatusCode::NOT_FOUND,
        body: json!({"message": "route not found", "type": "not_found"}),
    };
    let rest = uri.path().strip_prefix(PREFIX).ok_or_else(unknown)?;
    let segs: Vec<&str> = rest.split('/').collect();
    let region = segs[0];
    if !REGIONS.contains(&region) {
        return Err(ApiError::invalid(
            "region",
            &format!("- unknown region {region:?}; use fr-par, nl-ams or pl-waw\n"),
            "constraint",
        ));
    }
    let q = Query::parse(uri.query());
    let projects = grant.projects.as_deref();
    let writes = !matches!(*method, Method::GET);
    if writes && !grant.write {
        return Err(ApiError::forbidden("write"));
    }
    if let Some(p) = q.get("project_id") {
        if projects.is_some_and(|ps| !ps.iter().any(|x| x == p)) {
            return Err(ApiError::forbidden(if writes { "write" } else { "list" }));
        }
    }
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    // Per-secret routes: check the secret's project against the grant first.
    if segs.get(1) == Some(&"secrets") && segs.len() >= 3 && segs[2] != "browse" {
        if let (Some(ps), Some(p)) = (projects, st.project_of(segs[2])) {
            if !ps.iter().any(|x| x == p) {
                return Err(ApiError::forbidden(if writes { "write" } else { "read" }));
            }
        }
    }
    if writes {
        shared.counters.writes.fetch_add(1, Ordering::Relaxed);
    }
    let j = Outcome::Json;
    let r = match (method.clone(), &segs[1..]) {
        (Method::POST, ["secrets"]) => {
            let mut req: super::state::CreateSecret = parse(body)?;
            if projects.is_some_and(|ps| req.project_id.as_ref().is_some_and(|p| !ps.contains(p))) {
                return Err(ApiError::forbidden("write"));
            }
            req.project_id = req
                .project_id
                .or_else(|| q.get("project_id").map(String::from));
            j(st.create_secret(region, req)?)
        }
        (Method::GET, ["secrets"]) => j(st.list_secrets(region, &q, projects)?),
        (Method::GET, ["secrets", "browse"]) => j(st.browse(region, &q, projects)?),
        (Method::GET, ["secrets", id]) => j(st.secret(region, id)?.to_json()),
        (Method::PATCH, ["secrets", id]) => j(st.update_secret(region, id, body_json(body)?)?),
        (Method::DELETE, ["secrets", id]) => {
            st.delete_secret(region, id)?;
            Outcome::Empty
        }
        (Method::POST, ["secrets", id, "protect"]) => j(st.set_protected(region, id, true)?),
        (Method::POST, ["secrets", id, "unprotect"]) => j(st.set_protected(region, id, false)?),
        (Method::POST, ["secrets", id, "restore"]) => j(st.restore_secret(region, id)?),
        (Method::POST, ["secrets", id, "add-owner"]) => {
            st.add_owner(region, id, &body_json(body)?)?;
            Outcome::Empty
        }
        (Method::POST, ["secrets", id, "versions"]) => {
            j(st.create_version(region, id, parse(body)?)?)
        }
        (Method::GET, ["secrets", id, "versions"]) => j(st.list_versions(region, id, &q)?),
        (Method::GET, ["secrets", id, "versions", rev]) => j(st.get_version(region, id, rev)?),
        (Method::PATCH, ["secrets", id, "versions", rev]) => {
            j(st.update_version(region, id, rev, &body_json(body)?)?)
        }
        (Method::DELETE, ["secrets", id, "versions", rev]) => {
            st.delete_version(region, id, rev)?;
            Outcome::Empty
        }
        (Method::GET, ["secrets", id, "versions", rev, "access"]) => {
            shared.counters.accesses.fetch_add(1, Ordering::Relaxed);
            j(st.access(region, id, rev)?)
        }
        (
            Method::POST,
            ["secrets", id, "versions", rev, action @ ("enable" | "disable" | "restore")],
        ) => j(st.set_version_status(region, id, rev, action)?),
        (Method::GET, ["secrets-by-path", "versions", rev, "access"]) => {
            shared.counters.accesses.fetch_add(1, Ordering::Relaxed);
            j(st.access_by_path(region, &q, rev, projects)?)
        }
        (Method::GET, ["tags"]) => {
            j(st.distinct(region, &q, projects, "tags", |s| s.tags.clone())?)
        }
        (Method::GET, ["secret-types"]) => {
            j(st.distinct(region, &q, projects, "types", |s| vec![s.kind.clone()])?)
        }
        _ => return Err(unknown()),
    };
    Ok(r)
}
