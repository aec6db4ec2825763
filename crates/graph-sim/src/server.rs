//! Listeners and the Graph envelope: request ids, Graph's error JSON for every failure,
//! Graph's response headers, fault injection and the request log, over HTTP and HTTPS.

use crate::error::ErrorBody;
use crate::faults::Outcome;
use crate::odata::Scheme;
use crate::reqlog::{endpoint_key, LoggedRequest};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Graph's JSON content type.
pub const GRAPH_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Most simultaneous connections one listener serves; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 1024;

/// Largest request body accepted (Graph's own limit for JSON is 4 MB).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

tokio::task_local! {
    /// Latency injected for the request being handled, not yet spent.
    static SERVICE_DELAY: std::cell::Cell<std::time::Duration>;
}

/// Takes the injected latency of the current request (zero outside a request or once taken),
/// so a handler can spend it while it holds a concurrency slot.
pub fn take_service_delay() -> std::time::Duration {
    SERVICE_DELAY.try_with(|c| c.take()).unwrap_or_default()
}

/// Marks a response whose connection must be reset instead of answered.
#[derive(Debug, Clone, Copy)]
pub struct ResetConnection;

/// Which family of endpoints a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/v1.0/...` (and `/beta/...`): Graph's error envelope and headers.
    Graph,
    /// `/_sim/...`: the emulator's controls.
    Control,
    /// Everything else: Entra (`/{tenant}/oauth2/...`, discovery, keys).
    Entra,
}

/// Classifies a path.
pub fn surface(path: &str) -> Surface {
    if path.starts_with("/v1.0/") || path == "/v1.0" || path.starts_with("/beta/") {
        Surface::Graph
    } else if path.starts_with("/_sim") {
        Surface::Control
    } else {
        Surface::Entra
    }
}

fn graph_error_json(
    code: &str,
    message: &str,
    inner_code: Option<&str>,
    request_id: &str,
    client_request_id: &str,
    date: &str,
) -> Bytes {
    let mut inner = serde_json::json!({
        "date": date,
        "request-id": request_id,
        "client-request-id": client_request_id,
    });
    if let Some(c) = inner_code {
        inner["code"] = c.into();
    }
    Bytes::from(
        serde_json::json!({"error": {"code": code, "message": message, "innerError": inner}})
            .to_string(),
    )
}

/// The envelope every request passes through (Graph, Entra and controls alike).
pub async fn envelope(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let url = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let surface = surface(&path);
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|h| h.to_str().ok())
        .filter(|s| s.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let date = state.clock.now().format("%Y-%m-%dT%H:%M:%S").to_string();

    let (mut delay, outcome) = if surface == Surface::Control || state.faults.read().is_empty() {
        (std::time::Duration::ZERO, Outcome::Normal)
    } else {
        state.faults.write().decide(&method, &path)
    };
    // A `$batch` is one network round trip whose inner requests are each dispatched through
    // this envelope and spend their own latency there, side by side. Delaying the envelope too
    // would charge a batch two latencies where Microsoft documents batching as saving the
    // network latency of the requests it combines (learn.microsoft.com/graph/json-batching).
    if outcome == Outcome::Normal && crate::batch::is_batch_path(&path) {
        delay = std::time::Duration::ZERO;
    }
    // Injected latency is service time: a handler that holds a concurrency slot (Outlook)
    // spends it inside the slot; for everything else it is spent after the handler.
    if !delay.is_zero() && outcome != Outcome::Normal && outcome != Outcome::Truncate {
        tokio::time::sleep(delay).await;
    }

    let mut resp = match &outcome {
        Outcome::Reset => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut().insert(ResetConnection);
            r
        }
        Outcome::Error(status) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            crate::error::GraphError::new(
                status,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
            )
            .into_response()
        }
        Outcome::Throttle(after) => crate::error::GraphError::throttled(*after).into_response(),
        Outcome::Hang(d) => {
            tokio::time::sleep(*d).await;
            crate::error::GraphError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "UnknownError",
                "The request timed out.",
            )
            .into_response()
        }
        Outcome::Normal | Outcome::Truncate => {
            SERVICE_DELAY
                .scope(std::cell::Cell::new(delay), async move {
                    let resp = next.run(req).await;
                    let left = take_service_delay();
                    if !left.is_zero() {
                        tokio::time::sleep(left).await;
                    }
                    resp
                })
                .await
        }
    };

    // Render Graph's error body for any failure that did not bring its own JSON body.
    let status = resp.status();
    let body_error = resp.extensions_mut().remove::<ErrorBody>();
    let is_json = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if surface != Surface::Entra || body_error.is_some() {
        let rendered = match body_error {
            Some(e) => Some(graph_error_json(
                &e.code,
                &e.message,
                e.inner_code.as_deref(),
                &request_id,
                &client_request_id,
                &date,
            )),
            None if status.is_client_error() || status.is_server_error() => {
                if is_json {
                    None
                } else {
                    let (code, message) = fallback_error(status);
                    Some(graph_error_json(
                        code,
                        &message,
                        None,
                        &request_id,
                        &client_request_id,
                        &date,
                    ))
                }
            }
            None => None,
        };
        if let Some(body) = rendered {
            let (mut parts, _) = resp.into_parts();
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            parts.headers.remove(http::header::CONTENT_LENGTH);
            resp = Response::from_parts(parts, Body::from(body));
        }
    }
    {
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            h.insert("request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&client_request_id) {
            h.insert("client-request-id", v);
        }
        if surface == Surface::Graph {
            h.insert("odata-version", HeaderValue::from_static("4.0"));
            let plain_json = h
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes() == b"application/json");
            if plain_json && resp.status().is_success() {
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static(GRAPH_JSON),
                );
            }
        }
    }
    if outcome == Outcome::Truncate {
        resp = truncate(resp).await;
    }
    state.reqlog.record(
        LoggedRequest {
            endpoint: endpoint_key(&method, &path),
            method,
            url,
            status: resp.status().as_u16(),
            millis: started.elapsed().as_secs_f64() * 1000.0,
            request_id,
        },
        &path,
    );
    resp
}

fn fallback_error(status: StatusCode) -> (&'static str, String) {
    match status {
        StatusCode::NOT_FOUND => (
            "BadRequest",
            "Resource not found for the segment in the request URL.".to_string(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.".to_string(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "RequestEntityTooLarge",
            "The request body is too large.".to_string(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "BadRequest",
            "Content-Type must be application/json.".to_string(),
        ),
        s if s.is_server_error() => ("generalException", "An internal error occurred.".into()),
        _ => (
            "BadRequest",
            "The request is malformed or incorrect.".to_string(),
        ),
    }
}

/// Sends the headers and the first half of the body, then fails the stream so the
/// connection closes mid-body (the client sees a truncated response).
async fn truncate(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let half = bytes.slice(0..bytes.len() / 2);
    let mut parts = parts;
    parts.headers.insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(bytes.len().max(1)),
    );
    // The first half goes out; a moment later the stream fails, which makes hyper abort the
    // connection with the body incomplete.
    let stream = futures_util::stream::unfold(Some(half), |state| async move {
        match state {
            Some(chunk) => Some((Ok::<_, std::io::Error>(chunk), None)),
            None => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "injected truncation",
                    )),
                    None,
                ))
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// TLS material the emulator generated for its HTTPS listener.
pub struct Tls {
    /// The acceptor for the HTTPS listener.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
}

/// Generates a CA and a server certificate for `127.0.0.1`, `localhost` and `::1`.
pub fn generate_tls() -> Result<Tls, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let err = |e: rcgen::Error| format!("generating the emulator's TLS certificate: {e}");
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "pbx365 graph-sim CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let srv_key = KeyPair::generate().map_err(err)?;
    let mut srv = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(err)?;
    srv.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    srv.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    srv.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    srv.use_authority_key_identifier_extension = true;
    let srv_cert = srv.signed_by(&srv_key, &ca_cert, &ca_key).map_err(err)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![srv_cert.der().clone(), ca_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(srv_key.serialize_der().into()),
        )
        .map_err(|e| e.to_string())?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca_cert.pem(),
    })
}

/// Writes the CA PEM where clients can trust it.
pub fn write_ca(path: &Path, pem: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, pem)
}

/// Serves `router` on `listener` until the task is dropped; `tls` turns it into HTTPS.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let scheme = if tls.is_some() {
        Scheme::Https
    } else {
        Scheme::Http
    };
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service =
                hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    req.extensions_mut().insert(scheme);
                    async move {
                        let resp = router
                            .oneshot(req.map(Body::new))
                            .await
                            .unwrap_or_else(|never| match never {});
                        if resp.extensions().get::<ResetConnection>().is_some() {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionReset,
                                "injected reset",
                            ));
                        }
                        Ok::<_, std::io::Error>(resp)
                    }
                });
            let builder = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    let Ok(Ok(stream)) = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    else {
                        return;
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}
