//! `/directoryObjects`: `getByIds` resolves up to 1,000 ids of users, groups and org contacts
//! in one call, each with its `@odata.type`.

use super::{charge, json_object, object_json, with_units, Cost, Node, Ordered};
use crate::caller::Caller;
use crate::error::{GraphError, GraphResult};
use crate::odata::RequestCtx;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use serde_json::Value;

/// Most ids one `getByIds` call accepts.
pub const MAX_IDS: usize = 1000;

/// `POST /directoryObjects/getByIds` with `{"ids": [...], "types": ["user", ...]}`.
async fn get_by_ids(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    caller.require(
        &["Directory.Read.All", "Directory.ReadWrite.All"],
        GraphError::directory_denied,
    )?;
    let units = charge(&state, &caller, &ctx, Cost::Other)?;
    let m = json_object(&body)?;
    let ids: Vec<String> = match m.get("ids") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    GraphError::bad_request("Every entry of 'ids' must be a string.")
                })
            })
            .collect::<GraphResult<_>>()?,
        _ => {
            return Err(GraphError::bad_request(
                "The request body must carry 'ids', an array of object ids.",
            ))
        }
    };
    if ids.len() > MAX_IDS {
        return Err(GraphError::directory_bad_request(format!(
            "Too many ids: at most {MAX_IDS} are accepted in one request."
        )));
    }
    let types: Option<Vec<String>> = m.get("types").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(|s| {
                s.trim_start_matches("microsoft.graph.")
                    .to_ascii_lowercase()
            })
            .collect()
    });
    let value: Vec<Ordered> = {
        let t = state.tenant.read();
        ids.iter()
            .filter_map(|id| object_json(&t, id))
            .filter(|(k, _)| {
                types.as_ref().is_none_or(|ts| {
                    ts.iter().any(|x| {
                        k.type_name
                            .trim_start_matches("microsoft.graph.")
                            .eq_ignore_ascii_case(x)
                    })
                })
            })
            .map(|(k, obj)| -> GraphResult<Ordered> {
                let mut o = k.render(&obj, &[], false)?;
                o.insert("@odata.type".into(), Value::String(k.odata_type.into()));
                Ok(k.order(o, &[]))
            })
            .collect::<GraphResult<_>>()?
    };
    let mut out = Ordered::default();
    out.push(
        "@odata.context",
        ctx.url_for("/v1.0/$metadata#directoryObjects"),
    );
    out.0.push(("value".into(), Node::List(value)));
    Ok(with_units(Json(out).into_response(), units))
}

/// Routes of `/directoryObjects`.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/v1.0/directoryObjects/getByIds", post(get_by_ids))
}
