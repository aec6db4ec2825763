//! The reference for `bench/emulator.sh`: the emulator's own HTTP stack (tokio, hyper, axum,
//! `graph_sim::server::serve`) answering every request with one fixed, Graph-sized JSON body.
//! Whatever the emulator loses against this is the cost of emulating Graph.
//!
//! Usage: `static_responder 127.0.0.1:PORT`

use axum::response::IntoResponse;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18467".to_string());
    let body = r#"{"@odata.context":"http://127.0.0.1/v1.0/$metadata#users(id,displayName)/$entity","id":"6e8b6a53-4b3f-4d8a-9d1e-1f1b2c3d4e5f","displayName":"Jürgen Müller"}"#;
    let app = axum::Router::new().fallback(move || async move {
        (
            [(http::header::CONTENT_TYPE, graph_sim::server::GRAPH_JSON)],
            body,
        )
            .into_response()
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("static responder on http://{}", listener.local_addr()?);
    graph_sim::server::serve(listener, app, None).await;
    Ok(())
}
