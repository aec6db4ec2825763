//! One input through every parser pbx365-sip applies to network bytes. Shared by the
//! in-suite mutation test and the cargo-fuzz target so both exercise the same surface.

use sip::dialog_info::DialogInfo;
use sip::header::{split_list, top_via, NameAddr, Params, SipUri, SubscriptionState, Via};
use sip::message::{CSeq, Message};
use sip::Presence;

/// Parses `data` as a datagram, as a stream buffer, and (as text) as each header value
/// and body document; results are used so nothing is optimised away. Panics only if a
/// parser does.
pub fn parse_all(data: &[u8]) -> usize {
    let mut seen = 0usize;
    if let Ok(message) = Message::parse(data) {
        seen += walk(&message);
    }
    // stream framing, including several messages in one buffer
    let mut rest = data;
    for _ in 0..8 {
        match Message::parse_stream(rest) {
            Ok(Some((message, used))) if used > 0 && used <= rest.len() => {
                seen += walk(&message);
                rest = &rest[used..];
            }
            Ok(Some((_, used))) => panic!("parse_stream used {used} of {} bytes", rest.len()),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(data);
    seen += headers_of(&text);
    if let Ok(p) = Presence::parse(&text) {
        seen += p.pbx_state() as usize;
    }
    if let Ok(d) = DialogInfo::parse(&text) {
        seen += d.pbx_state() as usize;
    }
    seen
}

fn walk(message: &Message) -> usize {
    let headers = message.headers();
    let mut seen = 0;
    for (name, value) in headers.iter() {
        seen += name.len() + headers_of(value);
    }
    seen += top_via(headers).map_or(0, |v| v.branch().map_or(1, str::len));
    let body = match message {
        Message::Request(r) => {
            seen += SipUri::parse(&r.uri).map_or(0, |u| usize::from(u.socket_addr(5060).is_some()));
            seen += r.cseq().map_or(0, |c| c.seq as usize);
            &r.body
        }
        Message::Response(r) => &r.body,
    };
    let body = String::from_utf8_lossy(body);
    if let Ok(p) = Presence::parse(&body) {
        seen += p.pbx_state() as usize;
    }
    if let Ok(d) = DialogInfo::parse(&body) {
        seen += d.pbx_state() as usize;
    }
    seen
}

/// Every header-value parser over one string.
fn headers_of(value: &str) -> usize {
    let mut seen = split_list(value).len();
    seen += Params::parse(value).has("tag") as usize;
    seen += NameAddr::parse(value).map_or(0, |n| n.tag().map_or(1, str::len));
    seen += Via::parse(value).map_or(0, |v| v.branch().map_or(1, str::len));
    seen += SipUri::parse(value).map_or(0, |u| usize::from(u.socket_addr(5060).is_some()));
    seen += SubscriptionState::parse(value).map_or(0, |_| 1);
    seen += CSeq::parse(value).map_or(0, |c| c.seq as usize);
    seen
}
