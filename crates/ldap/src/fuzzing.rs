//! The request path as functions over raw bytes, for the fuzz target (crates/ldap/fuzz) and
//! for tests that throw random input at it: [`request_path`] decodes and translates without a
//! directory; [`session`] runs a whole connection over an in-memory stream against a real
//! [`DirectoryService`].

use crate::config::{LdapConfig, Limits};
use crate::{conn, dn, server, translate};
use bytes::BytesMut;
use directory::DirectoryService;
use ldap3_proto::proto::LdapOp;
use ldap3_proto::LdapCodec;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;

/// Runs one connection (no TLS) that receives `data` and then end-of-stream, and returns every
/// byte the server sent back. TLS settings of `config` are ignored; its limits apply.
pub async fn session(
    data: &[u8],
    config: &LdapConfig,
    service: Arc<dyn DirectoryService>,
) -> Vec<u8> {
    let shared = Arc::new(server::shared(config, service, None));
    let (client, server_side) = tokio::io::duplex(64 * 1024);
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(conn::run(shared, Box::new(server_side), false, stop_rx));
    let (mut rd, mut wr) = tokio::io::split(client);
    let data = data.to_vec();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&data).await;
        let _ = wr.shutdown().await;
        // Keep the write half open until the server is done, so that it sees end-of-stream
        // only through shutdown.
        wr
    });
    let mut out = Vec::new();
    let _ = rd.read_to_end(&mut out).await;
    let _ = writer.await;
    let _ = server.await;
    out
}

/// Decodes every request in `data` and translates what a connection would translate. Returns
/// how many requests decoded; must never panic, whatever the bytes.
pub fn request_path(data: &[u8], limits: &Limits) -> usize {
    let mut codec = LdapCodec::new(Some(limits.max_message_bytes), Some(limits.max_ber_depth));
    let mut buf = BytesMut::from(data);
    let mut n = 0;
    while let Ok(Some(msg)) = codec.decode(&mut buf) {
        n += 1;
        match msg.op {
            LdapOp::SearchRequest(s) => {
                let _ = dn::parse_target(&s.base);
                let _ = translate::filter(
                    &s.filter,
                    limits.max_filter_depth,
                    limits.max_filter_elements,
                );
                let _ = translate::Selection::new(&s.attrs);
            }
            LdapOp::BindRequest(b) => {
                let _ = dn::parse_bind_dn(&b.dn);
            }
            _ => {}
        }
    }
    n
}
