//! Starting a server for one test and talking to it.

use crate::fake::{Fake, ALICE, MAIN};
use directory::SiteId;
use pbx365_http::{serve, HttpConfig, ServerHandle};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A running server; shut down when dropped.
pub struct Server {
    pub fake: Arc<Fake>,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<ServerHandle>,
}

/// The test configuration: loopback port 0, default site "main", generous limits.
pub fn config() -> HttpConfig {
    HttpConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        default_site: Some(SiteId::new(MAIN).unwrap()),
        rate_limit: None,
        ..HttpConfig::default()
    }
}

pub async fn start() -> Server {
    start_with(config()).await
}

pub async fn start_with(config: HttpConfig) -> Server {
    let fake = Fake::new();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = serve(config, fake.clone(), async {
        let _ = rx.await;
    })
    .await
    .expect("server starts");
    Server {
        fake,
        addr: handle.local_addr(),
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap(),
        stop: Some(tx),
        handle: Some(handle),
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET as alice (basic auth).
    pub async fn alice(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .basic_auth(ALICE.0, Some(ALICE.1))
            .send()
            .await
            .expect("request")
    }

    /// GET without credentials.
    pub async fn anon(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.wait().await.expect("clean shutdown");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The body of a 200 answer with the given content type prefix.
pub async fn ok_body(response: reqwest::Response, content_type: &str) -> String {
    let status = response.status();
    let ct = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.text().await.expect("body");
    assert_eq!(status, 200, "body: {body}");
    assert!(ct.starts_with(content_type), "content type {ct}");
    body
}

/// Fetches and parses an XML phonebook, checking Content-Type and charset.
pub async fn xml(response: reqwest::Response) -> String {
    let body = ok_body(response, "text/xml").await;
    assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    roxmltree::Document::parse(&body).unwrap_or_else(|e| panic!("invalid XML ({e}):\n{body}"));
    body
}

/// Texts of all elements named `name` in document order.
pub fn texts(doc: &roxmltree::Document, name: &str) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name(name))
        .map(|n| n.text().unwrap_or("").to_owned())
        .collect()
}
