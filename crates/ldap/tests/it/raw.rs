//! Raw TCP against the server with ldap3_proto's codec as the client: broken BER, filters too
//! deep or too wide, oversized and half-sent requests, clients that never read, the connection
//! limit, operations the server does not do — each ends in an LDAP error or a closed
//! connection, and the server keeps serving everyone else.

use crate::start;
use bytes::BytesMut;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapDerefAliases, LdapExtendedRequest, LdapFilter, LdapMsg,
    LdapOp, LdapResultCode, LdapSearchRequest, LdapSearchScope, LdapSubstringFilter,
};
use ldap3_proto::LdapCodec;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

struct Client {
    stream: TcpStream,
    buf: BytesMut,
    codec: LdapCodec,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: BytesMut::new(),
            codec: LdapCodec::new(Some(4 << 20), None),
        }
    }

    async fn send(&mut self, m: LdapMsg) {
        let mut b = BytesMut::new();
        self.codec.encode(m, &mut b).unwrap();
        self.stream.write_all(&b).await.unwrap();
    }

    /// The next message, or `None` once the server closed the connection.
    async fn recv(&mut self) -> Option<LdapMsg> {
        loop {
            if let Some(m) = self
                .codec
                .decode(&mut self.buf)
                .expect("server sends valid LDAP")
            {
                return Some(m);
            }
            let n =
                tokio::time::timeout(Duration::from_secs(5), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("server answers or closes within 5 s");
            match n {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads until the server closes; returns the result codes of what came before.
    async fn until_closed(&mut self) -> Vec<LdapResultCode> {
        let mut codes = Vec::new();
        while let Some(m) = self.recv().await {
            if let LdapOp::ExtendedResponse(x) = m.op {
                codes.push(x.res.code);
            }
        }
        codes
    }

    async fn search(&mut self, id: i32, base: &str, filter: LdapFilter) -> (usize, LdapResultCode) {
        self.send(search(id, base, filter)).await;
        let mut n = 0;
        loop {
            let m = self.recv().await.expect("a search answer");
            assert_eq!(m.msgid, id);
            match m.op {
                LdapOp::SearchResultEntry(_) => n += 1,
                LdapOp::SearchResultDone(r) => return (n, r.code),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

fn search(id: i32, base: &str, filter: LdapFilter) -> LdapMsg {
    LdapMsg {
        msgid: id,
        op: LdapOp::SearchRequest(LdapSearchRequest {
            base: base.into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter,
            attrs: vec![],
        }),
        ctrl: vec![],
    }
}

fn carla() -> LdapFilter {
    LdapFilter::Substring(
        "cn".into(),
        LdapSubstringFilter {
            initial: Some("Carla".into()),
            ..Default::default()
        },
    )
}

/// A fresh connection still gets answers.
async fn still_serving(addr: SocketAddr) {
    let mut c = Client::connect(addr).await;
    assert_eq!(
        c.search(1, "o=acme,dc=pbx365", carla()).await,
        (1, LdapResultCode::Success)
    );
}

fn encode(m: LdapMsg) -> Vec<u8> {
    let mut b = BytesMut::new();
    LdapCodec::default().encode(m, &mut b).unwrap();
    b.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ber_closes_the_connection() {
    let server = start(|c| c.limits.idle_timeout = Duration::from_millis(800)).await;
    let valid = encode(search(7, "o=acme,dc=pbx365", carla()));
    let mut truncated_length = valid.clone();
    truncated_length[1] = 0x84; // a four-byte length that the bytes do not follow
    let garbage: Vec<Vec<u8>> = vec![
        b"\x04\x02hi".to_vec(),
        b"\x30\x03\x02\x01".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x77, 0x01, 0x00],
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02],
        truncated_length,
        vec![0xff; 64],
    ];
    for g in garbage {
        let mut c = Client::connect(server.plain).await;
        c.stream.write_all(&g).await.unwrap();
        let start = std::time::Instant::now();
        c.until_closed().await;
        assert!(start.elapsed() < Duration::from_secs(4), "{g:?}");
    }
    still_serving(server.plain).await;
    server.stop().await;
}

/// One BER element: tag, definite length, content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = (n as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A search request whose filter is `depth` nested NOTs, encoded by hand.
fn deep_search(id: u8, depth: usize) -> Vec<u8> {
    let mut filter = tlv(0x87, b"cn"); // present
    for _ in 0..depth {
        filter = tlv(0xa2, &filter); // not
    }
    let mut body = tlv(0x04, b"o=acme,dc=pbx365");
    body.extend(tlv(0x0a, &[2])); // scope subtree
    body.extend(tlv(0x0a, &[0])); // deref never
    body.extend(tlv(0x02, &[0])); // size limit
    body.extend(tlv(0x02, &[0])); // time limit
    body.extend(tlv(0x01, &[0])); // types only
    body.extend(filter);
    body.extend(tlv(0x30, &[])); // attributes
    let mut msg = tlv(0x02, &[id]);
    msg.extend(tlv(0x63, &body));
    tlv(0x30, &msg)
}

#[test]
fn hand_made_ber_matches_the_codec() {
    assert_eq!(
        deep_search(9, 3),
        encode(search(9, "o=acme,dc=pbx365", nested_not(3)))
    );
}

fn nested_not(depth: usize) -> LdapFilter {
    let mut f = LdapFilter::Present("cn".into());
    for _ in 0..depth {
        f = LdapFilter::Not(Box::new(f));
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_wide_and_huge_requests_are_refused() {
    let server = start(|c| {
        c.limits.max_filter_depth = 10;
        c.limits.max_filter_elements = 50;
        c.limits.max_message_bytes = 16 * 1024;
    })
    .await;
    let mut c = Client::connect(server.plain).await;
    // Within the limits: answered (an even number of NOTs is the plain presence filter).
    assert_eq!(
        c.search(1, "o=acme,dc=pbx365", nested_not(10)).await.1,
        LdapResultCode::Success
    );
    // Deeper than allowed: adminLimitExceeded, connection still usable.
    assert_eq!(
        c.search(2, "o=acme,dc=pbx365", nested_not(11)).await,
        (0, LdapResultCode::AdminLimitExceeded)
    );
    // Wider than allowed.
    let wide = LdapFilter::Or(vec![carla(); 60]);
    assert_eq!(
        c.search(3, "o=acme,dc=pbx365", wide).await,
        (0, LdapResultCode::AdminLimitExceeded)
    );
    assert_eq!(
        c.search(4, "o=acme,dc=pbx365", carla()).await,
        (1, LdapResultCode::Success)
    );
    // Absurdly deep (hand-made BER: building it as a filter value would itself recurse 500
    // levels): the decoder refuses it and the connection is closed.
    c.stream.write_all(&deep_search(5, 500)).await.unwrap();
    assert_eq!(c.until_closed().await, vec![LdapResultCode::ProtocolError]);
    // Larger than the message limit: closed.
    let mut c = Client::connect(server.plain).await;
    let huge = LdapFilter::Equality("cn".into(), "x".repeat(100_000));
    c.send(search(1, "o=acme,dc=pbx365", huge)).await;
    assert_eq!(c.until_closed().await, vec![LdapResultCode::ProtocolError]);
    still_serving(server.plain).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_and_silent_connections_time_out() {
    let server = start(|c| c.limits.idle_timeout = Duration::from_millis(500)).await;
    // Half a request, then nothing.
    let valid = encode(search(1, "o=acme,dc=pbx365", carla()));
    let mut c = Client::connect(server.plain).await;
    c.stream.write_all(&valid[..valid.len() / 2]).await.unwrap();
    let t = std::time::Instant::now();
    assert_eq!(c.until_closed().await, vec![LdapResultCode::Unavailable]);
    assert!(t.elapsed() >= Duration::from_millis(400) && t.elapsed() < Duration::from_secs(4));
    // Nothing at all.
    let mut c = Client::connect(server.plain).await;
    assert_eq!(c.until_closed().await, vec![LdapResultCode::Unavailable]);
    // A client that sends requests but never reads the answers is dropped, others go on.
    let server2 = start(|c| c.limits.write_timeout = Duration::from_millis(300)).await;
    // A small receive buffer, so the server's answers back up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let greedy = socket.connect(server2.plain).await.unwrap();
    let (mut rd, mut wr) = greedy.into_split();
    let mut burst = Vec::new();
    for id in 1..=2000 {
        burst.extend(encode(search(
            id,
            "o=acme,dc=pbx365",
            LdapFilter::Present("cn".into()),
        )));
    }
    // The server stops reading once its writes stall, so this write may never finish: it
    // runs on its own and ends when the server drops the connection.
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&burst).await;
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    still_serving(server2.plain).await;
    // By now the server gave up on it: reading drains what was sent, then ends.
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        let mut sink = vec![0u8; 1 << 16];
        let mut total = 0usize;
        loop {
            match rd.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    let total = drained.expect("the server closed the connection of a client that does not read");
    // It was cut off long before all 2000 answers (about 17 entries each) were sent.
    assert!(total < 2000 * 17 * 300, "{total}");
    still_serving(server2.plain).await;
    server.stop().await;
    server2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit() {
    let server = start(|c| c.limits.max_connections = 2).await;
    let mut a = Client::connect(server.plain).await;
    let mut b = Client::connect(server.plain).await;
    assert_eq!(a.search(1, "o=acme,dc=pbx365", carla()).await.0, 1);
    assert_eq!(b.search(1, "o=acme,dc=pbx365", carla()).await.0, 1);
    let mut c = Client::connect(server.plain).await;
    assert_eq!(c.until_closed().await, vec![LdapResultCode::Busy]);
    drop(a);
    // The freed slot is usable again (the server notices the close asynchronously).
    let mut served = false;
    for _ in 0..40 {
        let mut d = Client::connect(server.plain).await;
        d.send(search(1, "o=acme,dc=pbx365", carla())).await;
        if let Some(LdapMsg {
            op: LdapOp::SearchResultEntry(_),
            ..
        }) = d.recv().await
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served);
    assert_eq!(b.search(2, "o=acme,dc=pbx365", carla()).await.0, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_operations_get_clear_answers() {
    let server = start(|c| {
        c.tls = None;
        c.listen_tls.clear();
    })
    .await;
    let mut c = Client::connect(server.plain).await;
    let bind = |id, version, cred| LdapMsg {
        msgid: id,
        op: LdapOp::BindRequest(LdapBindRequest {
            version,
            dn: "cn=201,o=acme,dc=pbx365".into(),
            cred,
        }),
        ctrl: vec![],
    };
    let code = |m: Option<LdapMsg>| match m.map(|m| m.op) {
        Some(LdapOp::BindResponse(r)) => r.res.code,
        Some(LdapOp::ExtendedResponse(r)) => r.res.code,
        Some(LdapOp::AddResponse(r)) | Some(LdapOp::DelResponse(r)) => r.code,
        other => panic!("unexpected {other:?}"),
    };
    c.send(bind(1, 1, LdapBindCred::Simple("secret201".into())))
        .await;
    assert_eq!(code(c.recv().await), LdapResultCode::ProtocolError);
    c.send(bind(
        2,
        3,
        LdapBindCred::SASL(ldap3_proto::proto::SaslCredentials {
            mechanism: "PLAIN".into(),
            credentials: b"\x00201\x00secret201".to_vec(),
        }),
    ))
    .await;
    assert_eq!(code(c.recv().await), LdapResultCode::AuthMethodNotSupported);
    c.send(bind(3, 3, LdapBindCred::Simple(String::new())))
        .await;
    assert_eq!(code(c.recv().await), LdapResultCode::UnwillingToPerform);
    c.send(bind(4, 3, LdapBindCred::Simple("secret201".into())))
        .await;
    assert_eq!(code(c.recv().await), LdapResultCode::Success);
    c.send(LdapMsg {
        msgid: 5,
        op: LdapOp::DelRequest("uid=u-bob,ou=users,o=acme,dc=pbx365".into()),
        ctrl: vec![],
    })
    .await;
    assert_eq!(code(c.recv().await), LdapResultCode::UnwillingToPerform);
    // StartTLS without a certificate: refused, the connection stays plain and usable.
    c.send(LdapMsg {
        msgid: 6,
        op: LdapOp::ExtendedRequest(LdapExtendedRequest {
            name: "1.3.6.1.4.1.1466.20037".into(),
            value: None,
        }),
        ctrl: vec![],
    })
    .await;
    assert_eq!(code(c.recv().await), LdapResultCode::ProtocolError);
    assert_eq!(
        c.search(7, "o=acme,dc=pbx365", carla()).await,
        (1, LdapResultCode::Success)
    );
    // Bad bases.
    assert_eq!(
        c.search(8, "not a dn", carla()).await.1,
        LdapResultCode::InvalidDNSyntax
    );
    assert_eq!(
        c.search(9, "ou=x,o=acme,dc=pbx365", carla()).await.1,
        LdapResultCode::NoSuchObject
    );
    // Unbind closes.
    c.send(LdapMsg {
        msgid: 10,
        op: LdapOp::UnbindRequest,
        ctrl: vec![],
    })
    .await;
    assert!(c.until_closed().await.is_empty());
    server.stop().await;
}

/// xorshift: deterministic pseudo-random bytes for mutation.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_requests_never_break_the_server() {
    let limits = pbx365_ldap::Limits::default();
    let seeds: Vec<Vec<u8>> = vec![
        encode(search(
            1,
            "o=acme,dc=pbx365",
            LdapFilter::Or(vec![
                carla(),
                nested_not(3),
                LdapFilter::Approx("sn".into(), "x".into()),
            ]),
        )),
        encode(LdapMsg {
            msgid: 2,
            op: LdapOp::BindRequest(LdapBindRequest {
                version: 3,
                dn: "cn=201,o=acme,dc=pbx365".into(),
                cred: LdapBindCred::Simple("secret201".into()),
            }),
            ctrl: vec![ldap3_proto::control::LdapControl::SimplePagedResults {
                size: 5,
                cookie: vec![1, 2],
            }],
        }),
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mutate = |seed: &[u8], rng: &mut Rng| {
        let mut m = seed.to_vec();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % m.len();
            match rng.next() % 3 {
                0 => m[i] = rng.next() as u8,
                1 => m.truncate(i.max(1)),
                _ => m.insert(i, rng.next() as u8),
            }
        }
        m
    };
    // The decoding and translation path, many times.
    for i in 0..5000 {
        let m = mutate(&seeds[i % seeds.len()], &mut rng);
        pbx365_ldap::fuzzing::request_path(&m, &limits);
    }
    // Whole in-memory sessions against the fake directory: whatever comes back is valid LDAP.
    let fake: std::sync::Arc<dyn directory::DirectoryService> =
        std::sync::Arc::new(crate::fake::Fake::new());
    let config = pbx365_ldap::LdapConfig::default();
    let mut answered = 0;
    for i in 0..1000 {
        let mut m = seeds[i % seeds.len()].clone();
        // Several requests in one session, some intact, some broken.
        m.extend(mutate(&seeds[(i + 1) % seeds.len()], &mut rng));
        let out = pbx365_ldap::fuzzing::session(&m, &config, fake.clone()).await;
        let mut buf = BytesMut::from(&out[..]);
        let mut codec = LdapCodec::new(Some(4 << 20), None);
        while let Some(msg) = codec.decode(&mut buf).expect("valid LDAP out") {
            answered += 1;
            let _ = msg;
        }
        assert!(buf.is_empty(), "trailing bytes in the server's output");
    }
    // The intact first request of every session was answered.
    assert!(answered >= 1000, "{answered}");
    // And the live server, a few dozen connections.
    let server = start(|c| c.limits.idle_timeout = Duration::from_millis(300)).await;
    for i in 0..40 {
        let m = mutate(&seeds[i % seeds.len()], &mut rng);
        let mut c = Client::connect(server.plain).await;
        c.stream.write_all(&m).await.unwrap();
        let _ = c.stream.shutdown().await;
        // Whatever comes back must be valid LDAP, and the server must end the exchange.
        while c.recv().await.is_some() {}
    }
    still_serving(server.plain).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_dse_needs_no_bind_even_with_anonymous_access_off() {
    let server = start(|_| {}).await;
    server
        .fake
        .anonymous
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let mut c = Client::connect(server.plain).await;
    let mut root = search(1, "", LdapFilter::Present("objectClass".into()));
    if let LdapOp::SearchRequest(s) = &mut root.op {
        s.scope = LdapSearchScope::Base;
    }
    c.send(root).await;
    let Some(LdapMsg {
        op: LdapOp::SearchResultEntry(e),
        ..
    }) = c.recv().await
    else {
        panic!("rootDSE entry expected");
    };
    assert_eq!(e.dn, "");
    assert!(e.attributes.iter().any(|a| a.atype == "namingContexts"));
    assert!(
        matches!(c.recv().await.map(|m| m.op), Some(LdapOp::SearchResultDone(r)) if r.code == LdapResultCode::Success)
    );
    // A directory search without a bind is refused.
    assert_eq!(
        c.search(2, "o=acme,dc=pbx365", carla()).await,
        (0, LdapResultCode::InsufficentAccessRights)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_control_reports_unknown_attributes() {
    use ldap3_proto::control::{LdapControl, ServerSortRequet};
    let server = start(|_| {}).await;
    let mut c = Client::connect(server.plain).await;
    for (attr, reverse, expect) in [
        ("cn", true, LdapResultCode::Success),
        ("bogus", false, LdapResultCode::NoSuchAttribute),
    ] {
        let mut m = search(
            1,
            "o=acme,dc=pbx365",
            LdapFilter::Substring(
                "cn".into(),
                LdapSubstringFilter {
                    initial: Some("Filler".into()),
                    ..Default::default()
                },
            ),
        );
        m.ctrl = vec![LdapControl::ServerSort {
            sort_requests: vec![ServerSortRequet {
                attribute_name: attr.into(),
                ordering_rule: None,
                reverse_order: reverse,
            }],
        }];
        c.send(m).await;
        let mut names = Vec::new();
        loop {
            let m = c.recv().await.unwrap();
            match m.op {
                LdapOp::SearchResultEntry(e) => names.push(e.dn),
                LdapOp::SearchResultDone(r) => {
                    assert_eq!(r.code, LdapResultCode::Success);
                    let code = m.ctrl.iter().find_map(|c| match c {
                        LdapControl::ServerSortResult { sort_result } => {
                            Some(sort_result.result_code.clone())
                        }
                        _ => None,
                    });
                    assert_eq!(code, Some(expect.clone()), "{attr}");
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(names.len(), 12);
        if reverse {
            assert_eq!(names[0], "uid=c-filler12,ou=company,o=acme,dc=pbx365");
        } else {
            // Unsorted: the directory's order.
            assert_eq!(names[0], "uid=c-filler01,ou=company,o=acme,dc=pbx365");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_smuggled_plaintext_is_dropped() {
    let server = start(|_| {}).await;
    let mut c = Client::connect(server.plain).await;
    let mut bytes = encode(LdapMsg {
        msgid: 1,
        op: LdapOp::ExtendedRequest(LdapExtendedRequest {
            name: "1.3.6.1.4.1.1466.20037".into(),
            value: None,
        }),
        ctrl: vec![],
    });
    // A plaintext request right behind the StartTLS request, before the TLS handshake.
    bytes.extend(encode(search(2, "o=acme,dc=pbx365", carla())));
    c.stream.write_all(&bytes).await.unwrap();
    let first = c.recv().await.expect("StartTLS answer");
    assert!(
        matches!(first.op, LdapOp::ExtendedResponse(ref r) if r.res.code == LdapResultCode::Success)
    );
    assert!(
        c.until_closed().await.is_empty(),
        "no answer to the smuggled request"
    );
    still_serving(server.plain).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_connected_clients() {
    let server = start(|_| {}).await;
    let mut c = Client::connect(server.plain).await;
    assert_eq!(c.search(1, "o=acme,dc=pbx365", carla()).await.0, 1);
    let addr = server.plain;
    server.stop().await;
    assert_eq!(c.until_closed().await, vec![LdapResultCode::Unavailable]);
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

/// A VLV search by hand, for what ldapsearch will not send: (entry DNs, result code, the VLV
/// response's (targetPosition, contentCount, result)).
async fn vlv_search(
    c: &mut Client,
    id: i32,
    value: Vec<u8>,
    sort: Option<&str>,
    paged: bool,
) -> (Vec<String>, LdapResultCode, Option<(u8, u8, u8)>) {
    use ldap3_proto::control::{LdapControl, ServerSortRequet};
    let mut m = search(
        id,
        "o=acme,dc=pbx365",
        LdapFilter::Substring(
            "cn".into(),
            LdapSubstringFilter {
                initial: Some("Filler".into()),
                ..Default::default()
            },
        ),
    );
    m.ctrl.push(LdapControl::Unknown {
        oid: "2.16.840.1.113730.3.4.9".into(),
        criticality: true,
        value: Some(value),
    });
    if paged {
        m.ctrl.push(LdapControl::SimplePagedResults {
            size: 5,
            cookie: Vec::new(),
        });
    }
    if let Some(attr) = sort {
        m.ctrl.push(LdapControl::ServerSort {
            sort_requests: vec![ServerSortRequet {
                attribute_name: attr.into(),
                ordering_rule: None,
                reverse_order: false,
            }],
        });
    }
    c.send(m).await;
    let mut dns = Vec::new();
    loop {
        let m = c.recv().await.expect("an answer");
        match m.op {
            LdapOp::SearchResultEntry(e) => dns.push(e.dn),
            LdapOp::SearchResultDone(r) => {
                let vlv = m.ctrl.iter().find_map(|c| match c {
                    LdapControl::Unknown {
                        oid,
                        value: Some(v),
                        ..
                    } if oid == "2.16.840.1.113730.3.4.10" => {
                        // SEQUENCE { INTEGER pos, INTEGER count, ENUMERATED result }, each one
                        // byte in these cases.
                        assert_eq!(v.len(), 11, "{v:02x?}");
                        Some((v[4], v[7], v[10]))
                    }
                    _ => None,
                });
                return (dns, r.code, vlv);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vlv_by_hand() {
    let server = start(|_| {}).await;
    let mut c = Client::connect(server.plain).await;
    // before 0, after 1, byOffset 3 of 0.
    let good = vec![
        0x30, 0x0e, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01, 0xa0, 0x06, 0x02, 0x01, 0x03, 0x02, 0x01,
        0x00,
    ];
    // A critical VLV control is understood.
    let (dns, code, vlv) = vlv_search(&mut c, 1, good.clone(), Some("cn"), false).await;
    assert_eq!(code, LdapResultCode::Success);
    assert_eq!(
        dns,
        [
            "uid=c-filler03,ou=company,o=acme,dc=pbx365",
            "uid=c-filler04,ou=company,o=acme,dc=pbx365"
        ]
    );
    assert_eq!(vlv, Some((3, 12, 0)));
    // Without the sort control: virtualListViewError, sortControlMissing (60).
    let (dns, code, vlv) = vlv_search(&mut c, 2, good.clone(), None, false).await;
    assert!(dns.is_empty());
    assert_eq!(code, LdapResultCode::VirtualListViewError);
    assert_eq!(vlv, Some((0, 0, 60)));
    // Sorted by an attribute pbx365 does not serve: inappropriateMatching (18).
    let (dns, code, vlv) = vlv_search(&mut c, 3, good.clone(), Some("bogus"), false).await;
    assert!(dns.is_empty());
    assert_eq!(code, LdapResultCode::VirtualListViewError);
    assert_eq!(vlv, Some((0, 12, 18)));
    // A broken control value: protocolError, and the connection keeps working.
    let (_, code, _) = vlv_search(&mut c, 4, vec![0x30, 0x03, 0x02, 0x01], Some("cn"), false).await;
    assert_eq!(code, LdapResultCode::ProtocolError);
    let (dns, code, _) = vlv_search(&mut c, 5, good.clone(), Some("cn"), false).await;
    assert_eq!((dns.len(), code), (2, LdapResultCode::Success));
    // Not together with paged results (ldapsearch refuses to send both, too).
    let (dns, code, vlv) = vlv_search(
        &mut c,
        6,
        vec![
            0x30, 0x0e, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01, 0xa0, 0x06, 0x02, 0x01, 0x03, 0x02,
            0x01, 0x00,
        ],
        Some("cn"),
        true,
    )
    .await;
    assert!(dns.is_empty());
    assert_eq!(code, LdapResultCode::UnwillingToPerform);
    assert_eq!(vlv, Some((0, 0, 53)));
    server.stop().await;

    // More matches than the server sorts: adminLimitExceeded, in the result and the control.
    let server = start(|c| {
        c.limits.max_results = 4;
        c.limits.max_sorted = 10;
    })
    .await;
    let mut c = Client::connect(server.plain).await;
    let (dns, code, vlv) = vlv_search(&mut c, 1, good.clone(), Some("cn"), false).await;
    assert!(dns.is_empty());
    assert_eq!(code, LdapResultCode::AdminLimitExceeded);
    assert_eq!(vlv, Some((0, 0, 11)), "the list's size is unknown");
    server.stop().await;
}
