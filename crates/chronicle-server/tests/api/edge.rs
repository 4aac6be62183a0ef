//! Answers made below the handlers are problem documents too: hyper's own refusals of
//! requests it cannot parse, seen over raw TCP. (Query text that does not decode:
//! `bad_input::bad_query_parameter_values_are_refused`.)

use crate::helpers::TestApp;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

backend_tests!(
    requests_hyper_cannot_parse_are_answered_with_problem_documents,
    a_bad_request_after_a_good_one_on_the_same_connection_gets_a_problem_document,
);

/// Sends raw bytes on a new connection and reads until the server closes it.
async fn exchange(app: &TestApp, request: &[u8]) -> String {
    let address = app.address.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// The answers in `text`, each as its status, lowercased head and body, read by their framing.
fn answers(mut text: &str) -> Vec<(u16, String, &str)> {
    let mut out = Vec::new();
    while !text.is_empty() {
        let (head, rest) = text.split_once("\r\n\r\n").expect("a head");
        let head = head.to_ascii_lowercase();
        let length: usize = head
            .split("\r\n")
            .find_map(|line| line.strip_prefix("content-length: "))
            .expect("a content length")
            .parse()
            .unwrap();
        out.push((head[9..12].parse().unwrap(), head, &rest[..length]));
        text = &rest[length..];
    }
    out
}

/// The status and problem body of the last answer in `text`.
fn last_problem(text: &str) -> (u16, Value) {
    let (status, head, body) = answers(text).pop().expect("an answer");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    let problem: Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["status"], status, "{problem}");
    assert!(problem["title"].is_string() && problem["detail"].is_string());
    (status, problem)
}

async fn requests_hyper_cannot_parse_are_answered_with_problem_documents(app: TestApp) {
    let before = app.tree_size().await;
    let long_header = format!(
        "GET /healthz HTTP/1.1\r\nx: {}\r\n\r\n",
        "a".repeat(500_000)
    );
    let long_uri = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(70_000));
    let cases: [(&[u8], u16, &str); 6] = [
        (
            b"GET /healthz HTTP/1.1\r\nx-a: b\x01c\r\n\r\n",
            400,
            "invalid-input",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nBad\x01Name: y\r\n\r\n",
            400,
            "invalid-input",
        ),
        (b"NOT AN HTTP REQUEST\r\n\r\n", 400, "invalid-input"),
        (
            b"POST /v1/entities/note HTTP/1.1\r\ncontent-length: abc\r\n\r\n",
            400,
            "invalid-input",
        ),
        (long_header.as_bytes(), 431, "headers-too-large"),
        (long_uri.as_bytes(), 414, "uri-too-long"),
    ];
    for (request, status, code) in cases {
        let text = exchange(&app, request).await;
        let (actual, problem) = last_problem(&text);
        assert_eq!(actual, status, "{text}");
        assert_eq!(problem["type"], format!("urn:chronicle:problem:{code}"));
    }
    assert_eq!(app.tree_size().await, before);
}

async fn a_bad_request_after_a_good_one_on_the_same_connection_gets_a_problem_document(
    app: TestApp,
) {
    let text = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\nx: \x01\r\n\r\n",
    )
    .await;
    let statuses: Vec<u16> = answers(&text).iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 400], "{text}");
    assert_eq!(last_problem(&text).0, 400);
}
