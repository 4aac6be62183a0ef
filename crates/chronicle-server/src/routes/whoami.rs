//! `GET /v1/whoami`: who the presented token belongs to and what its role may do. The
//! dashboard signs in with it (a wrong token meets the guard like any other request) and
//! shows only the controls the role can use; the API still decides every request.

use crate::auth::{Caller, Permission};
use crate::error::ApiResult;
use crate::extract::Params;
use axum::Router;
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<crate::AppState> {
    Router::new().route("/v1/whoami", get(whoami))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The actor id entries record for this token.
    pub name: String,
    pub email: Option<String>,
    /// `None` when the server runs without authentication (then everything is allowed).
    pub role: Option<String>,
    /// The permissions the role holds, by name (`AuditRead`, `RollbackRequest`, ...).
    pub permissions: Vec<String>,
}

/// The caller's identity and permissions.
#[utoipa::path(get, path = "/v1/whoami", tag = "tokens",
    responses((status = 200, description = "Who the token belongs to", body = WhoAmI)))]
pub async fn whoami(caller: Caller, params: Params) -> ApiResult<axum::Json<WhoAmI>> {
    params.finish()?;
    let answer = match caller {
        Caller::Token(p) => WhoAmI {
            permissions: Permission::ALL
                .iter()
                .filter(|perm| p.role.allows(**perm))
                .map(|perm| format!("{perm:?}"))
                .collect(),
            name: p.name,
            email: p.email,
            role: Some(p.role.as_str().to_owned()),
        },
        Caller::Open | Caller::Anonymous => WhoAmI {
            name: "anonymous".to_owned(),
            email: None,
            role: None,
            permissions: Permission::ALL.iter().map(|p| format!("{p:?}")).collect(),
        },
    };
    Ok(axum::Json(answer))
}
