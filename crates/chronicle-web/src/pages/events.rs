//! `GET /events`: the API's event stream for the signed-in session. A browser's
//! `EventSource` cannot send an `Authorization` header, so the dashboard opens
//! `GET /v1/stream` in process with the session's token and hands its body through as it
//! comes. The API's guard, filters, masking and resumption (`Last-Event-ID`, `after_seq`)
//! apply unchanged.

use super::{ENTRY_FILTERS, pick};
use crate::WebState;
use crate::api::{Call, Client};
use crate::layout::query;
use crate::session::Signed;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;

pub async fn events(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let mut names = ENTRY_FILTERS.to_vec();
    names.push("after_seq");
    let filters = pick(&params, &names);
    let call = Call {
        method: Method::GET,
        path: format!("/v1/stream?{}", query(&filters)),
        token: Some(&session.token),
        client: &client,
        reason: None,
        body: None,
    };
    let resume: Vec<_> = headers
        .get("last-event-id")
        .map(|v| (header::HeaderName::from_static("last-event-id"), v.clone()))
        .into_iter()
        .collect();
    state.api.send(call, &resume).await
}
