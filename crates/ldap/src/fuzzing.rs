//! The request path up to the directory call, as one function over raw bytes, for the fuzz
//! target and for tests that throw random input at it: decoding with the server's limits,
//! then translating DNs and filters exactly as a connection does.

use crate::config::Limits;
use crate::{dn, translate};
use bytes::BytesMut;
use ldap3_proto::proto::LdapOp;
use ldap3_proto::LdapCodec;
use tokio_util::codec::Decoder;

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
