//! Every error the API answers with: RFC 9457 `application/problem+json` bodies with a stable
//! `type` of `urn:chronicle:problem:<code>`.
//!
//! [`Code::info`] is the one table from codes to statuses and titles. Invalid input carries
//! `errors: [{pointer, message}]`: pointers into the JSON body are JSON Pointers (RFC 6901)
//! relative to the body (`/operations/3/data/status`); query parameters are reported under
//! `/query/<name>`, headers under `/headers/<name>` and path segments under `/path/<name>`.
//!
//! 5xx bodies say nothing internal: the cause goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chronicle_core::schema::FieldError;
use chronicle_core::write::OpError;
use chronicle_store::StoreError;
use serde_json::{Map, Value, json};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Stable problem codes. Clients match on these; never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    InvalidInput,
    NotFound,
    MethodNotAllowed,
    VersionConflict,
    AlreadyExists,
    PayloadTooLarge,
    UriTooLong,
    HeadersTooLarge,
    UnsupportedMediaType,
    RollbackConflict,
    InvalidState,
    Unauthorized,
    Forbidden,
    TargetTooLarge,
    Unavailable,
    Internal,
}

impl Code {
    /// The table: code → (wire code, status, title).
    pub fn info(self) -> (&'static str, StatusCode, &'static str) {
        match self {
            Code::InvalidInput => ("invalid-input", StatusCode::BAD_REQUEST, "Invalid input"),
            Code::NotFound => ("not-found", StatusCode::NOT_FOUND, "Not found"),
            Code::MethodNotAllowed => (
                "method-not-allowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
            Code::VersionConflict => ("version-conflict", StatusCode::CONFLICT, "Version conflict"),
            Code::AlreadyExists => ("already-exists", StatusCode::CONFLICT, "Already exists"),
            Code::PayloadTooLarge => (
                "payload-too-large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
            ),
            Code::UriTooLong => ("uri-too-long", StatusCode::URI_TOO_LONG, "URI too long"),
            Code::HeadersTooLarge => (
                "headers-too-large",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request headers too large",
            ),
            Code::UnsupportedMediaType => (
                "unsupported-media-type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
            ),
            Code::RollbackConflict => (
                "rollback-conflict",
                StatusCode::CONFLICT,
                "Rollback conflicts with later changes",
            ),
            Code::InvalidState => (
                "invalid-state",
                StatusCode::CONFLICT,
                "Not allowed in the current state",
            ),
            Code::Unauthorized => ("unauthorized", StatusCode::UNAUTHORIZED, "Unauthorized"),
            Code::Forbidden => ("forbidden", StatusCode::FORBIDDEN, "Forbidden"),
            Code::TargetTooLarge => (
                "target-too-large",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Target too large",
            ),
            Code::Unavailable => (
                "unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
            ),
            Code::Internal => (
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
            ),
        }
    }

    pub fn status(self) -> StatusCode {
        self.info().1
    }

    /// The code an answer of this status has when nothing more is known about it (a status
    /// several codes share, such as 409, has none).
    pub fn for_status(status: StatusCode) -> Option<Code> {
        Some(match status {
            StatusCode::BAD_REQUEST => Code::InvalidInput,
            StatusCode::UNAUTHORIZED => Code::Unauthorized,
            StatusCode::FORBIDDEN => Code::Forbidden,
            StatusCode::NOT_FOUND => Code::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
            StatusCode::URI_TOO_LONG => Code::UriTooLong,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Code::HeadersTooLarge,
            StatusCode::INTERNAL_SERVER_ERROR => Code::Internal,
            StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
            _ => return None,
        })
    }

    pub fn type_uri(self) -> String {
        format!("urn:chronicle:problem:{}", self.info().0)
    }
}

/// An error answer. Build one with the constructors; extension members go in `extensions`.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Boxed: errors travel in every `Result` of the crate, and most have no extensions.
    pub extensions: Box<Map<String, Value>>,
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: Box::default(),
        }
    }

    /// Invalid input with field errors; the detail names the first one.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [] => "the request is invalid".to_owned(),
            [one] => located(one),
            [first, rest @ ..] => format!("{} (and {} more)", located(first), rest.len()),
        };
        ApiError {
            code: Code::InvalidInput,
            detail,
            errors,
            extensions: Box::default(),
        }
    }

    /// Invalid input with one field error.
    pub fn invalid_field(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::invalid(vec![FieldError::new(pointer, message)])
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(Code::NotFound, detail)
    }

    pub fn internal() -> Self {
        ApiError::new(Code::Internal, "the server could not complete the request")
    }

    pub fn with_extension(mut self, name: &str, value: Value) -> Self {
        self.extensions.insert(name.to_owned(), value);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// A refused entity operation. `prefix` locates the operation in the request body (empty
    /// for single-entity routes, `/operations/3` in a batch).
    pub fn from_op(err: OpError, prefix: &str) -> Self {
        match err {
            OpError::Invalid(errors) => ApiError::invalid(
                errors
                    .into_iter()
                    .map(|e| FieldError::new(format!("{prefix}{}", e.pointer), e.message))
                    .collect(),
            ),
            e @ OpError::NotFound { .. } => ApiError::new(Code::NotFound, e.to_string()),
            e @ OpError::AlreadyExists { .. } => ApiError::new(Code::AlreadyExists, e.to_string()),
            OpError::VersionConflict { expected, actual } => ApiError::new(
                Code::VersionConflict,
                format!("expected version {expected}, current version is {actual}"),
            )
            .with_extension("current_version", json!(actual)),
        }
    }

    /// The problem document.
    pub fn body(&self) -> Value {
        let (_, status, title) = self.code.info();
        let mut body = Map::new();
        body.insert("type".into(), json!(self.code.type_uri()));
        body.insert("title".into(), json!(title));
        body.insert("status".into(), json!(status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        if !self.errors.is_empty() {
            body.insert(
                "errors".into(),
                serde_json::to_value(&self.errors).unwrap_or(Value::Null),
            );
        }
        for (k, v) in self.extensions.iter() {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(body)
    }
}

/// `"/data/status: must be ..."`, or just the message for the body as a whole.
fn located(e: &FieldError) -> String {
    if e.pointer.is_empty() {
        e.message.clone()
    } else {
        format!("{}: {}", e.pointer, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        // The full chain goes to the log; the client learns only the class.
        let chain = error_chain(&err);
        match err {
            StoreError::Unavailable { .. } | StoreError::Busy(_) => {
                tracing::warn!(error = %chain, "storage unavailable");
                ApiError::new(
                    Code::Unavailable,
                    "the ledger is temporarily unavailable; retry later",
                )
            }
            StoreError::Corrupt(_) | StoreError::Internal { .. } => {
                tracing::error!(error = %chain, "storage failure");
                ApiError::internal()
            }
        }
    }
}

impl From<chronicle_engine::EngineError> for ApiError {
    fn from(err: chronicle_engine::EngineError) -> Self {
        use chronicle_engine::EngineError as E;
        match err {
            E::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            E::Invalid { pointer, message } => ApiError::invalid_field(pointer, message),
            E::Conflict(plan) => ApiError::new(
                Code::RollbackConflict,
                format!(
                    "{} later change(s) conflict with the rollback; nothing was written",
                    plan.conflicts.len()
                ),
            )
            .with_extension(
                "conflicts",
                serde_json::to_value(&plan.conflicts).unwrap_or(Value::Null),
            )
            .with_extension("plan", serde_json::to_value(&*plan).unwrap_or(Value::Null)),
            E::WrongState(m) => ApiError::new(Code::InvalidState, m),
            E::Forbidden(m) => ApiError::new(Code::Forbidden, m),
            E::TooLarge(m) => ApiError::new(Code::TargetTooLarge, m),
            E::Store(e) => ApiError::from(e),
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.code == Code::Unavailable {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.code == Code::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"chronicle\""),
            );
        }
        response
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_wire_name_and_an_error_status() {
        let all = [
            Code::InvalidInput,
            Code::NotFound,
            Code::MethodNotAllowed,
            Code::VersionConflict,
            Code::AlreadyExists,
            Code::PayloadTooLarge,
            Code::UriTooLong,
            Code::HeadersTooLarge,
            Code::UnsupportedMediaType,
            Code::RollbackConflict,
            Code::InvalidState,
            Code::Unauthorized,
            Code::Forbidden,
            Code::TargetTooLarge,
            Code::Unavailable,
            Code::Internal,
        ];
        let names: std::collections::BTreeSet<_> = all.iter().map(|c| c.info().0).collect();
        assert_eq!(names.len(), all.len());
        assert!(
            all.iter()
                .all(|c| c.status().is_client_error() || c.status().is_server_error())
        );
    }

    #[test]
    fn op_errors_point_under_the_operation() {
        let err = OpError::Invalid(vec![FieldError::new("/data/status", "bad")]);
        let api = ApiError::from_op(err, "/operations/3");
        assert_eq!(api.errors[0].pointer, "/operations/3/data/status");
        assert_eq!(api.body()["type"], "urn:chronicle:problem:invalid-input");
        let conflict = ApiError::from_op(
            OpError::VersionConflict {
                expected: 1,
                actual: 2,
            },
            "",
        );
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        assert_eq!(conflict.body()["current_version"], 2);
    }

    #[test]
    fn internal_errors_say_nothing_internal() {
        let api = ApiError::from(StoreError::internal_msg("table ledger is on fire"));
        assert!(!api.body().to_string().contains("fire"));
        assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
