//! SIP messages (RFC 3261 §7): requests and responses with case-insensitive headers, and
//! their parser and serializer. Parsing never panics; oversized or malformed input is a
//! typed [`ParseError`].

use std::fmt;

/// Largest message accepted (a UDP datagram's payload can be no larger).
pub const MAX_MESSAGE_BYTES: usize = 65_535;
/// Most header lines accepted in one message, so a hostile peer cannot make us allocate freely.
pub const MAX_HEADERS: usize = 128;

/// Why bytes could not be read as a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The message is larger than [`MAX_MESSAGE_BYTES`].
    #[error("SIP message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No blank line ends the header section.
    #[error("SIP message has no blank line after its headers")]
    MissingHeaderEnd,
    /// The start line or headers are not UTF-8.
    #[error("SIP message headers are not valid UTF-8")]
    NotUtf8,
    /// The first line is neither `METHOD uri SIP/2.0` nor `SIP/2.0 code reason`.
    #[error("malformed SIP start line: {0:?}")]
    BadStartLine(String),
    /// A header line has no `name: value` shape.
    #[error("malformed SIP header line: {0:?}")]
    BadHeaderLine(String),
    /// More header lines than [`MAX_HEADERS`].
    #[error("SIP message has more than {MAX_HEADERS} header lines")]
    TooManyHeaders,
    /// A header every SIP message must carry is absent.
    #[error("SIP message lacks the mandatory {0} header")]
    MissingHeader(&'static str),
    /// A header's value does not follow its grammar.
    #[error("malformed {name} header: {value:?}")]
    BadHeaderValue {
        /// Canonical header name.
        name: &'static str,
        /// The offending value.
        value: String,
    },
    /// The body is shorter than `Content-Length` says.
    #[error("SIP body is {actual} bytes but Content-Length says {declared}")]
    BodyLength {
        /// Declared by Content-Length.
        declared: usize,
        /// Present in the input.
        actual: usize,
    },
}

/// A SIP request method; the ones this crate speaks are variants, others keep their name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// REGISTER
    Register,
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// PUBLISH (RFC 3903)
    Publish,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// MESSAGE
    Message,
    /// Any other token.
    Other(String),
}

impl Method {
    /// Reads a method token; `None` if it is not a SIP token.
    pub fn parse(s: &str) -> Option<Method> {
        if s.is_empty() || !s.bytes().all(is_token_byte) {
            return None;
        }
        Some(match s {
            "REGISTER" => Method::Register,
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "PUBLISH" => Method::Publish,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "MESSAGE" => Method::Message,
            other => Method::Other(other.to_string()),
        })
    }

    /// The method's name as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Register => "REGISTER",
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Publish => "PUBLISH",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Message => "MESSAGE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Full header names for the compact forms of RFC 3261 §7.3.3 and RFC 6665.
const COMPACT: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("u", "Allow-Events"),
];

/// Spelling used when we print a header we know (peers sometimes write them in other cases).
const CANONICAL: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Content-Length",
    "Content-Type",
    "Max-Forwards",
    "Event",
    "Expires",
    "Min-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subscription-State",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authorization",
    "Proxy-Authorization",
    "Record-Route",
    "Route",
    "Allow-Events",
    "Accept",
    "User-Agent",
    "Retry-After",
];

/// Maps a header name as received (any case, compact or full) to its canonical spelling.
pub fn canonical_name(name: &str) -> String {
    if let Some((_, full)) = COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)) {
        return (*full).to_string();
    }
    match CANONICAL.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        Some(c) => (*c).to_string(),
        None => name.to_string(),
    }
}

/// Header fields in order; lookups ignore case and accept compact forms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// Every value of `name`, in order, one per header line.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = canonical_name(name);
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// Appends a header line.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((canonical_name(name), value.into()));
    }

    /// Replaces every `name` line with one holding `value`.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.push(name, value);
    }

    /// Drops every `name` line.
    pub fn remove(&mut self, name: &str) {
        let name = canonical_name(name);
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
    }

    /// All header lines as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request-URI as written.
    pub uri: String,
    /// Header fields (Content-Length is recomputed when serialized).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=699.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields (Content-Length is recomputed when serialized).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// Either kind of SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// The parsed `CSeq` header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number.
    pub seq: u32,
    /// Method of the request it numbers.
    pub method: Method,
}

impl CSeq {
    /// Reads `"<number> <METHOD>"`.
    pub fn parse(value: &str) -> Result<CSeq, ParseError> {
        let bad = || ParseError::BadHeaderValue {
            name: "CSeq",
            value: value.to_string(),
        };
        let mut it = value.split_whitespace();
        let seq = it
            .next()
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(bad)?;
        let method = it.next().and_then(Method::parse).ok_or_else(bad)?;
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(CSeq { seq, method })
    }
}

macro_rules! common_accessors {
    () => {
        /// The `Call-ID` value.
        pub fn call_id(&self) -> Option<&str> {
            self.headers.get("Call-ID")
        }

        /// The parsed `CSeq` header.
        pub fn cseq(&self) -> Option<CSeq> {
            self.headers.get("CSeq").and_then(|v| CSeq::parse(v).ok())
        }

        /// The body as text (lossy for non-UTF-8 bytes).
        pub fn body_text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    };
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: impl Into<String>) -> Request {
        Request {
            method,
            uri: uri.into(),
            headers: Headers::default(),
            body: Vec::new(),
        }
    }

    common_accessors!();

    /// Serializes the request with a correct `Content-Length`.
    pub fn to_bytes(&self) -> Vec<u8> {
        serialize(
            &format!("{} {} SIP/2.0", self.method, self.uri),
            &self.headers,
            &self.body,
        )
    }
}

impl Response {
    common_accessors!();

    /// Builds the response to `req` with the headers RFC 3261 §8.2.6.2 copies (Via, From,
    /// To, Call-ID, CSeq); `to_tag` is added to To when it has none.
    pub fn to_request(req: &Request, status: u16, reason: &str, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::default();
        for v in req.headers.get_all("Via") {
            headers.push("Via", v);
        }
        for name in ["From", "To", "Call-ID", "CSeq"] {
            if let Some(v) = req.headers.get(name) {
                let mut v = v.to_string();
                if name == "To" {
                    if let Some(tag) = to_tag {
                        if !crate::header::NameAddr::parse(&v)
                            .map(|n| n.tag().is_some())
                            .unwrap_or(true)
                        {
                            v = format!("{v};tag={tag}");
                        }
                    }
                }
                headers.push(name, v);
            }
        }
        Response {
            status,
            reason: reason.to_string(),
            headers,
            body: Vec::new(),
        }
    }

    /// Serializes the response with a correct `Content-Length`.
    pub fn to_bytes(&self) -> Vec<u8> {
        serialize(
            &format!("SIP/2.0 {} {}", self.status, self.reason),
            &self.headers,
            &self.body,
        )
    }
}

fn serialize(start: &str, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut out = String::with_capacity(256 + body.len());
    out.push_str(start);
    out.push_str("\r\n");
    for (n, v) in headers.iter() {
        if n.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.push_str(n);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl Message {
    /// Parses one complete message (a UDP datagram). Bytes after the body that
    /// `Content-Length` does not cover are ignored, as RFC 3261 §18.3 asks for datagrams.
    pub fn parse(input: &[u8]) -> Result<Message, ParseError> {
        parse_datagram(input)
    }

    /// Parses a message from the front of a stream buffer (TCP): `Ok(None)` while more bytes
    /// are needed, else the message and how many bytes it used. Stream messages must carry
    /// `Content-Length`.
    pub fn parse_stream(input: &[u8]) -> Result<Option<(Message, usize)>, ParseError> {
        // keep-alive CRLFs (RFC 5626) between messages
        let skip = input
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        let input = &input[skip..];
        match find_header_end(input) {
            None if input.len() > MAX_MESSAGE_BYTES => Err(ParseError::TooLarge {
                len: input.len(),
                max: MAX_MESSAGE_BYTES,
            }),
            None => Ok(None),
            Some(_) => {
                let head = parse_head(input)?;
                let Some(len) = head.content_length else {
                    return Err(ParseError::MissingHeader("Content-Length"));
                };
                let total = head.body_start + len;
                if total > MAX_MESSAGE_BYTES {
                    return Err(ParseError::TooLarge {
                        len: total,
                        max: MAX_MESSAGE_BYTES,
                    });
                }
                if input.len() < total {
                    return Ok(None);
                }
                let body = input[head.body_start..total].to_vec();
                Ok(Some((head.into_message(body), skip + total)))
            }
        }
    }

    /// The message's headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }
}

/// Datagram framing: the body runs to Content-Length, or to the end without one.
fn parse_datagram(input: &[u8]) -> Result<Message, ParseError> {
    if input.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError::TooLarge {
            len: input.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let head = parse_head(input)?;
    let available = input.len() - head.body_start;
    let len = match head.content_length {
        Some(declared) if declared > available => {
            return Err(ParseError::BodyLength {
                declared,
                actual: available,
            })
        }
        Some(declared) => declared,
        None => available,
    };
    let end = head.body_start + len;
    let body = input[head.body_start..end].to_vec();
    Ok(head.into_message(body))
}

fn find_header_end(input: &[u8]) -> Option<usize> {
    input.windows(4).position(|w| w == b"\r\n\r\n")
}

struct Head {
    start: StartLine,
    headers: Headers,
    content_length: Option<usize>,
    body_start: usize,
}

enum StartLine {
    Request(Method, String),
    Response(u16, String),
}

impl Head {
    fn into_message(self, body: Vec<u8>) -> Message {
        match self.start {
            StartLine::Request(method, uri) => Message::Request(Request {
                method,
                uri,
                headers: self.headers,
                body,
            }),
            StartLine::Response(status, reason) => Message::Response(Response {
                status,
                reason,
                headers: self.headers,
                body,
            }),
        }
    }
}

fn parse_head(input: &[u8]) -> Result<Head, ParseError> {
    let end = find_header_end(input).ok_or(ParseError::MissingHeaderEnd)?;
    let text = std::str::from_utf8(&input[..end]).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let start = parse_start_line(first)?;

    // unfold continuation lines (RFC 3261 §7.3.1)
    let mut raw: Vec<String> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            match raw.last_mut() {
                Some(prev) => {
                    prev.push(' ');
                    prev.push_str(line.trim());
                }
                None => return Err(ParseError::BadHeaderLine(line.to_string())),
            }
        } else {
            if raw.len() >= MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            raw.push(line.to_string());
        }
    }
    let mut headers = Headers::default();
    for line in raw {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ParseError::BadHeaderLine(line.clone()))?;
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(ParseError::BadHeaderLine(line.clone()));
        }
        headers.push(name, value.trim());
    }
    for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
        let Some(v) = headers.get(required) else {
            return Err(ParseError::MissingHeader(match required {
                "Via" => "Via",
                "From" => "From",
                "To" => "To",
                "Call-ID" => "Call-ID",
                _ => "CSeq",
            }));
        };
        if required == "CSeq" {
            CSeq::parse(v)?;
        }
    }
    let content_length = match headers.get("Content-Length") {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| ParseError::BadHeaderValue {
            name: "Content-Length",
            value: v.to_string(),
        })?),
    };
    Ok(Head {
        start,
        headers,
        content_length,
        body_start: end + 4,
    })
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let bad = || ParseError::BadStartLine(line.chars().take(200).collect());
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&status) || code.len() != 3 {
            return Err(bad());
        }
        return Ok(StartLine::Response(status, reason.to_string()));
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if version != "SIP/2.0" || uri.is_empty() {
        return Err(bad());
    }
    let method = Method::parse(method).ok_or_else(bad)?;
    Ok(StartLine::Request(method, uri.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTIFY: &str = "NOTIFY sip:watcher@127.0.0.1:40000 SIP/2.0\r\n\
        v: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n\
        Via: SIP/2.0/TCP 10.0.0.2:5061;branch=z9hG4bKz\r\n\
        f: <sip:alice@127.0.0.1>;tag=srv\r\n\
        t: <sip:watcher@127.0.0.1>;tag=abc\r\n\
        i: call-1@pbx365\r\n\
        cseq: 7 NOTIFY\r\n\
        o: presence\r\n\
        Subscription-State: active;expires=600\r\n\
        X-Folded: first\r\n  second\r\n\
        c: application/pidf+xml\r\n\
        l: 5\r\n\r\nhelloTRAILING";

    #[test]
    fn parses_compact_forms_multiple_via_and_tags() {
        let Message::Request(req) = Message::parse(NOTIFY.as_bytes()).expect("parse") else {
            panic!("not a request")
        };
        assert_eq!(req.method, Method::Notify);
        assert_eq!(req.uri, "sip:watcher@127.0.0.1:40000");
        assert_eq!(req.call_id(), Some("call-1@pbx365"));
        assert_eq!(
            req.cseq(),
            Some(CSeq {
                seq: 7,
                method: Method::Notify
            })
        );
        assert_eq!(req.headers.get("EVENT"), Some("presence"));
        assert_eq!(
            req.headers.get("content-type"),
            Some("application/pidf+xml")
        );
        assert_eq!(req.headers.get("X-Folded"), Some("first second"));
        assert_eq!(req.headers.get_all("via").count(), 2);
        let via = crate::header::top_via(&req.headers).expect("via");
        assert_eq!(
            (
                via.transport.as_str(),
                via.host.as_str(),
                via.port,
                via.branch()
            ),
            ("UDP", "127.0.0.1", Some(5090), Some("z9hG4bK1"))
        );
        let to = crate::header::NameAddr::parse(req.headers.get("To").expect("to")).expect("to");
        assert_eq!(to.tag(), Some("abc"));
        // Content-Length bounds the body; the rest of the datagram is ignored
        assert_eq!(req.body, b"hello");
    }

    #[test]
    fn serializes_and_reparses() {
        let Message::Request(req) = Message::parse(NOTIFY.as_bytes()).expect("parse") else {
            panic!("not a request")
        };
        let bytes = req.to_bytes();
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(text.starts_with("NOTIFY sip:watcher@127.0.0.1:40000 SIP/2.0\r\nVia: "));
        assert!(text.ends_with("Content-Length: 5\r\n\r\nhello"), "{text}");
        assert_eq!(Message::parse(&bytes), Ok(Message::Request(req)));
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_tag() {
        let Message::Request(req) = Message::parse(NOTIFY.as_bytes()).expect("parse") else {
            panic!("not a request")
        };
        let resp = Response::to_request(&req, 200, "OK", Some("new"));
        let text = String::from_utf8(resp.to_bytes()).expect("utf8");
        assert_eq!(
            text,
            "SIP/2.0 200 OK\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n\
             Via: SIP/2.0/TCP 10.0.0.2:5061;branch=z9hG4bKz\r\n\
             From: <sip:alice@127.0.0.1>;tag=srv\r\n\
             To: <sip:watcher@127.0.0.1>;tag=abc\r\n\
             Call-ID: call-1@pbx365\r\n\
             CSeq: 7 NOTIFY\r\n\
             Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn parses_response() {
        let raw = "SIP/2.0 412 Conditional request failed\r\nVia: SIP/2.0/UDP 127.0.0.1:4000;branch=z9hG4bKx\r\n\
                   From: <sip:bridge@h>;tag=1\r\nTo: <sip:alice@h>;tag=2\r\nCall-ID: c\r\nCSeq: 2 PUBLISH\r\n\
                   Content-Length: 0\r\n\r\n";
        let Message::Response(r) = Message::parse(raw.as_bytes()).expect("parse") else {
            panic!("not a response")
        };
        assert_eq!(
            (r.status, r.reason.as_str()),
            (412, "Conditional request failed")
        );
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let ok_head = "Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n";
        let cases: Vec<(String, ParseError)> = vec![
            ("".into(), ParseError::MissingHeaderEnd),
            (
                "OPTIONS sip:h SIP/2.0\r\n".into(),
                ParseError::MissingHeaderEnd,
            ),
            (
                format!("OPTIONS sip:h SIP/3.0\r\n{ok_head}\r\n"),
                ParseError::BadStartLine("OPTIONS sip:h SIP/3.0".into()),
            ),
            (
                format!("SIP/2.0 99 Low\r\n{ok_head}\r\n"),
                ParseError::BadStartLine("SIP/2.0 99 Low".into()),
            ),
            (
                format!("OPT(ONS sip:h SIP/2.0\r\n{ok_head}\r\n"),
                ParseError::BadStartLine("OPT(ONS sip:h SIP/2.0".into()),
            ),
            (
                format!("OPTIONS sip:h SIP/2.0\r\n{ok_head}NoColon\r\n\r\n"),
                ParseError::BadHeaderLine("NoColon".into()),
            ),
            (
                format!("OPTIONS sip:h SIP/2.0\r\n {ok_head}\r\n"),
                ParseError::BadHeaderLine(" Via: SIP/2.0/UDP h;branch=z9hG4bKx".into()),
            ),
            (
                "OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n".into(),
                ParseError::MissingHeader("From"),
            ),
            (
                format!(
                    "OPTIONS sip:h SIP/2.0\r\n{}\r\n",
                    ok_head.replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS")
                ),
                ParseError::BadHeaderValue {
                    name: "CSeq",
                    value: "x OPTIONS".into(),
                },
            ),
            (
                format!("OPTIONS sip:h SIP/2.0\r\n{ok_head}Content-Length: -1\r\n\r\n"),
                ParseError::BadHeaderValue {
                    name: "Content-Length",
                    value: "-1".into(),
                },
            ),
            (
                format!("OPTIONS sip:h SIP/2.0\r\n{ok_head}Content-Length: 10\r\n\r\nabc"),
                ParseError::BodyLength {
                    declared: 10,
                    actual: 3,
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Message::parse(input.as_bytes()),
                Err(expected),
                "input: {input:?}"
            );
        }
        let huge = vec![b'a'; MAX_MESSAGE_BYTES + 1];
        assert_eq!(
            Message::parse(&huge),
            Err(ParseError::TooLarge {
                len: MAX_MESSAGE_BYTES + 1,
                max: MAX_MESSAGE_BYTES
            })
        );
        let many = format!(
            "OPTIONS sip:h SIP/2.0\r\n{ok_head}{}\r\n",
            "X: y\r\n".repeat(MAX_HEADERS)
        );
        assert_eq!(
            Message::parse(many.as_bytes()),
            Err(ParseError::TooManyHeaders)
        );
        let bad_utf8 = b"OPTIONS sip:h SIP/2.0\r\nX: \xff\r\n\r\n".to_vec();
        assert_eq!(Message::parse(&bad_utf8), Err(ParseError::NotUtf8));
    }

    #[test]
    fn no_panic_on_any_prefix_or_byte_flip() {
        // poor man's fuzzing: every truncation and many single-byte corruptions
        let input = NOTIFY.as_bytes();
        for end in 0..input.len() {
            let _ = Message::parse(&input[..end]);
            let _ = Message::parse_stream(&input[..end]);
        }
        for i in 0..input.len() {
            for b in [0u8, b'\r', b'\n', b':', b';', b'<', b'"', 0xff] {
                let mut v = input.to_vec();
                v[i] = b;
                if let Ok(m) = Message::parse(&v) {
                    let _ = crate::header::top_via(m.headers());
                    for (_, value) in m.headers().iter() {
                        let _ = crate::header::NameAddr::parse(value);
                        let _ = crate::header::SipUri::parse(value);
                        let _ = crate::header::SubscriptionState::parse(value);
                        let _ = crate::digest::Challenge::parse(value);
                    }
                }
            }
        }
    }

    #[test]
    fn stream_framing() {
        let one = "OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\nFrom: <sip:a@h>;tag=1\r\n\
                   To: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 2\r\n\r\nab";
        let two = format!("\r\n\r\n{one}{one}");
        let (m, used) = Message::parse_stream(two.as_bytes())
            .expect("ok")
            .expect("complete");
        assert_eq!(used, 4 + one.len());
        assert!(matches!(m, Message::Request(ref r) if r.body == b"ab"));
        assert_eq!(
            Message::parse_stream(&one.as_bytes()[..one.len() - 1]),
            Ok(None)
        );
        let no_len = one.replace("Content-Length: 2\r\n", "");
        assert_eq!(
            Message::parse_stream(no_len.as_bytes()),
            Err(ParseError::MissingHeader("Content-Length"))
        );
    }
}
