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
