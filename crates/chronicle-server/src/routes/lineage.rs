//! Lineage: the graph around an entity (JSON, DOT, Mermaid or SVG), the impact of undoing
//! it, and the provenance of one of its fields. The work is chronicle-lineage's; this file
//! parses, bounds, masks and records the access.

use crate::AppState;
use crate::access::{self, Access};
use crate::auth::Caller;
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::extract::{Params, Path, check_entity_path};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chronicle_core::rollback::EntityRef;
use chronicle_lineage::walk::{MAX_DEPTH, MAX_NODES, MAX_SIBLINGS};
use chronicle_lineage::{Direction, Graph, Impact, Options, Provenance, render};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/lineage/{type}/{id}", get(graph))
        .route("/v1/lineage/{type}/{id}/impact", get(impact))
        .route("/v1/entities/{type}/{id}/provenance", get(provenance))
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Dot,
    Mermaid,
    Svg,
}

/// A bounded count parameter: the default when absent, else 1 to `max`.
fn bounded(params: &mut Params, name: &str, default: usize, max: usize) -> usize {
    params
        .parse(name, |s| match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!("must be an integer from 1 to {max}")),
        })
        .unwrap_or(default)
}

/// The entity's lineage graph: nodes and edges of kinds `references`, `same_transaction`,
/// `same_bulk`, `rollback_of` and `source`, each edge with the entry that made it.
#[utoipa::path(get, path = "/v1/lineage/{type}/{id}", tag = "lineage",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id"),
           ("direction" = Option<String>, Query, description = "upstream, downstream or both (default)"),
           ("depth" = Option<usize>, Query, description = "Steps from the entity, 1 to 10 (default 2)"),
           ("as_of" = Option<String>, Query, description = "The ledger as it was at this RFC 3339 time"),
           ("format" = Option<String>, Query, description = "json (default), dot, mermaid or svg"),
           ("max_nodes" = Option<usize>, Query, description = "Most nodes, 1 to 5000 (default 200)"),
           ("max_siblings" = Option<usize>, Query, description = "Neighbours of one kind listed per node, 1 to 1000 (default 25); the rest are counted by a `_more` node")),
    responses((status = 200, description = "The graph (JSON, or text in the asked format)", body = Graph),
              (status = 404, description = "The entity had no entry (by as_of)", body = crate::dto::Problem)))]
pub async fn graph(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    uri: axum::http::Uri,
    Path((entity_type, id)): Path<(String, String)>,
    mut params: Params,
) -> ApiResult<Response> {
    let defaults = Options::default();
    let options = Options {
        direction: params
            .parse("direction", |s| {
                Direction::parse(s).ok_or_else(|| "must be upstream, downstream or both".into())
            })
            .unwrap_or_default(),
        depth: bounded(&mut params, "depth", defaults.depth, MAX_DEPTH),
        as_of: params.time("as_of"),
        max_nodes: bounded(&mut params, "max_nodes", defaults.max_nodes, MAX_NODES),
        max_siblings: bounded(
            &mut params,
            "max_siblings",
            defaults.max_siblings,
            MAX_SIBLINGS,
        ),
    };
    let format = params
        .parse("format", |s| match s {
            "json" => Ok(Format::Json),
            "dot" => Ok(Format::Dot),
            "mermaid" => Ok(Format::Mermaid),
            "svg" => Ok(Format::Svg),
            _ => Err("must be json, dot, mermaid or svg".into()),
        })
        .unwrap_or(Format::Json);
    params.finish()?;
    check_entity_path(&entity_type, Some(&id))?;
    let root = EntityRef::new(entity_type, id);
    let graph =
        chronicle_lineage::lineage(state.store.as_ref(), &state.schema, &root, &options).await?;
    let what = format!("lineage of {} {}", root.entity_type, root.id);
    access::record(
        &state,
        ctx,
        Access::new("/v1/lineage/{type}/{id}", &uri, what).returned(graph.nodes.len()),
    )
    .await?;
    let text = |content_type: &'static str, body: String| {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    Ok(match format {
        Format::Json => axum::Json(graph).into_response(),
        Format::Dot => text("text/vnd.graphviz; charset=utf-8", render::dot(&graph)),
        Format::Mermaid => text("text/vnd.mermaid; charset=utf-8", render::mermaid(&graph)),
        Format::Svg => text("image/svg+xml", render::svg(&graph)),
    })
}

/// What undoing the entity (its creation, or the entry `entry_id`) would touch: the rollback
/// planner's own preview with the `cascade` strategy.
#[utoipa::path(get, path = "/v1/lineage/{type}/{id}/impact", tag = "lineage",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id"),
           ("entry_id" = Option<String>, Query, description = "An entry of the entity to undo (default: its first, the creation)")),
    responses((status = 200, description = "The entities touched and the preview", body = Impact),
              (status = 404, description = "No such entity", body = crate::dto::Problem)))]
pub async fn impact(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    uri: axum::http::Uri,
    Path((entity_type, id)): Path<(String, String)>,
    mut params: Params,
) -> ApiResult<axum::Json<Impact>> {
    let entry_id = params.uuid("entry_id");
    params.finish()?;
    check_entity_path(&entity_type, Some(&id))?;
    let entity = EntityRef::new(entity_type, id);
    let mut impact = chronicle_lineage::impact(&state.engine, &entity, entry_id).await?;
    let what = format!("impact of {} {}", entity.entity_type, entity.id);
    access::record(
        &state,
        ctx,
        Access::new("/v1/lineage/{type}/{id}/impact", &uri, what).returned(impact.touched.len()),
    )
    .await?;
    if !caller.unmasked(&state.config.auth) {
        chronicle_core::mask::mask_plan(&state.schema, &mut impact.preview.plan);
    }
    Ok(axum::Json(impact))
}

/// The chain of entries that set one field of the entity, newest first, each with the source
/// it named.
#[utoipa::path(get, path = "/v1/entities/{type}/{id}/provenance", tag = "lineage",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id"),
           ("field" = String, Query, description = "JSON Pointer of the field, e.g. /address/city"),
           ("as_of" = Option<String>, Query, description = "The ledger as it was at this RFC 3339 time")),
    responses((status = 200, description = "The field's provenance", body = Provenance),
              (status = 404, description = "No such entity", body = crate::dto::Problem)))]
pub async fn provenance(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    uri: axum::http::Uri,
    Path((entity_type, id)): Path<(String, String)>,
    mut params: Params,
) -> ApiResult<axum::Json<Provenance>> {
    let field = params.pointer("field");
    if !params.has("field") {
        params.error("field", "is required");
    }
    let as_of = params.time("as_of");
    params.finish()?;
    check_entity_path(&entity_type, Some(&id))?;
    let field = field.unwrap_or_default();
    let entity = EntityRef::new(entity_type, id);
    let mut provenance =
        chronicle_lineage::provenance(state.store.as_ref(), &entity, &field, as_of).await?;
    let what = format!("provenance of {} {} {field}", entity.entity_type, entity.id);
    access::record(
        &state,
        ctx,
        Access::new("/v1/entities/{type}/{id}/provenance", &uri, what)
            .returned(provenance.chain.len()),
    )
    .await?;
    if !caller.unmasked(&state.config.auth) {
        provenance.mask(&state.schema);
    }
    Ok(axum::Json(provenance))
}
