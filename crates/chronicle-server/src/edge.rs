//! The edge of the server: what every request and every connection passes, so that no answer
//! escapes the problem-document contract, wherever in the stack it was made.
//!
//! - [`refuse_undecodable_query`]: a query string that is not UTF-8 once percent-decoded is
//!   refused on every route, naming the parameter (routes without parameters included).
//! - [`problem_for_bare_errors`]: an error response without a body (from a layer or a
//!   library below the handlers) gets a problem document.
//! - [`Listener`] and [`ProblemIo`]: hyper answers a request it cannot parse (a malformed
//!   request line or `Content-Length`, a control character in a header, headers over its
//!   buffer: 431, a URI over 64 KiB: 414) on its own, with an empty body and no hook to
//!   change it. Each connection's writes are watched for exactly that answer, which hyper
//!   writes last before closing, and it is replaced by the same status with a problem body.

use crate::error::{ApiError, Code, PROBLEM_JSON};
use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Refuses a request whose query does not decode to UTF-8.
pub async fn refuse_undecodable_query(request: Request, next: Next) -> Response {
    match crate::extract::query_pairs(request.uri().query()) {
        Ok(_) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Gives an error response that has no body a problem document for its status.
pub async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let bare = (status.is_client_error() || status.is_server_error())
        && response.body().size_hint().exact() == Some(0)
        && !response.headers().contains_key(header::CONTENT_TYPE);
    if !bare {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    let body = problem_body(status).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The problem document of a status that no handler explained: the code of the status where
/// the API has one, else RFC 9457's `about:blank` with the status phrase as title.
pub fn problem_body(status: StatusCode) -> serde_json::Value {
    let detail = match status {
        StatusCode::BAD_REQUEST => {
            "the request is not well-formed HTTP/1.1 (request line, header name or value, or \
             Content-Length)"
        }
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request's headers are too large",
        StatusCode::URI_TOO_LONG => "the request's URI is too long",
        _ => "the request could not be served",
    };
    match Code::for_status(status) {
        Some(code) => ApiError::new(code, detail).body(),
        None => json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
        }),
    }
}

/// A TCP listener whose connections are [`ProblemIo`]s.
pub struct Listener(pub TcpListener);

impl axum::serve::Listener for Listener {
    type Io = ProblemIo<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (ProblemIo::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// The peer address of a connection accepted by [`Listener`], as handlers read it.
pub fn connect_info(stream: axum::serve::IncomingStream<'_, Listener>) -> ConnectInfo<SocketAddr> {
    ConnectInfo(*stream.remote_addr())
}

/// A connection whose bare error answers from hyper are replaced by problem documents.
pub struct ProblemIo<T> {
    inner: T,
    /// A replacement being written: its bytes, how many are out, and the length of the
    /// original write it stands for (reported once the replacement is out).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> ProblemIo<T> {
    pub fn new(inner: T) -> Self {
        ProblemIo {
            inner,
            pending: None,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            let Some((start, status)) = bare_error_at_end(buf) else {
                return Pin::new(&mut this.inner).poll_write(cx, buf);
            };
            let mut bytes = buf[..start].to_vec();
            bytes.extend_from_slice(&problem_response(status));
            this.pending = Some((bytes, 0, buf.len()));
        }
        // Hyper offers the same bytes again after `Pending`; they are the ones replaced.
        let (bytes, out, original) = this.pending.as_mut().expect("set above");
        while *out < bytes.len() {
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*out..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *out += n;
        }
        let original = *original;
        this.pending = None;
        Poll::Ready(Ok(original))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Where hyper's own error answer starts in `buf`, and its status, when `buf` ends with one.
/// Hyper writes it as `HTTP/1.1 4xx <phrase>`, then exactly `connection: close`,
/// `content-length: 0` and `date`, and nothing after it; every answer the router makes
/// carries a content type first, so none has this shape.
fn bare_error_at_end(buf: &[u8]) -> Option<(usize, StatusCode)> {
    const TAIL: &[u8] = b"\r\n\r\n";
    if !buf.ends_with(TAIL) {
        return None;
    }
    let start = buf
        .windows(10)
        .rposition(|w| w.starts_with(b"HTTP/1.1 4"))?;
    let head = std::str::from_utf8(&buf[start..buf.len() - TAIL.len()]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.get(9..12)?.parse::<u16>().ok()?;
    let rest: Vec<&str> = lines.collect();
    match rest.as_slice() {
        ["connection: close", "content-length: 0", date] if date.starts_with("date: ") => {
            Some((start, StatusCode::from_u16(status).ok()?))
        }
        _ => None,
    }
}

/// The whole answer that replaces a bare error: same status, a problem body, then close.
fn problem_response(status: StatusCode) -> Vec<u8> {
    let body = problem_body(status).to_string();
    format!(
        "HTTP/1.1 {} {}\r\nconnection: close\r\ncontent-type: {PROBLEM_JSON}\r\n\
         content-length: {}\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_shaped_bare_errors_at_the_end_are_found() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n\
                     content-length: 0\r\ndate: Fri, 04 Dec 2026 17:34:18 GMT\r\n\r\n";
        assert_eq!(
            bare_error_at_end(bare),
            Some((0, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
        );
        let mut pipelined = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
        let start = pipelined.len();
        pipelined.extend_from_slice(bare);
        assert_eq!(
            bare_error_at_end(&pipelined),
            Some((start, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
        );
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n\
                     content-length: 2\r\n\r\n{}";
        assert_eq!(bare_error_at_end(ours), None);
        let with_body = b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\
                          date: x\r\nx-more: 1\r\n\r\n";
        assert_eq!(bare_error_at_end(with_body), None);
    }

    /// A layer below the handlers that answers with a bare status gets a problem document.
    #[tokio::test]
    async fn bare_error_answers_get_a_problem_body_and_others_pass() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/bare",
                axum::routing::get(|| async { StatusCode::URI_TOO_LONG }),
            )
            .route(
                "/teapot",
                axum::routing::get(|| async { StatusCode::IM_A_TEAPOT }),
            )
            .route(
                "/ok",
                axum::routing::get(|| async { StatusCode::NO_CONTENT }),
            )
            .layer(axum::middleware::from_fn(problem_for_bare_errors));
        let call = |path: &'static str| {
            let app = app.clone();
            async move {
                let request = Request::get(path).body(axum::body::Body::empty()).unwrap();
                let response = app.oneshot(request).await.unwrap();
                let status = response.status();
                let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
                    .await
                    .unwrap();
                (status, content_type, bytes)
            }
        };
        let (status, content_type, bytes) = call("/bare").await;
        assert_eq!(status, StatusCode::URI_TOO_LONG);
        assert_eq!(content_type.unwrap(), PROBLEM_JSON);
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["type"], "urn:chronicle:problem:uri-too-long");
        let body: serde_json::Value = serde_json::from_slice(&call("/teapot").await.2).unwrap();
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["status"], 418);
        let (status, content_type, bytes) = call("/ok").await;
        assert_eq!(
            (status, content_type, bytes.len()),
            (StatusCode::NO_CONTENT, None, 0)
        );
    }

    #[test]
    fn a_replacement_is_a_complete_problem_answer() {
        let text = String::from_utf8(problem_response(StatusCode::URI_TOO_LONG)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["status"], 414);
        assert_eq!(body["type"], "urn:chronicle:problem:uri-too-long");
    }
}
