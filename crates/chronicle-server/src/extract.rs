//! Extractors whose every rejection is a problem document (axum's own answer in plain text).
//!
//! - [`Json`]: the body, checked in the order that keeps hostile input cheap: media type,
//!   size (while reading), UTF-8, nesting depth (on the raw bytes, before any parser recurses),
//!   duplicate keys and numbers a double cannot hold exactly (on the text, which parsing
//!   would hide: [`chronicle_core::json_text`]), then typed parsing that reports the JSON
//!   Pointer of a wrong field.
//! - [`Path`]: path segments.
//! - [`Params`]: query parameters, typed one by one; unknown or repeated names are refused so
//!   that a misspelt filter never silently widens a search, and text that is not UTF-8 once
//!   decoded is refused ([`query_pairs`]) rather than read with replacement characters.

use crate::AppState;
use crate::error::{ApiError, Code};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chronicle_core::schema::FieldError;
use chronicle_core::{limits, timefmt};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;
use uuid::Uuid;

/// How much of an oversized body is read and discarded, as a multiple of the limit.
const DRAIN_FACTOR: usize = 4;

/// A JSON request body of type `T`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        check_json_media_type(req.headers())?;
        let limit = state.config.body_limit;
        // Past the limit the rest of the body is read and dropped, up to this bound, so that
        // the client finishes sending and reads the 413 (a connection closed on a client
        // still sending shows up there as a reset, not as an answer). Beyond the bound the
        // connection is given up.
        let drain_bound = limit.saturating_mul(DRAIN_FACTOR);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > drain_bound as u64) {
            return Err(too_large(limit));
        }
        let mut stream = req.into_body().into_data_stream();
        let mut bytes = Vec::new();
        let mut received = 0usize;
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else {
                if received > limit {
                    return Err(too_large(limit));
                }
                return Err(ApiError::invalid_field(
                    "",
                    "the request body could not be read",
                ));
            };
            received = received.saturating_add(chunk.len());
            if received > limit {
                bytes = Vec::new();
                if received > drain_bound {
                    break;
                }
            } else {
                bytes.extend_from_slice(&chunk);
            }
        }
        if received > limit {
            return Err(too_large(limit));
        }
        parse_json(&bytes).map(Json)
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        format!("the request body is larger than {limit} bytes"),
    )
}

fn check_json_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let unsupported = || {
        ApiError::new(
            Code::UnsupportedMediaType,
            "the request body must be Content-Type: application/json",
        )
    };
    let value = headers.get(header::CONTENT_TYPE).ok_or_else(unsupported)?;
    let value = value.to_str().map_err(|_| unsupported())?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json { Ok(()) } else { Err(unsupported()) }
}

/// Parses a JSON document from raw bytes with every bound checked first.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(ApiError::invalid_field(
            "",
            format!("the body is not valid UTF-8 (byte {})", e.valid_up_to()),
        ));
    }
    if limits::has_nul_escape(bytes) {
        return Err(ApiError::invalid_field(
            "",
            "strings must not contain U+0000",
        ));
    }
    if limits::text_depth(bytes) > limits::MAX_JSON_DEPTH {
        return Err(ApiError::invalid_field(
            "",
            format!(
                "JSON is nested deeper than {} levels",
                limits::MAX_JSON_DEPTH
            ),
        ));
    }
    // Every body of this API is an object; serde would also accept a struct as an array.
    if bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b != b'{')
    {
        return Err(ApiError::invalid_field(
            "",
            "the body must be a JSON object",
        ));
    }
    // Before typed parsing, which would keep the last of two equal keys and round numbers.
    let errors = chronicle_core::json_text::check(bytes);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    // Parsed to a value first so that its numbers can take their canonical form (the form
    // the ledger hashes and reads back), then typed.
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_field("", format!("malformed JSON: {e}")))?;
    chronicle_core::json_text::canonicalize_numbers(&mut value);
    let value = serde_path_to_error::deserialize(value).map_err(|e| {
        let pointer = to_pointer(e.path());
        ApiError::invalid_field(pointer, e.into_inner().to_string())
    })?;
    Ok(value)
}

fn to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&chronicle_core::diff::escape_token(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// Path segments of type `T`.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::invalid_field("/path", e.body_text()))
    }
}

/// Checks an entity type and id taken from the path.
pub fn check_entity_path(entity_type: &str, id: Option<&str>) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Err(m) = limits::check_type_name(entity_type) {
        errors.push(FieldError::new("/path/type", m));
    }
    if let Some(Err(m)) = id.map(limits::check_id) {
        errors.push(FieldError::new("/path/id", m));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// Query parameters, consumed by name. Call [`Params::finish`] last: it reports every bad
/// value at once, and names that no handler asked for.
pub struct Params {
    values: BTreeMap<String, String>,
    taken: BTreeSet<String>,
    errors: Vec<FieldError>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Params::from_pairs(query_pairs(parts.uri.query())?))
    }
}

/// The `application/x-www-form-urlencoded` pairs of a query string. Unlike the usual
/// decoders, which replace bytes that are not UTF-8 with U+FFFD and answer as if the client
/// had sent that, a name or value that is not UTF-8 once decoded is refused, naming it.
pub fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    let mut errors = Vec::new();
    for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = match String::from_utf8(form_decode(name)) {
            Ok(name) => name,
            Err(e) => {
                let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
                errors.push(FieldError::new(
                    pointer(&shown),
                    "the parameter name is not valid UTF-8 once percent-decoded",
                ));
                continue;
            }
        };
        match String::from_utf8(form_decode(value)) {
            Ok(value) => pairs.push((name, value)),
            Err(_) => errors.push(FieldError::new(
                pointer(&name),
                "is not valid UTF-8 once percent-decoded",
            )),
        }
    }
    if errors.is_empty() {
        Ok(pairs)
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// Form decoding: `+` is a space, `%XX` a byte; a `%` not followed by two hex digits stays.
fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|b| (*b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'+', ..) => out.push(b' '),
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            (b, ..) => out.push(b),
        }
        i += 1;
    }
    out
}

impl Params {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, value) in pairs {
            if values.insert(name.clone(), value).is_some() {
                errors.push(FieldError::new(pointer(&name), "is given more than once"));
            }
        }
        Params {
            values,
            taken: BTreeSet::new(),
            errors,
        }
    }

    /// Whether the parameter was given.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The raw value, if given.
    fn raw(&mut self, name: &str) -> Option<String> {
        self.taken.insert(name.to_owned());
        self.values.get(name).cloned()
    }

    /// A value parsed by `f`, whose error message is recorded against the parameter.
    pub fn parse<T>(&mut self, name: &str, f: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let raw = self.raw(name)?;
        match f(&raw) {
            Ok(v) => Some(v),
            Err(m) => {
                self.errors.push(FieldError::new(pointer(name), m));
                None
            }
        }
    }

    /// An identifier-like value (actor, entity id, tag): bounded, no control characters.
    pub fn id(&mut self, name: &str) -> Option<String> {
        self.parse(name, |s| limits::check_id(s).map(|()| s.to_owned()))
    }

    /// Free text.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.parse(name, |s| {
            if s.is_empty() {
                return Err("must not be empty".into());
            }
            limits::check_text(s).map(|()| s.to_owned())
        })
    }

    pub fn u64(&mut self, name: &str) -> Option<u64> {
        self.parse(name, |s| {
            s.parse::<u64>()
                .map_err(|_| "must be a non-negative integer".into())
        })
    }

    pub fn time(&mut self, name: &str) -> Option<OffsetDateTime> {
        self.parse(name, |s| {
            timefmt::parse(s).map_err(|_| "must be an RFC 3339 time".into())
        })
    }

    pub fn uuid(&mut self, name: &str) -> Option<Uuid> {
        self.parse(name, |s| {
            Uuid::parse_str(s).map_err(|_| "must be a UUID".into())
        })
    }

    /// A JSON Pointer (`/a/b`).
    pub fn pointer(&mut self, name: &str) -> Option<String> {
        self.parse(name, |s| check_pointer(s).map(|()| s.to_owned()))
    }

    /// A page size: the default when absent, else 1 to `max`.
    pub fn limit(&mut self, default: usize, max: usize) -> usize {
        self.parse("limit", |s| match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!("must be an integer from 1 to {max}")),
        })
        .unwrap_or(default)
    }

    /// A seq cursor as issued by [`seq_cursor`].
    pub fn seq_cursor(&mut self) -> Option<u64> {
        self.parse("cursor", |s| {
            decode_cursor(s)
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| "is not a cursor this server issued".into())
        })
    }

    /// A cursor into the ledger as issued by [`ledger_cursor`].
    pub fn ledger_cursor(&mut self) -> Option<LedgerCursor> {
        self.parse("cursor", |s| {
            decode_cursor(s)
                .and_then(|s| {
                    let (after, bound) = s.split_once('.')?;
                    Some(LedgerCursor {
                        after: after.parse().ok()?,
                        bound: bound.parse().ok()?,
                    })
                })
                .ok_or_else(|| "is not a cursor this server issued".into())
        })
    }

    /// A text cursor as issued by [`text_cursor`].
    pub fn text_cursor(&mut self) -> Option<String> {
        self.parse("cursor", |s| {
            decode_cursor(s)
                .filter(|s| limits::check_id(s).is_ok())
                .ok_or_else(|| "is not a cursor this server issued".into())
        })
    }

    /// Records an error against a parameter (for checks across parameters).
    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(pointer(name), message));
    }

    /// Every error so far, and the unknown names.
    pub fn finish(mut self) -> Result<(), ApiError> {
        for name in self.values.keys() {
            if !self.taken.contains(name) {
                self.errors.push(FieldError::new(
                    pointer(name),
                    "is not a parameter of this endpoint",
                ));
            }
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.errors))
        }
    }
}

fn pointer(name: &str) -> String {
    format!("/query/{}", chronicle_core::diff::escape_token(name))
}

/// A JSON Pointer to a field (`/a/b`; not the whole document), as filters take it.
pub fn check_pointer(s: &str) -> Result<(), String> {
    limits::check_text(s)?;
    match chronicle_core::diff::parse_pointer(s) {
        Some(tokens) if !tokens.is_empty() => Ok(()),
        _ => Err("must be a JSON Pointer such as /status".into()),
    }
}

/// An opaque cursor for a seq: base64url of its decimal text.
pub fn seq_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(seq.to_string())
}

/// Where the next page of a ledger read starts (after seq `after`), and the head the first
/// page saw (`bound`), which no later page passes: entries written while a client pages,
/// including the `access` entries its own reads cause, are not part of that listing, so
/// paging always ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerCursor {
    pub after: u64,
    pub bound: u64,
}

/// An opaque cursor for a ledger page: base64url of `<after>.<bound>`.
pub fn ledger_cursor(c: LedgerCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", c.after, c.bound))
}

/// An opaque cursor for a text key (an entity id).
pub fn text_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

fn decode_cursor(s: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_point_at_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Body {
            items: Vec<Item>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Item {
            n: u64,
        }
        let err = parse_json::<Body>(br#"{"items": [{"n": 1}, {"n": "x"}]}"#).unwrap_err();
        assert_eq!(err.errors[0].pointer, "/items/1/n");
        assert!(
            parse_json::<Body>(br#"[[{"n": 1}]]"#)
                .unwrap_err()
                .detail
                .contains("object")
        );
        let err = parse_json::<Body>(br#"{"items": [}"#).unwrap_err();
        assert_eq!(err.errors[0].pointer, "");
        assert!(err.detail.contains("malformed"));
        assert!(parse_json::<Body>(br#"{"items": []} x"#).is_err());
        assert!(
            parse_json::<Body>(b"{\"items\": [\xff]}")
                .unwrap_err()
                .detail
                .contains("UTF-8")
        );
    }

    #[test]
    fn query_text_that_is_not_utf8_is_refused_naming_the_parameter() {
        let pairs = query_pairs(Some("a=x+y%2Bz&b=%E2%9C%93&c&d=100%")).unwrap();
        let expected = [("a", "x y+z"), ("b", "\u{2713}"), ("c", ""), ("d", "100%")];
        let expected: Vec<_> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(pairs, expected);
        let err = query_pairs(Some("entity_id=%FF&ok=1&n%C3=1&t=%E2%9C")).unwrap_err();
        let pointers: Vec<_> = err.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/query/entity_id", "/query/n\u{FFFD}", "/query/t"]
        );
        assert_eq!(query_pairs(None).unwrap(), []);
    }

    #[test]
    fn params_report_bad_unknown_and_repeated_names() {
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let mut p = Params::from_pairs(pairs(&[("limit", "x"), ("bogus", "1"), ("cursor", "@@")]));
        assert_eq!(p.limit(50, 1000), 50);
        assert_eq!(p.seq_cursor(), None);
        let err = p.finish().unwrap_err();
        let pointers: Vec<_> = err.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/query/limit", "/query/cursor", "/query/bogus"]);
        let c = LedgerCursor {
            after: 42,
            bound: 99,
        };
        let mut p = Params::from_pairs(pairs(&[("cursor", &ledger_cursor(c))]));
        assert_eq!(p.ledger_cursor(), Some(c));
        assert!(p.finish().is_ok());
        // A ledger page's cursor always carries its bound.
        let mut p = Params::from_pairs(pairs(&[("cursor", &seq_cursor(42))]));
        assert_eq!(p.ledger_cursor(), None);
        assert!(p.finish().is_err());
        let mut p = Params::from_pairs(pairs(&[("cursor", &seq_cursor(42))]));
        assert_eq!(p.seq_cursor(), Some(42));
        assert!(p.finish().is_ok());
        assert!(
            Params::from_pairs(pairs(&[("a", "1"), ("a", "2")]))
                .finish()
                .is_err()
        );
    }
}
