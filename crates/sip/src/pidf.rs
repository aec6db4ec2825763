//! PIDF presence documents (RFC 3863) with RPID activities (RFC 4480) inside a data-model
//! person element (RFC 4479): writing what the bridge publishes, reading what NOTIFYs carry.

use crate::state::PbxState;

const NS_PIDF: &str = "urn:ietf:params:xml:ns:pidf";
const NS_RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";

/// A presence document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML.
    #[error("presence document is not well-formed XML: {0}")]
    Malformed(String),
    /// Well-formed but not the expected root element.
    #[error("expected a <{expected}> document, found <{found}>")]
    WrongRoot {
        /// Expected root element.
        expected: &'static str,
        /// Root element found.
        found: String,
    },
}

/// `<basic>` status of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basic {
    /// Reachable.
    Open,
    /// Not reachable.
    Closed,
}

/// RPID activities the bridge writes and understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// `<rpid:on-the-phone/>`
    OnThePhone,
    /// `<rpid:busy/>` (also how do-not-disturb is expressed)
    Busy,
    /// `<rpid:away/>`
    Away,
    /// `<rpid:meeting/>`
    Meeting,
    /// Any other activity element, by local name.
    Other(String),
}

impl Activity {
    fn name(&self) -> &str {
        match self {
            Activity::OnThePhone => "on-the-phone",
            Activity::Busy => "busy",
            Activity::Away => "away",
            Activity::Meeting => "meeting",
            Activity::Other(s) => s,
        }
    }

    fn from_name(name: &str) -> Activity {
        match name {
            "on-the-phone" => Activity::OnThePhone,
            "busy" => Activity::Busy,
            "away" => Activity::Away,
            "meeting" => Activity::Meeting,
            other => Activity::Other(other.to_string()),
        }
    }
}

/// The content of one presence document, as far as the bridge cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// `None` for a document with no tuple (nothing published).
    pub basic: Option<Basic>,
    /// RPID activities of the person.
    pub activities: Vec<Activity>,
    /// Free-text note.
    pub note: Option<String>,
}

impl Presence {
    /// The document the bridge publishes for a PBX state.
    pub fn for_state(state: PbxState) -> Presence {
        let (basic, activities, note) = match state {
            PbxState::Idle => (Basic::Open, vec![], "Available"),
            PbxState::Ringing => (Basic::Open, vec![], "Ringing"),
            PbxState::OnCall => (Basic::Open, vec![Activity::OnThePhone], "On the phone"),
            PbxState::Dnd => (Basic::Open, vec![Activity::Busy], "Do not disturb"),
            PbxState::Away => (Basic::Open, vec![Activity::Away], "Away"),
            PbxState::Offline | PbxState::Unknown => (Basic::Closed, vec![], "Offline"),
        };
        Presence {
            basic: Some(basic),
            activities,
            note: Some(note.to_string()),
        }
    }

    /// The PBX state this document expresses.
    pub fn pbx_state(&self) -> PbxState {
        match self.basic {
            None => PbxState::Unknown,
            Some(Basic::Closed) => PbxState::Offline,
            Some(Basic::Open) => {
                if self.activities.contains(&Activity::OnThePhone) {
                    PbxState::OnCall
                } else if self.activities.contains(&Activity::Busy) {
                    PbxState::Dnd
                } else if self.activities.contains(&Activity::Away) {
                    PbxState::Away
                } else if self.note.as_deref() == Some("Ringing") {
                    PbxState::Ringing
                } else {
                    PbxState::Idle
                }
            }
        }
    }

    /// Writes the PIDF document for presentity `entity` (a SIP URI).
    pub fn to_pidf(&self, entity: &str) -> String {
        let basic = match self.basic {
            Some(Basic::Closed) => "closed",
            _ => "open",
        };
        let mut x = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"{NS_PIDF}\" \
             xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" xmlns:rpid=\"{NS_RPID}\" \
             entity=\"{}\">\n<tuple id=\"pbx365\"><status><basic>{basic}</basic></status>\
             <contact>{}</contact>",
            escape(entity),
            escape(entity)
        );
        if let Some(note) = &self.note {
            x.push_str(&format!("<note>{}</note>", escape(note)));
        }
        x.push_str("</tuple>\n");
        if !self.activities.is_empty() {
            x.push_str("<dm:person id=\"p1\"><rpid:activities>");
            for a in &self.activities {
                x.push_str(&format!("<rpid:{}/>", escape(a.name())));
            }
            x.push_str("</rpid:activities></dm:person>\n");
        }
        x.push_str("</presence>\n");
        x
    }

    /// Reads a PIDF document; an empty body means nothing is published.
    pub fn parse(xml: &str) -> Result<Presence, XmlError> {
        if xml.trim().is_empty() {
            return Ok(Presence {
                basic: None,
                activities: vec![],
                note: None,
            });
        }
        let doc =
            roxmltree::Document::parse(xml).map_err(|e| XmlError::Malformed(e.to_string()))?;
        let root = doc.root_element();
        if root.tag_name().name() != "presence" {
            return Err(XmlError::WrongRoot {
                expected: "presence",
                found: root.tag_name().name().to_string(),
            });
        }
        let mut basic = None;
        let mut note = None;
        let mut activities = Vec::new();
        for node in root.descendants().filter(|n| n.is_element()) {
            match node.tag_name().name() {
                // any open tuple makes the presentity open
                "basic" => match node.text().map(str::trim) {
                    Some("open") => basic = Some(Basic::Open),
                    Some("closed") if basic.is_none() => basic = Some(Basic::Closed),
                    _ => {}
                },
                "note" if note.is_none() => note = node.text().map(|t| t.trim().to_string()),
                "activities" => {
                    for a in node.children().filter(|n| n.is_element()) {
                        let name = a.tag_name().name();
                        if name != "unknown" && name != "note" {
                            activities.push(Activity::from_name(name));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(Presence {
            basic,
            activities,
            note,
        })
    }
}

/// Escapes text and attribute values for XML.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_state() {
        for state in [
            PbxState::Idle,
            PbxState::Ringing,
            PbxState::OnCall,
            PbxState::Dnd,
            PbxState::Away,
            PbxState::Offline,
        ] {
            let xml = Presence::for_state(state).to_pidf("sip:alice@127.0.0.1");
            let parsed = Presence::parse(&xml).expect("own document parses");
            assert_eq!(parsed.pbx_state(), state, "{xml}");
        }
    }

    #[test]
    fn reads_the_notes_example_and_kamailio_documents() {
        // the document of notes/pbx.md §3.1, as published in the Kamailio test
        let doc = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
          xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@127.0.0.1">
  <tuple id="t1"><status><basic>open</basic></status><contact>sip:alice@127.0.0.1</contact><note>On the phone</note></tuple>
  <dm:person id="p1"><rpid:activities><rpid:on-the-phone/></rpid:activities></dm:person>
</presence>"#;
        let p = Presence::parse(doc).expect("parse");
        assert_eq!(p.basic, Some(Basic::Open));
        assert_eq!(p.activities, vec![Activity::OnThePhone]);
        assert_eq!(p.note.as_deref(), Some("On the phone"));
        assert_eq!(p.pbx_state(), PbxState::OnCall);
        // Kamailio's synthesized document after unpublish
        let closed = r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@127.0.0.1"><tuple id="x"><status><basic>closed</basic></status></tuple></presence>"#;
        assert_eq!(
            Presence::parse(closed).expect("parse").pbx_state(),
            PbxState::Offline
        );
        assert_eq!(
            Presence::parse("").expect("empty").pbx_state(),
            PbxState::Unknown
        );
    }

    #[test]
    fn escapes_and_rejects() {
        let mut p = Presence::for_state(PbxState::Away);
        p.note = Some("<lunch> & \"back\"".into());
        let xml = p.to_pidf("sip:a&b@h");
        assert_eq!(Presence::parse(&xml).expect("parse").note, p.note);
        assert!(matches!(
            Presence::parse("<presence>"),
            Err(XmlError::Malformed(_))
        ));
        assert_eq!(
            Presence::parse("<dialog-info/>"),
            Err(XmlError::WrongRoot {
                expected: "presence",
                found: "dialog-info".into()
            })
        );
    }
}
