//! The REST API under `/api/v1/`: JSON in the directory's own entry model, errors as
//! `{"error": {"status", "code", "message"}}`. Described by the OpenAPI 3.0 document served at
//! `/api/v1/openapi.json` (`openapi.json` next to this file, completed with the
//! `/sites/{site}` forms of every site-scoped path).

use crate::auth::Caller;
use crate::books::{self, parse_scope, scope_name, Page};
use crate::error::{Failure, HttpError};
use crate::guard;
use crate::server::{routes, AppState};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use directory::{Attribute, BookScope, Filter, TextQuery};
use serde_json::{json, Value};
use std::collections::HashMap;

type Answer = Result<Response, Failure>;

/// Hits per search when `?limit=` is not given.
const DEFAULT_LIMIT: usize = 50;

/// `GET /api/v1/search?q=&book=&limit=`: ranked hits `{"hits": [{"rank", "entry"}]}`.
pub async fn search(State(state): State<AppState>, caller: Caller) -> Answer {
    let text = caller
        .params
        .get("q")
        .ok_or_else(|| {
            caller.fail(HttpError::BadRequest(
                "parameter q (the search text) is required".into(),
            ))
        })?
        .to_owned();
    let scope = books::scope(&caller).map_err(|e| caller.fail(e))?;
    let limit = caller
        .params
        .positive("limit", DEFAULT_LIMIT)
        .map_err(|e| caller.fail(e))?
        .min(state.config.max_entries);
    let hits = state
        .service
        .search(&caller.who, &TextQuery { text, scope, limit })
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(Json(json!({ "hits": hits })).into_response())
}

/// `GET /api/v1/entries/{id}`: one entry, 404 when it does not exist or is not visible.
pub async fn entry(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    caller: Caller,
) -> Answer {
    let id = params.get("id").map(String::as_str).unwrap_or("");
    match state
        .service
        .entry(&caller.who, id)
        .await
        .map_err(|e| caller.fail(e))?
    {
        Some(entry) => Ok(Json(entry).into_response()),
        None => Err(caller.fail(HttpError::NotFound(format!("entry {id:?}")))),
    }
}

/// `GET /api/v1/entries/{id}/photo`: the entry's photo with its stored content type and Graph's
/// mediaEtag as ETag; 404 when the entry has none or is not visible to the caller.
pub async fn photo(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    caller: Caller,
) -> Answer {
    let id = params.get("id").map(String::as_str).unwrap_or("");
    let photo = state
        .service
        .photo(&caller.who, id)
        .await
        .map_err(|e| caller.fail(e))?
        .ok_or_else(|| caller.fail(HttpError::NotFound(format!("photo of entry {id:?}"))))?;
    // Only image types are served as such; anything else the store holds goes out as bytes.
    let content_type = HeaderValue::from_str(&photo.content_type)
        .ok()
        .filter(|_| photo.content_type.starts_with("image/"))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = ([(header::CONTENT_TYPE, content_type)], photo.bytes).into_response();
    if let Some(tag) = guard::entity_tag(&photo.etag) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    Ok(response)
}

/// `GET /api/v1/phonebooks`: the phonebooks the caller may read, with their entry counts
/// (counted up to the configured maximum; `complete` is false when cut there).
pub async fn phonebooks(State(state): State<AppState>, caller: Caller) -> Answer {
    let mut books = Vec::new();
    let mut scopes = vec![BookScope::Users, BookScope::Company, BookScope::Directory];
    if caller.who.personal_owner().is_some() {
        scopes.push(BookScope::Personal);
    }
    for scope in scopes {
        let (entries, more) = books::fetch(&state, &caller, scope, None, usize::MAX)
            .await
            .map_err(|e| caller.fail(e))?;
        books.push(json!({
            "id": scope_name(scope),
            "title": books::book_title(scope),
            "entries": entries.len(),
            "complete": !more,
        }));
    }
    Ok(Json(json!({ "phonebooks": books })).into_response())
}

/// `GET /api/v1/phonebooks/{book}?page=&per_page=`: one phonebook's entries by name, paged;
/// `{"book", "page", "per_page", "more", "entries"}`.
pub async fn phonebook(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    caller: Caller,
) -> Answer {
    let name = params.get("book").map(String::as_str).unwrap_or("");
    let scope = parse_scope(name).ok_or_else(|| {
        caller.fail(HttpError::NotFound(format!(
            "phonebook {name:?}: use all, users, company, directory or personal"
        )))
    })?;
    let page = Page::from_caller(&caller, state.config.page_size, state.config.max_entries)
        .map_err(|e| caller.fail(e))?;
    let (entries, more) = books::fetch(
        &state,
        &caller,
        scope,
        caller.params.get("q"),
        page.offset().saturating_add(page.size),
    )
    .await
    .map_err(|e| caller.fail(e))?;
    let (slice, more_here) = page.slice(&entries);
    Ok(Json(json!({
        "book": scope_name(scope),
        "page": page.number,
        "per_page": page.size,
        "more": more || more_here,
        "entries": slice,
    }))
    .into_response())
}

/// `GET /api/v1/extensions`: every user with an extension, `{"extensions": [{"extension",
/// "id", "display_name", "emails"}]}` ordered by name.
pub async fn extensions(State(state): State<AppState>, caller: Caller) -> Answer {
    let entries = state
        .service
        .filter(
            &caller.who,
            BookScope::Users,
            &Filter::Present(Attribute::Extension),
            state.config.max_entries,
        )
        .await
        .map_err(|e| caller.fail(e))?;
    let list: Vec<Value> = entries
        .iter()
        .filter_map(|e| {
            e.extension.as_ref().map(|ext| {
                json!({
                    "extension": ext,
                    "id": e.id,
                    "display_name": e.display_name,
                    "emails": e.emails,
                })
            })
        })
        .collect();
    Ok(Json(json!({ "extensions": list })).into_response())
}

/// The hand-written OpenAPI description of the un-prefixed routes.
const OPENAPI: &str = include_str!("openapi.json");

/// The full OpenAPI document: `openapi.json` plus, for every site-scoped path, its
/// `/sites/{site}` form with the `site` path parameter.
pub fn openapi_document() -> Result<Value, serde_json::Error> {
    let mut doc: Value = serde_json::from_str(OPENAPI)?;
    let site_param = json!({
        "name": "site", "in": "path", "required": true,
        "description": "The site id (a-z, 0-9, '-', '_').",
        "schema": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"}
    });
    let mut extra = serde_json::Map::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for route in routes()
            .iter()
            .filter(|r| r.site_scoped && !r.path.starts_with("/sites/"))
        {
            let Some(item) = paths.get(&route.path) else {
                continue;
            };
            let mut item = item.clone();
            if let Some(ops) = item.as_object_mut() {
                for op in ops.values_mut() {
                    if let Some(op) = op.as_object_mut() {
                        if let Some(Value::String(id)) = op.get("operationId") {
                            let id = format!("{id}_site");
                            op.insert("operationId".into(), Value::String(id));
                        }
                        let params = op
                            .entry("parameters")
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let Some(params) = params.as_array_mut() {
                            params.insert(0, site_param.clone());
                        }
                    }
                }
            }
            extra.insert(format!("/sites/{{site}}{}", route.path), item);
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.extend(extra);
    }
    Ok(doc)
}

/// `GET /api/v1/openapi.json`: the OpenAPI 3.0 description of every route.
pub async fn openapi() -> Response {
    match openapi_document() {
        Ok(doc) => Json(doc).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "the built-in OpenAPI document does not parse");
            Failure {
                error: HttpError::Unavailable,
                flavour: crate::error::Flavour::Api,
            }
            .into_response()
        }
    }
}
