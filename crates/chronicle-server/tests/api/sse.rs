//! A Server-Sent Events client for the tests: reqwest streams the body, and the lines are
//! parsed here as the HTML living standard says (`field: value`, one optional space after
//! the colon, `data` lines joined with `\n`, a blank line dispatches, `:` starts a comment).

use crate::helpers::TestApp;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// A test that waits longer than this for one event has hung: it fails instead.
const HANG_GUARD: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    /// `event:` (`message` when absent).
    pub event: String,
    /// `id:`, a seq on this API.
    pub id: Option<u64>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("data is JSON ({e}): {self:?}"))
    }
}

pub struct SseStream {
    body: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: Vec<u8>,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
}

impl SseStream {
    /// Opens `path` (e.g. `/v1/stream?after_seq=3`), asserting a 200 event stream.
    pub async fn open(app: &TestApp, path: &str, last_event_id: Option<u64>) -> SseStream {
        let mut request = app.request(reqwest::Method::GET, path);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        SseStream::from_request(request).await
    }

    /// Opens a stream from a prepared request (credentials, headers).
    pub async fn from_request(request: reqwest::RequestBuilder) -> SseStream {
        let res = request.send().await.expect("stream request sent");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if status != StatusCode::OK {
            panic!(
                "stream answered {status}: {}",
                res.text().await.unwrap_or_default()
            );
        }
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseStream {
            body: res.bytes_stream().map(|r| r.map(|b| b.to_vec())).boxed(),
            buffer: Vec::new(),
            comments: 0,
        }
    }

    /// The next event; `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(HANG_GUARD, self.next_unguarded())
            .await
            .unwrap_or_else(|_| panic!("no event within {HANG_GUARD:?}"))
    }

    async fn next_unguarded(&mut self) -> Option<SseEvent> {
        let mut event = String::new();
        let mut id = None;
        let mut data: Vec<String> = Vec::new();
        loop {
            let line = self.line().await?;
            if line.is_empty() {
                if data.is_empty() {
                    event.clear();
                    continue;
                }
                let event = if event.is_empty() {
                    "message".to_owned()
                } else {
                    event
                };
                return Some(SseEvent {
                    event,
                    id,
                    data: data.join("\n"),
                });
            }
            if line.starts_with(':') {
                self.comments += 1;
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            match field {
                "event" => event = value.to_owned(),
                "data" => data.push(value.to_owned()),
                "id" => id = Some(value.parse().expect("ids are seqs")),
                _ => {}
            }
        }
    }

    /// One line without its terminator (`\n`, `\r\n` or `\r`); `None` at the end of the body.
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n' || *b == b'\r') {
                let line: Vec<u8> = self.buffer.drain(..end).collect();
                let terminator = self.buffer.remove(0);
                if terminator == b'\r' && self.buffer.first() == Some(&b'\n') {
                    self.buffer.remove(0);
                }
                return Some(String::from_utf8(line).expect("event streams are UTF-8"));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => panic!("stream body failed: {e}"),
                None => return None,
            }
        }
    }

    /// Reads until a comment line (a heartbeat) arrives; events on the way are returned.
    pub async fn until_comment(&mut self) -> Vec<String> {
        let seen = self.comments;
        let mut lines = Vec::new();
        while self.comments == seen {
            let line = tokio::time::timeout(HANG_GUARD, self.line())
                .await
                .unwrap_or_else(|_| panic!("no heartbeat within {HANG_GUARD:?}"))
                .expect("the stream goes on");
            if line.starts_with(':') {
                self.comments += 1;
            } else {
                lines.push(line);
            }
        }
        lines
    }

    /// The next event, asserting it is `event: audit`; its entry.
    pub async fn next_audit(&mut self) -> Value {
        let e = self.next().await.expect("the stream goes on");
        assert_eq!(e.event, "audit", "{e:?}");
        let entry = e.json();
        assert_eq!(Some(entry["seq"].as_u64().unwrap()), e.id, "id is the seq");
        entry
    }

    /// The next audit entry that is not a signed checkpoint: the server keeps those on its own
    /// cadence, so they may fall anywhere in a test.
    pub async fn next_audit_but_checkpoints(&mut self) -> Value {
        loop {
            let entry = self.next_audit().await;
            if entry["entity_type"] != "_checkpoint" {
                return entry;
            }
        }
    }

    /// Every event up to and including the `wanted`-th that `matches`.
    pub async fn collect(
        &mut self,
        wanted: usize,
        matches: impl Fn(&SseEvent) -> bool,
    ) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let mut matched = 0;
        while matched < wanted {
            let e = self.next().await.expect("the stream goes on");
            matched += usize::from(matches(&e));
            events.push(e);
        }
        events
    }
}

/// Asserts that ids are consecutive seqs from `first` (every seq once, in order).
pub fn assert_consecutive(events: &[SseEvent], first: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id, Some(first + i as u64), "event {i}: {e:?}");
    }
}

/// Whether an event is an audit entry of `entity_type`.
pub fn audit_of(entity_type: &'static str) -> impl Fn(&SseEvent) -> bool {
    move |e| e.event == "audit" && e.json()["entity_type"] == entity_type
}
