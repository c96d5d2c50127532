//! Error responses with the bodies the live API sends (keys in alphabetical order, as recorded),
//! and the bare 429 of the rate limiter (empty body, no Content-Type, `X-Envoy-Ratelimited`).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

/// A Scaleway API error, ready to send.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(body).expect("json")));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

impl ApiError {
    pub fn into_response(self) -> Response {
        json_response(self.status, &self.body)
    }

    pub fn not_found(resource: &str, id: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            body: json!({"message": "resource is not found", "resource": resource,
                "resource_id": id, "type": "not_found"}),
        }
    }

    pub fn invalid(argument: &str, help: &str, reason: &str) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: json!({"details": [{"argument_name": argument, "help_message": help,
                "reason": reason}], "message": "invalid argument(s)", "type": "invalid_arguments"}),
        }
    }

    pub fn precondition(precondition: &str, help: &str) -> Self {
        ApiError {
            status: StatusCode::PRECONDITION_FAILED,
            body: json!({"help_message": help, "message": "precondition is not respected",
                "precondition": precondition, "type": "precondition_failed"}),
        }
    }

    pub fn already_exists(resource: &str, id: &str, help: &str) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            body: json!({"help_message": help, "message": "resource already exists",
                "resource": resource, "resource_id": id, "type": "already_exists"}),
        }
    }

    pub fn quota(resource: &str, current: u32, quota: u32) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            body: json!({"details": [{"current": current, "quota": quota, "resource": resource}],
                "message": "quota(s) exceeded for this resource", "type": "quotas_exceeded"}),
        }
    }

    pub fn unauthenticated(reason: &str) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            body: json!({"message": "authentication is denied", "method": "api_key",
                "reason": reason, "type": "denied_authentication"}),
        }
    }

    pub fn forbidden(action: &str) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            body: json!({"details": [{"action": action, "resource": "secret"}],
                "message": "insufficient permissions", "type": "permissions_denied"}),
        }
    }

    pub fn internal() -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: json!({"message": "internal error", "type": "internal"}),
        }
    }

    pub fn unavailable() -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: json!({"message": "service unavailable", "type": "unavailable"}),
        }
    }
}

/// 429 exactly as Envoy sends it: no body, no Content-Type, no Retry-After.
pub fn rate_limited() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    r.headers_mut()
        .insert("x-envoy-ratelimited", HeaderValue::from_static("true"));
    r
}

/// 204 with an empty body and `Content-Type: application/json`, as recorded.
pub fn no_content() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}
