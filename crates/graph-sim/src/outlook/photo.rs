//! Profile photos: metadata (`/photo`, `/photos/{size}`), bytes (`…/$value`) and the list of
//! sizes (`/photos`), Outlook-throttled, 404 `ImageNotFound` without a photo. Photos are a
//! navigation, not a user property: changing one (through `/_sim/users/{user}/photo`) is not
//! a user change and never shows in `users/delta`.

use super::access;
use super::Target;
use crate::caller::Caller;
use crate::control::{ControlError, SimAdmin};
use crate::error::{GraphError, GraphResult};
use crate::model::Photo;
use crate::odata::RequestCtx;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Json;
use serde_json::{json, Value};

/// The square sizes Graph serves photos in.
pub const SIZES: &[u32] = &[48, 64, 96, 120, 240, 360, 432, 504, 648];

/// Permissions that let a caller read other users' photos (app roles or delegated scopes).
const READ: &[&str] = &[
    "ProfilePhoto.Read.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "User.ReadBasic.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// 404 `ImageNotFound` as Graph answers when there is no photo (of that size).
pub fn image_not_found() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ImageNotFound",
        "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    )
}

/// Checks permission, resolves the user, takes an Outlook slot, and returns the photo.
async fn load(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> GraphResult<(Option<Photo>, crate::throttle::OutlookPermit)> {
    let (id, photo) = {
        let t = state.tenant.read();
        let own = caller
            .user_id
            .as_deref()
            .is_some_and(|me| t.find_user(key).is_some_and(|u| u.id == me));
        let allowed = caller.has_any(READ) || (own && caller.has_any(&["User.Read"]));
        if !allowed {
            return Err(GraphError::outlook_denied());
        }
        let u = t
            .find_user(key)
            .ok_or_else(|| GraphError::directory_not_found(key))?;
        (u.id.clone(), u.photo.clone())
    };
    let permit = access::admit(state, &caller.app_id, &id).await?;
    Ok((photo, permit))
}

fn parse_size(size: &str) -> Option<u32> {
    let (w, h) = size.split_once(['x', 'X'])?;
    let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
    (w == h && SIZES.contains(&w)).then_some(w)
}

fn metadata(ctx: &RequestCtx, context: &str, p: &Photo, size: u32) -> Value {
    json!({
        "@odata.context": ctx.url_for(&format!("/v1.0/$metadata#{context}")),
        "@odata.mediaContentType": p.content_type,
        "@odata.mediaEtag": p.etag,
        "id": format!("{size}x{size}"),
        "width": size,
        "height": size,
    })
}

fn bytes(p: &Photo) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = p.content_type.parse() {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = p.etag.parse() {
        headers.insert(header::ETAG, v);
    }
    (headers, p.bytes.clone()).into_response()
}

async fn photo_meta(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
) -> GraphResult<Response> {
    let (photo, _permit) = load(&state, &caller, &user).await?;
    let p = photo.ok_or_else(image_not_found)?;
    let v = metadata(&ctx, &format!("users('{user}')/photo/$entity"), &p, p.size);
    Ok(Json(v).into_response())
}

async fn photo_value(
    State(state): State<AppState>,
    caller: Caller,
    Target { user, .. }: Target,
) -> GraphResult<Response> {
    let (photo, _permit) = load(&state, &caller, &user).await?;
    Ok(bytes(&photo.ok_or_else(image_not_found)?))
}

async fn photos_list(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, .. }: Target,
) -> GraphResult<Response> {
    let (photo, _permit) = load(&state, &caller, &user).await?;
    let value: Vec<Value> = match &photo {
        None => Vec::new(),
        Some(p) => SIZES
            .iter()
            .filter(|s| **s <= p.size)
            .map(|s| {
                json!({
                    "@odata.mediaContentType": p.content_type,
                    "@odata.mediaEtag": p.etag,
                    "id": format!("{s}x{s}"),
                    "width": s,
                    "height": s,
                })
            })
            .collect(),
    };
    Ok(Json(json!({
        "@odata.context": ctx.url_for(&format!("/v1.0/$metadata#users('{user}')/photos")),
        "value": value,
    }))
    .into_response())
}

fn sized(photo: Option<Photo>, size: &str) -> GraphResult<(Photo, u32)> {
    let p = photo.ok_or_else(image_not_found)?;
    match parse_size(size) {
        Some(s) if s <= p.size => Ok((p, s)),
        _ => Err(image_not_found()),
    }
}

async fn size_meta(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
    Target { user, size, .. }: Target,
) -> GraphResult<Response> {
    let (photo, _permit) = load(&state, &caller, &user).await?;
    let (p, s) = sized(photo, &size)?;
    let v = metadata(&ctx, &format!("users('{user}')/photos/$entity"), &p, s);
    Ok(Json(v).into_response())
}

async fn size_value(
    State(state): State<AppState>,
    caller: Caller,
    Target { user, size, .. }: Target,
) -> GraphResult<Response> {
    let (photo, _permit) = load(&state, &caller, &user).await?;
    let (p, _) = sized(photo, &size)?;
    Ok(bytes(&p))
}

/// `?size=N` of the photo control.
#[derive(Debug, serde::Deserialize)]
struct SizeQuery {
    size: Option<u32>,
}

fn set_photo(state: &AppState, user: &str, photo: Option<Photo>) -> Result<(), ControlError> {
    let mut t = state.tenant.write();
    let id = t.find_user(user).map(|u| u.id.clone()).ok_or_else(|| {
        ControlError(
            StatusCode::NOT_FOUND,
            format!("no user '{user}' in this tenant"),
        )
    })?;
    if let Some(u) = t.users.get_mut_untracked(&id) {
        u.photo = photo;
    }
    Ok(())
}

async fn sim_put(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
    Query(q): Query<SizeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ControlError> {
    if body.is_empty() {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            "send the image bytes as the body, with their Content-Type (e.g. image/jpeg)".into(),
        ));
    }
    let size = q.size.unwrap_or(240);
    if !SIZES.contains(&size) {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            format!("size must be one of Graph's photo sizes: {SIZES:?}"),
        ));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("image/"))
        .unwrap_or("image/jpeg");
    let photo = crate::generate::photo_from_bytes(ct, size, body.to_vec());
    set_photo(&state, &user, Some(photo))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sim_delete(
    _admin: SimAdmin,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<StatusCode, ControlError> {
    set_photo(&state, &user, None)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Routes for photos and the photo control.
pub fn routes(prefix: &str) -> axum::Router<AppState> {
    axum::Router::new()
        .route(&format!("{prefix}/photo"), get(photo_meta))
        .route(&format!("{prefix}/photo/$value"), get(photo_value))
        .route(&format!("{prefix}/photos"), get(photos_list))
        .route(&format!("{prefix}/photos/{{size}}"), get(size_meta))
        .route(&format!("{prefix}/photos/{{size}}/$value"), get(size_value))
}

/// The `/_sim` control routes of this part.
pub fn sim_routes() -> axum::Router<AppState> {
    axum::Router::new().route("/_sim/users/{user}/photo", put(sim_put).delete(sim_delete))
}
