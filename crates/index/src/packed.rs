//! An entry packed into one string: what the index keeps for each record and merged entry
//! instead of a [`directory::Entry`] (some twenty allocations and ~300 bytes of fields each).
//! The matching code reads it through [`EntryRef`] without allocating; a full `Entry` is made
//! only for the entries a query returns.
//!
//! Layout, every field in order: a string is its byte length then its bytes; an optional string
//! is 0 for none, or its length + 1 then its bytes; a list is its length then its items.
//! Lengths are written six bits a byte, low bits first, `0x40` marking "more follows": every
//! byte of a length is ASCII, so the whole is valid UTF-8 and every field a `&str` slice of it.
//!
//! ```text
//! id  personal_owner?  display_name  given_name?  surname?  company?  department?  title?
//! extension?  [email]  [kind raw e164? dial display]  [source]
//! ```
//!
//! A number's kind is one byte (`b`, `m`, `h`, `f`, `o`); a source is a tag byte then its
//! strings: `u` user id, `p` owner then contact id, `c` / `d` contact id (company phonebook,
//! directory). The site is not stored: every entry of an index is of its site.

use directory::{Entry, EntryNumber, EntrySource, PhoneKind, PhonebookKind, SiteId, E164};

/// One entry, packed (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packed(Box<str>);

/// Appends a length (six bits a byte, ASCII only).
fn put_len(out: &mut String, mut n: usize) {
    while n >= 0x40 {
        out.push(char::from(0x40 | (n & 0x3F) as u8));
        n >>= 6;
    }
    out.push(char::from(n as u8));
}

fn put_str(out: &mut String, s: &str) {
    put_len(out, s.len());
    out.push_str(s);
}

fn put_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => {
            put_len(out, s.len() + 1);
            out.push_str(s);
        }
        None => put_len(out, 0),
    }
}

fn kind_byte(kind: PhoneKind) -> char {
    match kind {
        PhoneKind::Business => 'b',
        PhoneKind::Mobile => 'm',
        PhoneKind::Home => 'h',
        PhoneKind::Fax => 'f',
        PhoneKind::Other => 'o',
    }
}

fn kind_of(byte: u8) -> PhoneKind {
    match byte {
        b'b' => PhoneKind::Business,
        b'm' => PhoneKind::Mobile,
        b'h' => PhoneKind::Home,
        b'f' => PhoneKind::Fax,
        _ => PhoneKind::Other,
    }
}

impl Packed {
    /// Packs an entry (its site left out).
    pub(crate) fn new(e: &Entry) -> Self {
        let mut out = String::with_capacity(256);
        put_str(&mut out, &e.id);
        put_opt(&mut out, e.personal_owner.as_deref());
        put_str(&mut out, &e.display_name);
        for f in [
            &e.given_name,
            &e.surname,
            &e.company,
            &e.department,
            &e.title,
            &e.extension,
        ] {
            put_opt(&mut out, f.as_deref());
        }
        put_len(&mut out, e.emails.len());
        for m in &e.emails {
            put_str(&mut out, m);
        }
        put_len(&mut out, e.numbers.len());
        for n in &e.numbers {
            out.push(kind_byte(n.kind));
            put_str(&mut out, &n.raw);
            put_opt(&mut out, n.e164.as_ref().map(E164::as_str));
            put_str(&mut out, &n.dial);
            put_str(&mut out, &n.display);
        }
        put_len(&mut out, e.sources.len());
        for s in &e.sources {
            match s {
                EntrySource::User { user_id } => {
                    out.push('u');
                    put_str(&mut out, user_id);
                }
                EntrySource::Contact {
                    phonebook,
                    source_id,
                } => {
                    match phonebook {
                        PhonebookKind::Personal { owner_user_id } => {
                            out.push('p');
                            put_str(&mut out, owner_user_id);
                        }
                        PhonebookKind::Company => out.push('c'),
                        PhonebookKind::Directory => out.push('d'),
                    }
                    put_str(&mut out, source_id);
                }
            }
        }
        Self(out.into_boxed_str())
    }

    /// The entry's id (read without the other fields).
    pub(crate) fn id(&self) -> &str {
        Reader::new(&self.0).str()
    }

    /// The entry's fields, for reading.
    pub(crate) fn view(&self) -> EntryRef<'_> {
        let mut r = Reader::new(&self.0);
        let id = r.str();
        let personal_owner = r.opt();
        let display_name = r.str();
        let given_name = r.opt();
        let surname = r.opt();
        let company = r.opt();
        let department = r.opt();
        let title = r.opt();
        let extension = r.opt();
        let emails_at = r.pos;
        EntryRef {
            id,
            personal_owner,
            display_name,
            given_name,
            surname,
            company,
            department,
            title,
            extension,
            all: &self.0,
            emails_at,
        }
    }
}

/// Reads a packed entry front to back.
struct Reader<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.s.as_bytes()[self.pos];
        self.pos += 1;
        b
    }

    fn len(&mut self) -> usize {
        let mut n = 0usize;
        let mut shift = 0;
        loop {
            let b = self.byte();
            n |= usize::from(b & 0x3F) << shift;
            if b & 0x40 == 0 {
                return n;
            }
            shift += 6;
        }
    }

    fn take(&mut self, len: usize) -> &'a str {
        let s = &self.s[self.pos..self.pos + len];
        self.pos += len;
        s
    }

    fn str(&mut self) -> &'a str {
        let len = self.len();
        self.take(len)
    }

    fn opt(&mut self) -> Option<&'a str> {
        match self.len() {
            0 => None,
            n => Some(self.take(n - 1)),
        }
    }

    fn skip_emails(&mut self) {
        for _ in 0..self.len() {
            let n = self.len();
            self.pos += n;
        }
    }

    fn number(&mut self) -> NumberRef<'a> {
        NumberRef {
            kind: kind_of(self.byte()),
            raw: self.str(),
            e164: self.opt(),
            dial: self.str(),
            display: self.str(),
        }
    }
}

/// A packed entry's fields, borrowed; the lists are read on demand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryRef<'a> {
    pub(crate) id: &'a str,
    pub(crate) personal_owner: Option<&'a str>,
    pub(crate) display_name: &'a str,
    pub(crate) given_name: Option<&'a str>,
    pub(crate) surname: Option<&'a str>,
    pub(crate) company: Option<&'a str>,
    pub(crate) department: Option<&'a str>,
    pub(crate) title: Option<&'a str>,
    pub(crate) extension: Option<&'a str>,
    all: &'a str,
    emails_at: usize,
}

/// One number of a packed entry, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumberRef<'a> {
    pub(crate) kind: PhoneKind,
    pub(crate) raw: &'a str,
    /// The E.164 form with its `+`.
    pub(crate) e164: Option<&'a str>,
    pub(crate) dial: &'a str,
    pub(crate) display: &'a str,
}

impl NumberRef<'_> {
    /// The number as a front end gets it.
    pub(crate) fn to_number(self) -> EntryNumber {
        EntryNumber {
            kind: self.kind,
            raw: self.raw.to_owned(),
            // Packed from an `E164`: valid.
            e164: self.e164.and_then(|e| E164::new(e).ok()),
            dial: self.dial.to_owned(),
            display: self.display.to_owned(),
        }
    }
}

impl<'a> EntryRef<'a> {
    fn reader(&self) -> Reader<'a> {
        Reader {
            s: self.all,
            pos: self.emails_at,
        }
    }

    /// The e-mail addresses, in order.
    pub(crate) fn emails(&self) -> impl Iterator<Item = &'a str> {
        let mut r = self.reader();
        let n = r.len();
        (0..n).map(move |_| r.str())
    }

    /// The numbers, in order.
    pub(crate) fn numbers(&self) -> impl Iterator<Item = NumberRef<'a>> {
        let mut r = self.reader();
        r.skip_emails();
        let n = r.len();
        (0..n).map(move |_| r.number())
    }

    /// The sources, in order.
    pub(crate) fn sources(&self) -> Vec<EntrySource> {
        let mut r = self.reader();
        r.skip_emails();
        for _ in 0..r.len() {
            r.number();
        }
        let n = r.len();
        (0..n)
            .map(|_| match r.byte() {
                b'u' => EntrySource::User {
                    user_id: r.str().to_owned(),
                },
                tag => {
                    let phonebook = match tag {
                        b'p' => PhonebookKind::Personal {
                            owner_user_id: r.str().to_owned(),
                        },
                        b'c' => PhonebookKind::Company,
                        _ => PhonebookKind::Directory,
                    };
                    EntrySource::Contact {
                        phonebook,
                        source_id: r.str().to_owned(),
                    }
                }
            })
            .collect()
    }

    /// The entry as a front end gets it.
    pub(crate) fn to_entry(self, site: &SiteId) -> Entry {
        let own = |s: Option<&str>| s.map(str::to_owned);
        Entry {
            id: self.id.to_owned(),
            site: site.clone(),
            sources: self.sources(),
            personal_owner: own(self.personal_owner),
            display_name: self.display_name.to_owned(),
            given_name: own(self.given_name),
            surname: own(self.surname),
            company: own(self.company),
            department: own(self.department),
            title: own(self.title),
            emails: self.emails().map(str::to_owned).collect(),
            extension: own(self.extension),
            numbers: self.numbers().map(NumberRef::to_number).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            id: "c:bench-0000001".into(),
            site: SiteId::new("s1").expect("a valid site id"),
            sources: vec![
                EntrySource::User {
                    user_id: "u-1".into(),
                },
                EntrySource::Contact {
                    phonebook: PhonebookKind::Personal {
                        owner_user_id: "owner".into(),
                    },
                    source_id: "p-1".into(),
                },
                EntrySource::Contact {
                    phonebook: PhonebookKind::Company,
                    source_id: "c-1".into(),
                },
                EntrySource::Contact {
                    phonebook: PhonebookKind::Directory,
                    source_id: "d-1".into(),
                },
            ],
            personal_owner: Some("owner".into()),
            // Longer than one length byte holds, and not ASCII.
            display_name: "Jürgen Müller-Lüdenscheidt ".repeat(5),
            given_name: Some("Jürgen".into()),
            surname: None,
            company: Some(String::new()),
            department: Some("Vertrieb".into()),
            title: None,
            emails: vec!["a@example.com".into(), "b@example.com".into()],
            extension: Some("101".into()),
            numbers: vec![
                EntryNumber {
                    kind: PhoneKind::Mobile,
                    raw: "0151 1234567".into(),
                    e164: Some(E164::new("+491511234567").expect("valid")),
                    dial: "01511234567".into(),
                    display: "0151 1234567".into(),
                },
                EntryNumber {
                    kind: PhoneKind::Fax,
                    raw: "call me".into(),
                    e164: None,
                    dial: String::new(),
                    display: String::new(),
                },
            ],
        }
    }

    #[test]
    fn an_entry_comes_back_whole() {
        let e = entry();
        let p = Packed::new(&e);
        assert_eq!(p.id(), "c:bench-0000001");
        assert_eq!(p.view().to_entry(&e.site), e);
        let kinds: Vec<PhoneKind> = p.view().numbers().map(|n| n.kind).collect();
        assert_eq!(kinds, [PhoneKind::Mobile, PhoneKind::Fax]);
    }

    #[test]
    fn an_empty_entry_comes_back_whole() {
        let e = Entry {
            id: String::new(),
            site: SiteId::new("s1").expect("a valid site id"),
            sources: Vec::new(),
            personal_owner: None,
            display_name: String::new(),
            given_name: None,
            surname: None,
            company: None,
            department: None,
            title: None,
            emails: Vec::new(),
            extension: None,
            numbers: Vec::new(),
        };
        assert_eq!(Packed::new(&e).view().to_entry(&e.site), e);
    }
}
