//! One client connection: reads requests one at a time (so a client has at most one request
//! in progress), answers binds and searches through the directory service, keeps the
//! connection's paged-results state, and upgrades to TLS on StartTLS.

use crate::config::Limits;
use crate::dn::{self, DnError, Target, ROOT_DN};
use crate::translate::{self, Selection};
use crate::vlv;
use bytes::BytesMut;
use directory::{
    BookScope, DirectoryService, Entry, Filter, NumberForm, Principal, ServiceError, SiteId,
};
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindRequest, LdapBindResponse, LdapExtendedRequest, LdapExtendedResponse,
    LdapFilter, LdapMsg, LdapOp, LdapPartialAttribute, LdapResult, LdapResultCode,
    LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope,
};
use ldap3_proto::{DisconnectionNotice, LdapCodec};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::{Decoder, Encoder};

/// OID of the StartTLS extended operation (RFC 4511 §4.14).
pub(crate) const OID_STARTTLS: &str = "1.3.6.1.4.1.1466.20037";
/// OID of the "Who am I?" extended operation (RFC 4532).
pub(crate) const OID_WHOAMI: &str = "1.3.6.1.4.1.4203.1.11.3";
/// OID of the simple paged results control (RFC 2696).
pub(crate) const OID_PAGED: &str = "1.2.840.113556.1.4.319";
/// OID of the server-side sort request control (RFC 2891).
pub(crate) const OID_SORT: &str = "1.2.840.113556.1.4.473";
/// OID of the server-side sort response control (RFC 2891).
pub(crate) const OID_SORT_RESULT: &str = "1.2.840.113556.1.4.474";

/// A byte stream a connection runs over: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub limits: Limits,
    pub starttls: bool,
    pub acceptor: Option<TlsAcceptor>,
    pub default_site: Option<SiteId>,
    pub number_form: NumberForm,
    pub service: Arc<dyn DirectoryService>,
    pub slots: Arc<Semaphore>,
}

/// Tells a client it is not served (connection limit) and closes.
pub(crate) async fn refuse<S: Io>(mut io: S, code: LdapResultCode, why: &str, limit: Duration) {
    let mut buf = BytesMut::new();
    if LdapCodec::default()
        .encode(DisconnectionNotice::gen_response(code, why), &mut buf)
        .is_ok()
    {
        let _ = tokio::time::timeout(limit, async {
            let _ = io.write_all(&buf).await;
            let _ = io.shutdown().await;
        })
        .await;
    }
}

/// Who the client is.
enum Auth {
    /// Not bound, or bound anonymously: the anonymous principal of the site the search names.
    Anonymous,
    /// Bound with issued credentials.
    Bound { principal: Principal, name: String },
}

/// A paged-results search still being read.
struct Paged {
    cookie: Vec<u8>,
    key: String,
    rest: VecDeque<Entry>,
    truncated: bool,
}

/// What to do after a request.
enum Next {
    Continue,
    Close,
    StartTls,
}

struct Conn {
    shared: Arc<Shared>,
    tls: bool,
    auth: Auth,
    paged: VecDeque<Paged>,
    next_cookie: u64,
    sites: Option<Vec<SiteId>>,
}

fn result(code: LdapResultCode, message: impl Into<String>) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.into(),
        referral: Vec::new(),
    }
}

fn ok() -> LdapResult {
    result(LdapResultCode::Success, "")
}

fn msg(msgid: i32, op: LdapOp) -> LdapMsg {
    LdapMsg {
        msgid,
        op,
        ctrl: Vec::new(),
    }
}

fn service_code(e: &ServiceError) -> LdapResultCode {
    match e {
        ServiceError::InvalidCredentials => LdapResultCode::InvalidCredentials,
        ServiceError::Forbidden(_) => LdapResultCode::InsufficentAccessRights,
        ServiceError::BadRequest(_) => LdapResultCode::UnwillingToPerform,
        ServiceError::UnknownSite(_) => LdapResultCode::NoSuchObject,
        ServiceError::Unavailable(_) => LdapResultCode::Unavailable,
    }
}

fn service_result(e: &ServiceError) -> LdapResult {
    let message = match e {
        // Details of internal failures are logged, not shown.
        ServiceError::Unavailable(d) => {
            tracing::warn!(detail = %d, "directory unavailable for LDAP");
            "directory temporarily unavailable; try again later".to_owned()
        }
        other => other.to_string(),
    };
    result(service_code(e), message)
}

/// Serves one connection until the client leaves, misbehaves, idles out or the server stops.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut io: Box<dyn Io>,
    tls: bool,
    mut stop: watch::Receiver<bool>,
) {
    let limits = shared.limits.clone();
    let mut codec = LdapCodec::new(Some(limits.max_message_bytes), Some(limits.max_ber_depth));
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut conn = Conn {
        shared,
        tls,
        auth: Auth::Anonymous,
        paged: VecDeque::new(),
        next_cookie: 1,
        sites: None,
    };
    loop {
        let request = match codec.decode(&mut rbuf) {
            Ok(Some(m)) => m,
            Ok(None) => {
                let read = tokio::select! {
                    r = tokio::time::timeout(limits.idle_timeout, io.read_buf(&mut rbuf)) => r,
                    _ = stop.changed() => {
                        notice(&mut io, LdapResultCode::Unavailable, "server shutting down", &limits).await;
                        return;
                    }
                };
                match read {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(_)) => continue,
                    Err(_) => {
                        notice(
                            &mut io,
                            LdapResultCode::Unavailable,
                            "idle timeout",
                            &limits,
                        )
                        .await;
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "undecodable LDAP request; closing");
                notice(
                    &mut io,
                    LdapResultCode::ProtocolError,
                    "malformed or oversized request",
                    &limits,
                )
                .await;
                return;
            }
        };
        let (responses, next) = conn.handle(request).await;
        if write(&mut io, responses, &limits).await.is_err() {
            return;
        }
        match next {
            Next::Continue => {}
            Next::Close => {
                let _ = tokio::time::timeout(limits.write_timeout, io.shutdown()).await;
                return;
            }
            Next::StartTls => {
                // The client must wait for our answer before its TLS hello; anything already
                // buffered would be plaintext smuggled into the TLS session.
                let Some(acceptor) = conn.shared.acceptor.clone() else {
                    return;
                };
                if !rbuf.is_empty() {
                    return;
                }
                match tokio::time::timeout(limits.idle_timeout, acceptor.accept(io)).await {
                    Ok(Ok(s)) => {
                        io = Box::new(s);
                        conn.tls = true;
                    }
                    _ => return,
                }
            }
        }
    }
}

async fn notice(io: &mut Box<dyn Io>, code: LdapResultCode, why: &str, limits: &Limits) {
    let _ = write(
        io,
        vec![DisconnectionNotice::gen_response(code, why)],
        limits,
    )
    .await;
}

async fn write(io: &mut Box<dyn Io>, msgs: Vec<LdapMsg>, limits: &Limits) -> Result<(), ()> {
    let mut codec = LdapCodec::default();
    let mut buf = BytesMut::new();
    for m in msgs {
        codec.encode(m, &mut buf).map_err(|_| ())?;
    }
    tokio::time::timeout(limits.write_timeout, async {
        io.write_all(&buf).await?;
        io.flush().await
    })
    .await
    .map_err(|_| ())?
    .map_err(|_| ())
}

/// Whether a control makes the request unanswerable (critical and not understood).
fn unsupported_critical(ctrl: &[LdapControl]) -> Option<String> {
    ctrl.iter().find_map(|c| match c {
        LdapControl::Unknown {
            oid,
            criticality: true,
            ..
        } if oid != vlv::OID_REQUEST => Some(oid.clone()),
        LdapControl::SyncRequest {
            criticality: true, ..
        } => Some("1.3.6.1.4.1.4203.1.9.1.1".into()),
        LdapControl::PasswordPolicyRequest { criticality: true } => {
            Some("1.3.6.1.4.1.42.2.27.8.5.1".into())
        }
        LdapControl::SearchOptions {
            criticality: true, ..
        } => Some("1.2.840.113556.1.4.1340".into()),
        LdapControl::ShowDeleted { criticality: true } => Some("1.2.840.113556.1.4.417".into()),
        LdapControl::SdFlags {
            criticality: true, ..
        } => Some("1.2.840.113556.1.4.801".into()),
        LdapControl::ExtendedDn {
            criticality: true, ..
        } => Some("1.2.840.113556.1.4.529".into()),
        _ => None,
    })
}

fn attr(name: &str, vals: Vec<String>) -> LdapPartialAttribute {
    LdapPartialAttribute {
        atype: name.to_owned(),
        vals: vals.into_iter().map(String::into_bytes).collect(),
    }
}

/// A few-attribute entry (rootDSE, containers) with the attributes the client asked for.
fn small_entry(
    dn: String,
    attrs: Vec<(&str, Vec<String>)>,
    req: &LdapSearchRequest,
) -> LdapSearchResultEntry {
    let all = req.attrs.is_empty() || req.attrs.iter().any(|a| a == "*" || a == "+");
    let attributes = attrs
        .into_iter()
        .filter(|(n, _)| all || req.attrs.iter().any(|a| a.eq_ignore_ascii_case(n)))
        .map(|(n, v)| {
            let mut a = attr(n, v);
            if req.typesonly {
                a.vals.clear();
            }
            a
        })
        .collect();
    LdapSearchResultEntry { dn, attributes }
}

/// Whether a filter matches a container's few attributes (text, case-insensitive).
fn matches_local(f: &LdapFilter, attrs: &[(&str, Vec<String>)]) -> bool {
    evaluate_local(f, attrs) == Some(true)
}

/// RFC 4511's three-valued evaluation over a container: `None` is Undefined (ordering and
/// extensible matches, which containers do not support), and `!` of Undefined stays Undefined.
fn evaluate_local(f: &LdapFilter, attrs: &[(&str, Vec<String>)]) -> Option<bool> {
    let vals = |name: &str| {
        attrs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    Some(match f {
        LdapFilter::And(fs) => {
            let all: Vec<Option<bool>> = fs.iter().map(|f| evaluate_local(f, attrs)).collect();
            if all.contains(&Some(false)) {
                false
            } else if all.contains(&None) {
                return None;
            } else {
                true
            }
        }
        LdapFilter::Or(fs) => {
            let any: Vec<Option<bool>> = fs.iter().map(|f| evaluate_local(f, attrs)).collect();
            if any.contains(&Some(true)) {
                true
            } else if any.contains(&None) {
                return None;
            } else {
                false
            }
        }
        LdapFilter::Not(f) => !evaluate_local(f, attrs)?,
        LdapFilter::Present(a) => !vals(a).is_empty(),
        LdapFilter::Equality(a, v) | LdapFilter::Approx(a, v) => {
            vals(a).contains(&v.to_lowercase())
        }
        LdapFilter::Substring(a, s) => vals(a).iter().any(|v| {
            let mut rest = v.as_str();
            if let Some(i) = &s.initial {
                match rest.strip_prefix(i.to_lowercase().as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
            }
            for any in &s.any {
                let any = any.to_lowercase();
                match rest.find(any.as_str()) {
                    Some(p) => rest = &rest[p + any.len()..],
                    None => return false,
                }
            }
            s.final_
                .as_ref()
                .is_none_or(|f| rest.ends_with(f.to_lowercase().as_str()))
        }),
        LdapFilter::GreaterOrEqual(..)
        | LdapFilter::LessOrEqual(..)
        | LdapFilter::Extensible(_) => return None,
    })
}

impl Conn {
    async fn handle(&mut self, req: LdapMsg) -> (Vec<LdapMsg>, Next) {
        let id = req.msgid;
        if let Some(oid) = unsupported_critical(&req.ctrl) {
            let r = result(
                LdapResultCode::UnavailableCriticalExtension,
                format!("critical control {oid} is not supported"),
            );
            let op = match &req.op {
                LdapOp::BindRequest(_) => LdapOp::BindResponse(LdapBindResponse {
                    res: r,
                    saslcreds: None,
                }),
                LdapOp::SearchRequest(_) => LdapOp::SearchResultDone(r),
                LdapOp::ExtendedRequest(_) => LdapOp::ExtendedResponse(LdapExtendedResponse {
                    res: r,
                    name: None,
                    value: None,
                }),
                LdapOp::UnbindRequest => return (Vec::new(), Next::Close),
                LdapOp::AbandonRequest(_) => return (Vec::new(), Next::Continue),
                _ => LdapOp::ModifyResponse(r),
            };
            return (vec![msg(id, op)], Next::Continue);
        }
        let read_only = || {
            result(
                LdapResultCode::UnwillingToPerform,
                "the pbx365 directory is read-only",
            )
        };
        match req.op {
            LdapOp::BindRequest(b) => (
                vec![msg(id, LdapOp::BindResponse(self.bind(b).await))],
                Next::Continue,
            ),
            LdapOp::UnbindRequest => (Vec::new(), Next::Close),
            LdapOp::SearchRequest(s) => (self.search(id, s, &req.ctrl).await, Next::Continue),
            // Requests run one at a time, so there is never one in flight to abandon.
            LdapOp::AbandonRequest(_) => (Vec::new(), Next::Continue),
            LdapOp::ExtendedRequest(x) => self.extended(id, x),
            LdapOp::AddRequest(_) => (
                vec![msg(id, LdapOp::AddResponse(read_only()))],
                Next::Continue,
            ),
            LdapOp::ModifyRequest(_) => (
                vec![msg(id, LdapOp::ModifyResponse(read_only()))],
                Next::Continue,
            ),
            LdapOp::DelRequest(_) => (
                vec![msg(id, LdapOp::DelResponse(read_only()))],
                Next::Continue,
            ),
            LdapOp::ModifyDNRequest(_) => (
                vec![msg(id, LdapOp::ModifyDNResponse(read_only()))],
                Next::Continue,
            ),
            LdapOp::CompareRequest(_) => (
                vec![msg(
                    id,
                    LdapOp::CompareResult(result(
                        LdapResultCode::UnwillingToPerform,
                        "compare is not supported; use a search with an equality filter",
                    )),
                )],
                Next::Continue,
            ),
            // A response or intermediate message from a client is a protocol violation.
            _ => (
                vec![DisconnectionNotice::gen_response(
                    LdapResultCode::ProtocolError,
                    "a client sent a server message",
                )],
                Next::Close,
            ),
        }
    }

    fn extended(&mut self, id: i32, x: LdapExtendedRequest) -> (Vec<LdapMsg>, Next) {
        let reply = |res: LdapResult, name: Option<&str>, value: Option<Vec<u8>>| {
            vec![msg(
                id,
                LdapOp::ExtendedResponse(LdapExtendedResponse {
                    res,
                    name: name.map(str::to_owned),
                    value,
                }),
            )]
        };
        match x.name.as_str() {
            OID_STARTTLS if self.tls => (
                reply(
                    result(LdapResultCode::OperationsError, "TLS is already active"),
                    Some(OID_STARTTLS),
                    None,
                ),
                Next::Continue,
            ),
            OID_STARTTLS if self.shared.starttls => {
                (reply(ok(), Some(OID_STARTTLS), None), Next::StartTls)
            }
            OID_STARTTLS => (
                reply(
                    result(
                        LdapResultCode::ProtocolError,
                        "StartTLS is not offered by this server",
                    ),
                    Some(OID_STARTTLS),
                    None,
                ),
                Next::Continue,
            ),
            OID_WHOAMI => {
                let who = match &self.auth {
                    Auth::Anonymous => String::new(),
                    Auth::Bound { principal, name } => format!(
                        "dn:cn={},{}",
                        dn::escape_value(name),
                        dn::site_dn(principal.site())
                    ),
                };
                (reply(ok(), None, Some(who.into_bytes())), Next::Continue)
            }
            other => (
                reply(
                    result(
                        LdapResultCode::ProtocolError,
                        format!("extended operation {other} is not supported"),
                    ),
                    None,
                    None,
                ),
                Next::Continue,
            ),
        }
    }

    /// The site meant when a request names none: the configured default, else the only one.
    async fn default_site(&mut self) -> Option<SiteId> {
        if let Some(s) = &self.shared.default_site {
            return Some(s.clone());
        }
        let sites = self.sites().await;
        match sites.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        }
    }

    async fn sites(&mut self) -> Vec<SiteId> {
        if self.sites.is_none() {
            match self.shared.service.sites().await {
                Ok(s) => self.sites = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "listing sites for LDAP failed");
                    return Vec::new();
                }
            }
        }
        self.sites.clone().unwrap_or_default()
    }

    async fn bind(&mut self, b: LdapBindRequest) -> LdapBindResponse {
        // Whatever happens, the previous identity and its paged searches end here.
        self.auth = Auth::Anonymous;
        self.paged.clear();
        let res = self.try_bind(b).await.unwrap_or_else(|e| e);
        LdapBindResponse {
            res,
            saslcreds: None,
        }
    }

    async fn try_bind(&mut self, b: LdapBindRequest) -> Result<LdapResult, LdapResult> {
        if b.version != 3 && b.version != 2 {
            return Err(result(
                LdapResultCode::ProtocolError,
                format!("LDAP version {} is not supported; use 3", b.version),
            ));
        }
        let password = match b.cred {
            LdapBindCred::Simple(p) => p,
            _ => {
                return Err(result(
                    LdapResultCode::AuthMethodNotSupported,
                    "only simple bind is supported",
                ))
            }
        };
        let dn_text = b.dn.trim();
        if dn_text.is_empty() && password.is_empty() {
            let Some(site) = self.default_site().await else {
                // Several sites: the search base will say which one's anonymous access applies.
                return Ok(ok());
            };
            return match self.shared.service.anonymous(&site).await {
                Ok(_) => Ok(ok()),
                Err(ServiceError::Forbidden(_)) => Err(result(
                    LdapResultCode::InappropriateAuthentication,
                    "anonymous access is off; bind with the credentials pbx365 issued",
                )),
                Err(e) => Err(service_result(&e)),
            };
        }
        if password.is_empty() {
            return Err(result(
                LdapResultCode::UnwillingToPerform,
                "a bind DN without a password (unauthenticated bind) is not allowed",
            ));
        }
        if dn_text.is_empty() {
            return Err(result(
                LdapResultCode::InvalidCredentials,
                "a password needs a bind DN (cn=<username>,o=<site>,dc=pbx365)",
            ));
        }
        let (site, username) = match dn::parse_bind_dn(dn_text) {
            Ok(x) => x,
            Err(DnError::Syntax(..)) => return Err(result(
                LdapResultCode::InvalidDNSyntax,
                "bind DN is not a DN; use cn=<username>,o=<site>,dc=pbx365 or the bare username",
            )),
            Err(DnError::NoSuchObject(_)) => {
                return Err(result(
                    LdapResultCode::InvalidCredentials,
                    "invalid credentials",
                ))
            }
        };
        let site = match site {
            Some(s) => s,
            None => self.default_site().await.ok_or_else(|| {
                result(
                    LdapResultCode::InvalidCredentials,
                    "several sites are served: bind as cn=<username>,o=<site>,dc=pbx365",
                )
            })?,
        };
        match self
            .shared
            .service
            .authenticate(&site, &username, &password)
            .await
        {
            Ok(principal) => {
                self.auth = Auth::Bound {
                    principal,
                    name: username,
                };
                Ok(ok())
            }
            Err(
                ServiceError::InvalidCredentials
                | ServiceError::UnknownSite(_)
                | ServiceError::Forbidden(_),
            ) => Err(result(
                LdapResultCode::InvalidCredentials,
                "invalid credentials",
            )),
            Err(e) => Err(service_result(&e)),
        }
    }

    /// The principal a search runs as, for the site its base names (if any).
    async fn principal(&mut self, site: Option<&SiteId>) -> Result<Principal, LdapResult> {
        match &self.auth {
            Auth::Bound { principal, .. } => match site {
                Some(s) if s != principal.site() => Err(result(
                    LdapResultCode::InsufficentAccessRights,
                    format!("bound to site {}, not {s}", principal.site()),
                )),
                _ => Ok(principal.clone()),
            },
            Auth::Anonymous => {
                let site = match site {
                    Some(s) => s.clone(),
                    None => self.default_site().await.ok_or_else(|| {
                        result(
                            LdapResultCode::UnwillingToPerform,
                            "several sites are served: search under o=<site>,dc=pbx365",
                        )
                    })?,
                };
                self.shared
                    .service
                    .anonymous(&site)
                    .await
                    .map_err(|e| match e {
                        ServiceError::Forbidden(_) => result(
                            LdapResultCode::InsufficentAccessRights,
                            "anonymous access is off; bind with the credentials pbx365 issued",
                        ),
                        e => service_result(&e),
                    })
            }
        }
    }

    async fn search(
        &mut self,
        id: i32,
        req: LdapSearchRequest,
        ctrl: &[LdapControl],
    ) -> Vec<LdapMsg> {
        let done = |res: LdapResult| msg(id, LdapOp::SearchResultDone(res));
        let entry_msg = |e: LdapSearchResultEntry| msg(id, LdapOp::SearchResultEntry(e));
        if req.base.trim().is_empty() && req.scope == LdapSearchScope::Base {
            let root = self.root_dse(&req).await;
            return vec![entry_msg(root), done(ok())];
        }
        let target = match dn::parse_target(&req.base) {
            Ok(t) => t,
            Err(e @ DnError::Syntax(..)) => {
                return vec![done(result(LdapResultCode::InvalidDNSyntax, e.to_string()))]
            }
            Err(e @ DnError::NoSuchObject(_)) => {
                let mut r = result(LdapResultCode::NoSuchObject, e.to_string());
                if req.base.to_ascii_lowercase().contains(ROOT_DN) {
                    r.matcheddn = ROOT_DN.to_owned();
                }
                return vec![done(r)];
            }
        };
        let limits = &self.shared.limits;
        let filter = match translate::filter(
            &req.filter,
            limits.max_filter_depth,
            limits.max_filter_elements,
        ) {
            Ok(f) => f,
            Err(e) => {
                return vec![done(result(
                    LdapResultCode::AdminLimitExceeded,
                    e.to_string(),
                ))]
            }
        };
        let site = match &target {
            Target::Root => None,
            Target::Site { site, .. } => Some(site.clone()),
        };
        let who = match self.principal(site.as_ref()).await {
            Ok(p) => p,
            Err(r) => return vec![done(r)],
        };
        let site = who.site().clone();
        // Containers: served for base and one-level searches only.
        let containers: Vec<Container> = match (&target, &req.scope) {
            (Target::Root, LdapSearchScope::Base) => vec![root_container()],
            (Target::Root, LdapSearchScope::OneLevel) => vec![site_container(&site)],
            (Target::Site { book: None, .. }, LdapSearchScope::Base) => vec![site_container(&site)],
            (Target::Site { book: None, .. }, LdapSearchScope::OneLevel) => {
                let mut books = vec![BookScope::Users, BookScope::Company, BookScope::Directory];
                if who.personal_owner().is_some() {
                    books.push(BookScope::Personal);
                }
                books
                    .into_iter()
                    .map(|b| book_container(&site, b))
                    .collect()
            }
            (
                Target::Site {
                    book: Some(b),
                    entry: None,
                    ..
                },
                LdapSearchScope::Base,
            ) => vec![book_container(&site, *b)],
            _ => Vec::new(),
        };
        if !containers.is_empty() {
            let mut out: Vec<LdapMsg> = containers
                .into_iter()
                .filter(|(_, a)| matches_local(&req.filter, a))
                .map(|(dn, a)| entry_msg(small_entry(dn, a, &req)))
                .collect();
            out.push(done(ok()));
            return out;
        }
        let scope = match &target {
            Target::Root | Target::Site { book: None, .. } => BookScope::All,
            Target::Site { book: Some(b), .. } => *b,
        };
        let only = match &target {
            Target::Site { entry: Some(e), .. } => {
                if matches!(
                    req.scope,
                    LdapSearchScope::OneLevel | LdapSearchScope::Children
                ) {
                    return vec![done(ok())];
                }
                Some(e.clone())
            }
            _ => None,
        };
        self.entries(id, &req, ctrl, &who, scope, filter, only)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn entries(
        &mut self,
        id: i32,
        req: &LdapSearchRequest,
        ctrl: &[LdapControl],
        who: &Principal,
        scope: BookScope,
        filter: Filter,
        only: Option<String>,
    ) -> Vec<LdapMsg> {
        let done = |res: LdapResult, ctrl: Vec<LdapControl>| LdapMsg {
            msgid: id,
            op: LdapOp::SearchResultDone(res),
            ctrl,
        };
        let limits = self.shared.limits.clone();
        let form = self.shared.number_form;
        let paging = ctrl.iter().find_map(|c| match c {
            LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
            _ => None,
        });
        let sort = ctrl.iter().find_map(|c| match c {
            LdapControl::ServerSort { sort_requests } => sort_requests.first().cloned(),
            _ => None,
        });
        let vlv_value = ctrl.iter().find_map(|c| match c {
            LdapControl::Unknown { oid, value, .. } if oid == vlv::OID_REQUEST => {
                Some(value.clone().unwrap_or_default())
            }
            _ => None,
        });
        // What a paged-results cookie must be used with again; only paged searches need it.
        let key = if paging.is_some() {
            format!(
                "{}|{:?}|{:?}|{:?}",
                req.base.to_ascii_lowercase(),
                req.scope,
                req.filter,
                req.attrs
            )
        } else {
            String::new()
        };
        let selection = Selection::new(&req.attrs);
        let to_msgs = |entries: Vec<Entry>| {
            entries
                .iter()
                .map(|e| {
                    msg(
                        id,
                        LdapOp::SearchResultEntry(translate::entry(
                            e,
                            &selection,
                            form,
                            req.typesonly,
                        )),
                    )
                })
                .collect::<Vec<_>>()
        };

        // A virtual list view: refused before any work when it cannot be answered.
        let vlv_request = match &vlv_value {
            None => None,
            Some(value) => {
                let refuse = |code, text: &str, outcome| {
                    vec![done(result(code, text), vec![vlv::response(0, 0, outcome)])]
                };
                if paging.is_some() {
                    return refuse(
                        LdapResultCode::UnwillingToPerform,
                        "a virtual list view cannot be combined with paged results",
                        vlv::Outcome::UnwillingToPerform,
                    );
                }
                if sort.is_none() {
                    return refuse(
                        LdapResultCode::VirtualListViewError,
                        "a virtual list view needs the server-side sort control (sortControlMissing)",
                        vlv::Outcome::SortControlMissing,
                    );
                }
                match vlv::parse(value) {
                    Ok(r) => Some(r),
                    Err(why) => {
                        return refuse(
                            LdapResultCode::ProtocolError,
                            why,
                            vlv::Outcome::ProtocolError,
                        )
                    }
                }
            }
        };

        // Continuing (or abandoning) a paged search.
        if let Some((size, cookie)) = &paging {
            if !cookie.is_empty() {
                let Some(pos) = self.paged.iter().position(|p| &p.cookie == cookie) else {
                    return vec![done(
                        result(
                            LdapResultCode::UnwillingToPerform,
                            "unknown or expired paged-results cookie; start the search again",
                        ),
                        Vec::new(),
                    )];
                };
                let Some(mut p) = self.paged.remove(pos) else {
                    return vec![done(
                        result(LdapResultCode::OperationsError, "paged search lost"),
                        Vec::new(),
                    )];
                };
                if p.key != key {
                    return vec![done(
                        result(
                            LdapResultCode::UnwillingToPerform,
                            "a paged-results cookie must be used with the same search",
                        ),
                        Vec::new(),
                    )];
                }
                if *size <= 0 {
                    return vec![done(ok(), vec![paged_ctrl(0, Vec::new())])];
                }
                let n = (*size as usize).min(p.rest.len());
                let page: Vec<Entry> = p.rest.drain(..n).collect();
                let mut out = to_msgs(page);
                out.push(self.page_done(id, p));
                return out;
            }
        }

        // A new search.
        let client_cap = usize::try_from(req.sizelimit).ok().filter(|n| *n > 0);
        let cap = client_cap.map_or(limits.max_results, |c| c.min(limits.max_results));
        let client_time = u64::try_from(req.timelimit)
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_secs);
        let time = client_time.map_or(limits.max_time, |t| t.min(limits.max_time));
        let service = self.shared.service.clone();
        // Sorting (and so a virtual list view) needs every entry, not the first `cap` by name.
        let sort_cap = limits.max_sorted.max(limits.max_results);
        let ask = if sort.is_some() {
            sort_cap.saturating_add(1)
        } else {
            cap.saturating_add(1)
        };
        let found = match &only {
            Some(entry_id) => {
                tokio::time::timeout(time, async {
                    let Some(e) = service.entry(who, entry_id).await? else {
                        return Ok(None);
                    };
                    if translate::entry_book(&e) != scope {
                        return Ok(None);
                    }
                    let trivial =
                        matches!(&filter, Filter::Present(directory::Attribute::ObjectClass));
                    if trivial {
                        return Ok(Some(vec![e]));
                    }
                    let all = service
                        .filter(who, scope, &filter, limits.max_results)
                        .await?;
                    Ok(Some(all.into_iter().filter(|x| x.id == e.id).collect()))
                })
                .await
            }
            None => {
                tokio::time::timeout(time, async {
                    service.filter(who, scope, &filter, ask).await.map(Some)
                })
                .await
            }
        };
        let mut entries = match found {
            Err(_) => {
                return vec![done(
                    result(
                        LdapResultCode::TimeLimitExceeded,
                        "the search took longer than its time limit",
                    ),
                    Vec::new(),
                )]
            }
            Ok(Err(e)) => return vec![done(service_result(&e), Vec::new())],
            Ok(Ok(None)) => {
                return vec![done(
                    result(LdapResultCode::NoSuchObject, "no such entry"),
                    Vec::new(),
                )]
            }
            Ok(Ok(Some(v))) => v,
        };
        let mut done_ctrl = Vec::new();
        if let (Some(req), Some(s)) = (&vlv_request, &sort) {
            let n = entries.len() as u64;
            let refuse = |code, text: String, sorted, outcome| {
                vec![done(
                    result(code, text),
                    vec![sort_result(sorted), vlv::response(0, n, outcome)],
                )]
            };
            if entries.len() > sort_cap {
                // The list was not read to its end: its size is unknown (0).
                return vec![done(
                    result(
                        LdapResultCode::AdminLimitExceeded,
                        format!("more than {sort_cap} entries match; narrow the filter"),
                    ),
                    vec![
                        sort_result(LdapResultCode::AdminLimitExceeded),
                        vlv::response(0, 0, vlv::Outcome::AdminLimitExceeded),
                    ],
                )];
            }
            let name = translate::canonical_attribute(&s.attribute_name);
            let Some(name) = name.filter(|_| {
                translate::sort(&mut entries, &s.attribute_name, s.reverse_order, form)
            }) else {
                return refuse(
                    LdapResultCode::VirtualListViewError,
                    format!(
                        "cannot sort by {}: not an attribute pbx365 serves",
                        s.attribute_name
                    ),
                    LdapResultCode::NoSuchAttribute,
                    vlv::Outcome::InappropriateMatching,
                );
            };
            let window = vlv::window(req, entries.len(), |v| {
                let v = String::from_utf8_lossy(v).to_lowercase();
                entries
                    .iter()
                    .position(|e| match translate::sort_key(e, name, form) {
                        // Entries without a value sort last, after any target.
                        None => true,
                        Some(k) if s.reverse_order => k <= v,
                        Some(k) => k >= v,
                    })
                    .unwrap_or(entries.len())
            });
            let w = match window {
                Ok(w) => w,
                Err(outcome) => {
                    return refuse(
                        LdapResultCode::VirtualListViewError,
                        "the virtual list view offset is out of range (offsetRangeError)".into(),
                        LdapResultCode::Success,
                        outcome,
                    )
                }
            };
            let mut page: Vec<Entry> = entries.drain(w.start..w.end).collect();
            let truncated = page.len() > cap;
            page.truncate(cap);
            let mut out = to_msgs(page);
            let res = if truncated {
                result(
                    LdapResultCode::SizeLimitExceeded,
                    format!("the window holds more than {cap} entries"),
                )
            } else {
                ok()
            };
            out.push(done(
                res,
                vec![
                    sort_result(LdapResultCode::Success),
                    vlv::response(w.target_position, n, vlv::Outcome::Success),
                ],
            ));
            return out;
        }
        if let Some(s) = &sort {
            let sorted = translate::sort(&mut entries, &s.attribute_name, s.reverse_order, form);
            done_ctrl.push(sort_result(if sorted {
                LdapResultCode::Success
            } else {
                LdapResultCode::NoSuchAttribute
            }));
        }
        let truncated = entries.len() > cap;
        entries.truncate(cap);
        if let Some((size, _)) = paging {
            let size = usize::try_from(size).ok().filter(|n| *n > 0).unwrap_or(cap);
            let mut rest: VecDeque<Entry> = entries.into();
            let page: Vec<Entry> = rest.drain(..size.min(rest.len())).collect();
            let p = Paged {
                cookie: self.next_cookie.to_be_bytes().to_vec(),
                key,
                rest,
                truncated,
            };
            self.next_cookie += 1;
            let mut out = to_msgs(page);
            let mut last = self.page_done(id, p);
            last.ctrl.extend(done_ctrl);
            out.push(last);
            return out;
        }
        let mut out = to_msgs(entries);
        let res = if truncated {
            result(
                LdapResultCode::SizeLimitExceeded,
                format!("more than {cap} entries match; narrow the filter"),
            )
        } else {
            ok()
        };
        out.push(done(res, done_ctrl));
        out
    }

    /// Ends a page: keeps the search for the next page, or finishes it.
    fn page_done(&mut self, id: i32, p: Paged) -> LdapMsg {
        let (res, ctrl) = if p.rest.is_empty() {
            let res = if p.truncated {
                result(
                    LdapResultCode::SizeLimitExceeded,
                    "more entries match than the size limit allows; narrow the filter",
                )
            } else {
                ok()
            };
            (res, paged_ctrl(0, Vec::new()))
        } else {
            let c = paged_ctrl(p.rest.len() as i64, p.cookie.clone());
            self.paged.push_back(p);
            while self.paged.len() > self.shared.limits.max_paged_searches.max(1) {
                self.paged.pop_front();
            }
            (ok(), c)
        };
        LdapMsg {
            msgid: id,
            op: LdapOp::SearchResultDone(res),
            ctrl: vec![ctrl],
        }
    }

    async fn root_dse(&mut self, req: &LdapSearchRequest) -> LdapSearchResultEntry {
        let mut contexts = vec![ROOT_DN.to_owned()];
        contexts.extend(self.sites().await.iter().map(dn::site_dn));
        let mut extensions = vec![OID_WHOAMI.to_owned()];
        if self.shared.starttls && !self.tls {
            extensions.push(OID_STARTTLS.to_owned());
        }
        let attrs = vec![
            ("objectClass", vec!["top".to_owned()]),
            ("namingContexts", contexts),
            ("supportedLDAPVersion", vec!["3".to_owned()]),
            (
                "supportedControl",
                vec![
                    OID_PAGED.to_owned(),
                    OID_SORT.to_owned(),
                    vlv::OID_REQUEST.to_owned(),
                ],
            ),
            ("supportedExtension", extensions),
            ("vendorName", vec!["pbx365".to_owned()]),
            ("vendorVersion", vec![env!("CARGO_PKG_VERSION").to_owned()]),
        ];
        small_entry(String::new(), attrs, req)
    }
}

/// The sort response control (RFC 2891), encoded here: ldap3_proto's own encoding puts the
/// optional attribute type untagged, which clients (ldap3_proto included) cannot read back.
/// The attribute type is optional and left out.
fn sort_result(code: LdapResultCode) -> LdapControl {
    LdapControl::Unknown {
        oid: OID_SORT_RESULT.to_owned(),
        criticality: false,
        // SEQUENCE { ENUMERATED code }; every code used here fits one byte.
        value: Some(vec![0x30, 0x03, 0x0a, 0x01, code as i64 as u8]),
    }
}

fn paged_ctrl(size: i64, cookie: Vec<u8>) -> LdapControl {
    LdapControl::SimplePagedResults { size, cookie }
}

/// A container entry of the tree: its DN and its few attributes.
type Container = (String, Vec<(&'static str, Vec<String>)>);

fn root_container() -> Container {
    (
        ROOT_DN.to_owned(),
        vec![
            ("objectClass", vec!["top".into(), "domain".into()]),
            ("dc", vec!["pbx365".into()]),
        ],
    )
}

fn site_container(site: &SiteId) -> Container {
    (
        dn::site_dn(site),
        vec![
            ("objectClass", vec!["top".into(), "organization".into()]),
            ("o", vec![site.as_str().to_owned()]),
        ],
    )
}

fn book_container(site: &SiteId, book: BookScope) -> Container {
    (
        dn::book_dn(site, book),
        vec![
            (
                "objectClass",
                vec!["top".into(), "organizationalUnit".into()],
            ),
            ("ou", vec![dn::book_ou(book).unwrap_or_default().to_owned()]),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_evaluate_three_valued() {
        let attrs = [("ou", vec!["users".to_owned()])];
        let m = |f: &str| matches_local(&ldap3_proto::parse_ldap_filter_str(f).unwrap(), &attrs);
        assert!(m("(ou=USERS)"));
        assert!(m("(!(ou=company))"));
        // Undefined, and so is its negation.
        assert!(!m("(ou>=a)"));
        assert!(!m("(!(ou>=a))"));
        assert!(!m("(!(ou:caseExactMatch:=users))"));
        // FALSE & Undefined is FALSE, so its negation is TRUE; TRUE | Undefined is TRUE.
        assert!(m("(!(&(ou=company)(ou>=a)))"));
        assert!(m("(|(ou=users)(ou>=a))"));
        assert!(!m("(!(|(ou=users)(ou>=a)))"));
    }
}
