//! The virtual list view control (draft-ietf-ldapext-ldapv3-vlv-09): a client scrolling a
//! sorted result asks for a window — `before` entries, the target, `after` entries — around
//! a target given by position (`byOffset`) or by value (`greaterThanOrEqual`). ldap3_proto
//! hands the control over undecoded, so its BER value is read and written here.
//!
//! pbx365 keeps no state between VLV requests: each one runs the search, sorts it and cuts
//! the window out, so the response carries no contextID and a client's contextID is ignored.

use ldap3_proto::control::LdapControl;

/// OID of the VLV request control.
pub(crate) const OID_REQUEST: &str = "2.16.840.1.113730.3.4.9";
/// OID of the VLV response control.
pub(crate) const OID_RESPONSE: &str = "2.16.840.1.113730.3.4.10";

/// Where the window is anchored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A 1-based position, scaled from the client's idea of the list size (`content_count`;
    /// 0 when it has none).
    ByOffset { offset: u64, content_count: u64 },
    /// The first entry whose sort key is at or after this value in the sort order.
    GreaterOrEqual(Vec<u8>),
}

/// A decoded VLV request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// Entries wanted before the target.
    pub before: u64,
    /// Entries wanted after the target.
    pub after: u64,
    /// The target.
    pub target: Target,
}

/// The `virtualListViewResult` codes pbx365 answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success = 0,
    ProtocolError = 2,
    AdminLimitExceeded = 11,
    InappropriateMatching = 18,
    UnwillingToPerform = 53,
    SortControlMissing = 60,
    OffsetRangeError = 61,
}

/// The window of a sorted list of `len` entries a request selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    /// 0-based index of the first entry returned.
    pub start: usize,
    /// 0-based index after the last entry returned.
    pub end: usize,
    /// The target's 1-based position (`len + 1` when a value target lies after every entry,
    /// 0 for an empty list).
    pub target_position: u64,
}

/// Reads the control's value: `SEQUENCE { beforeCount INTEGER, afterCount INTEGER,
/// CHOICE { byOffset [0] SEQUENCE { offset INTEGER, contentCount INTEGER },
/// greaterThanOrEqual [1] OCTET STRING }, contextID OCTET STRING OPTIONAL }`.
pub(crate) fn parse(value: &[u8]) -> Result<Request, &'static str> {
    let (tag, body, rest) = tlv(value)?;
    if tag != 0x30 || !rest.is_empty() {
        return Err("the VLV request is not one SEQUENCE");
    }
    let (before, body) = integer(body)?;
    let (after, body) = integer(body)?;
    let (tag, inner, rest) = tlv(body)?;
    let target = match tag {
        0xa0 => {
            let (offset, inner) = integer(inner)?;
            let (content_count, inner) = integer(inner)?;
            if !inner.is_empty() {
                return Err("trailing data in byOffset");
            }
            Target::ByOffset {
                offset,
                content_count,
            }
        }
        0x81 => Target::GreaterOrEqual(inner.to_vec()),
        _ => return Err("the VLV target is neither byOffset nor greaterThanOrEqual"),
    };
    // An optional contextID may follow; nothing else.
    if !rest.is_empty() {
        let (tag, _, rest) = tlv(rest)?;
        if tag != 0x04 || !rest.is_empty() {
            return Err("trailing data after the VLV target");
        }
    }
    Ok(Request {
        before,
        after,
        target,
    })
}

/// One BER element: (tag, contents, what follows). Single-byte tags, definite lengths only.
fn tlv(data: &[u8]) -> Result<(u8, &[u8], &[u8]), &'static str> {
    let (&tag, data) = data.split_first().ok_or("truncated VLV request")?;
    let (&first, mut data) = data.split_first().ok_or("truncated VLV request")?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || data.len() < n {
            return Err("bad BER length in VLV request");
        }
        let mut len = 0usize;
        for &b in &data[..n] {
            len = (len << 8) | usize::from(b);
        }
        data = &data[n..];
        len
    };
    if data.len() < len {
        return Err("truncated VLV request");
    }
    Ok((tag, &data[..len], &data[len..]))
}

/// A non-negative INTEGER of at most 8 bytes, and what follows it.
fn integer(data: &[u8]) -> Result<(u64, &[u8]), &'static str> {
    let (tag, body, rest) = tlv(data)?;
    if tag != 0x02 || body.is_empty() || body.len() > 9 {
        return Err("expected an INTEGER in the VLV request");
    }
    if body[0] & 0x80 != 0 {
        return Err("negative count in the VLV request");
    }
    let body = if body.len() == 9 {
        if body[0] != 0 {
            return Err("count too large in the VLV request");
        }
        &body[1..]
    } else {
        body
    };
    Ok((
        body.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)),
        rest,
    ))
}

/// The window for `req` over a sorted list of `len` entries; `first_at_or_after` finds the
/// index of the first entry at or after a value target (`len` when none is). An offset of 0,
/// or one beyond the client's own content count, is an offsetRangeError; with a content count
/// of 0 the offset is taken as it stands, and one past the list's end means the last entry.
pub(crate) fn window(
    req: &Request,
    len: usize,
    first_at_or_after: impl FnOnce(&[u8]) -> usize,
) -> Result<Window, Outcome> {
    let n = len as u64;
    let position = match &req.target {
        Target::ByOffset {
            offset,
            content_count,
        } => {
            if *offset == 0 || (*content_count > 0 && offset > content_count) {
                return Err(Outcome::OffsetRangeError);
            }
            if n == 0 {
                0
            } else if *content_count == 0 || *content_count == n {
                (*offset).min(n)
            } else if *content_count == 1 {
                1
            } else {
                // Linear: 1 is the first entry, content_count the last.
                let scaled =
                    (u128::from(*offset - 1) * u128::from(n - 1)) / u128::from(content_count - 1);
                (scaled as u64 + 1).min(n)
            }
        }
        Target::GreaterOrEqual(v) => first_at_or_after(v) as u64 + 1,
    };
    if position == 0 {
        return Ok(Window {
            start: 0,
            end: 0,
            target_position: 0,
        });
    }
    let index = position - 1;
    let start = index.saturating_sub(req.before);
    let end = index.saturating_add(req.after).saturating_add(1).min(n);
    Ok(Window {
        start: start.min(n) as usize,
        end: end as usize,
        target_position: position,
    })
}

/// The response control: `SEQUENCE { targetPosition INTEGER, contentCount INTEGER,
/// virtualListViewResult ENUMERATED }` (no contextID).
pub(crate) fn response(target_position: u64, content_count: u64, outcome: Outcome) -> LdapControl {
    let mut body = Vec::with_capacity(24);
    put_integer(&mut body, 0x02, target_position);
    put_integer(&mut body, 0x02, content_count);
    put_integer(&mut body, 0x0a, outcome as u64);
    let mut value = vec![0x30, body.len() as u8];
    value.extend(body);
    LdapControl::Unknown {
        oid: OID_RESPONSE.to_owned(),
        criticality: false,
        value: Some(value),
    }
}

fn put_integer(out: &mut Vec<u8>, tag: u8, n: u64) {
    let bytes = n.to_be_bytes();
    let mut i = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    // A leading 1 bit would make it negative: keep one zero byte in front.
    if bytes[i] & 0x80 != 0 {
        i -= 1;
    }
    out.push(tag);
    out.push((8 - i) as u8);
    out.extend_from_slice(&bytes[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_offset(before: u8, after: u8, offset: u8, count: u8) -> Vec<u8> {
        vec![
            0x30, 0x0e, 0x02, 0x01, before, 0x02, 0x01, after, 0xa0, 0x06, 0x02, 0x01, offset,
            0x02, 0x01, count,
        ]
    }

    #[test]
    fn requests_parse() {
        assert_eq!(
            parse(&by_offset(1, 2, 3, 4)).unwrap(),
            Request {
                before: 1,
                after: 2,
                target: Target::ByOffset {
                    offset: 3,
                    content_count: 4
                }
            }
        );
        let ge = [
            0x30, 0x0d, 0x02, 0x01, 0x00, 0x02, 0x01, 0x05, 0x81, 0x01, b'm', 0x04, 0x02, 1, 2,
        ];
        assert_eq!(
            parse(&ge).unwrap().target,
            Target::GreaterOrEqual(b"m".to_vec())
        );
        assert!(parse(&[]).is_err());
        assert!(parse(&[0x30, 0x05, 0x02, 0x01]).is_err());
        assert!(parse(&[0x30, 0x06, 0x02, 0x01, 0xff, 0x02, 0x01, 0x00]).is_err());
        let mut bad_target = by_offset(0, 0, 1, 1);
        bad_target[8] = 0xa2;
        assert!(parse(&bad_target).is_err());
    }

    #[test]
    fn windows() {
        let req = |before, after, target| Request {
            before,
            after,
            target,
        };
        let off = |offset, content_count| Target::ByOffset {
            offset,
            content_count,
        };
        let w =
            |r: &Request, len| window(r, len, |_| 3).map(|w| (w.start, w.end, w.target_position));
        assert_eq!(w(&req(1, 2, off(5, 0)), 10), Ok((3, 7, 5)));
        assert_eq!(w(&req(9, 9, off(1, 0)), 10), Ok((0, 10, 1)));
        assert_eq!(
            w(&req(1, 1, off(50, 0)), 10),
            Ok((8, 10, 10)),
            "clamped to the last"
        );
        assert_eq!(
            w(&req(0, 0, off(20, 20)), 10),
            Ok((9, 10, 10)),
            "scaled: last is last"
        );
        assert_eq!(w(&req(0, 0, off(1, 20)), 10), Ok((0, 1, 1)));
        assert_eq!(w(&req(0, 0, off(0, 0)), 10), Err(Outcome::OffsetRangeError));
        assert_eq!(
            w(&req(0, 0, off(21, 20)), 10),
            Err(Outcome::OffsetRangeError)
        );
        assert_eq!(w(&req(2, 2, off(1, 0)), 0), Ok((0, 0, 0)));
        // A value target: index 3 is position 4; beyond the end is len + 1.
        assert_eq!(
            w(&req(1, 1, Target::GreaterOrEqual(vec![])), 10),
            Ok((2, 5, 4))
        );
        assert_eq!(
            window(&req(2, 2, Target::GreaterOrEqual(vec![])), 10, |_| 10).map(|w| (
                w.start,
                w.end,
                w.target_position
            )),
            Ok((8, 10, 11))
        );
    }

    #[test]
    fn response_encodes() {
        let LdapControl::Unknown { value, .. } = response(300, 5, Outcome::OffsetRangeError) else {
            panic!("unknown control expected");
        };
        assert_eq!(
            value.unwrap(),
            [0x30, 0x0a, 0x02, 0x02, 0x01, 0x2c, 0x02, 0x01, 0x05, 0x0a, 0x01, 61]
        );
        let LdapControl::Unknown { value, .. } = response(128, 0, Outcome::Success) else {
            panic!("unknown control expected");
        };
        assert_eq!(
            value.unwrap(),
            [0x30, 0x0a, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x00, 0x0a, 0x01, 0x00]
        );
    }
}
