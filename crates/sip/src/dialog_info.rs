//! Dialog-info documents (RFC 4235, `Event: dialog`): the calls of an extension, which give
//! ringing and busy states (busy-lamp field).

use crate::pidf::XmlError;
use crate::state::PbxState;

/// State of one dialog; compared case-insensitively (Kamailio writes `Trying`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// INVITE sent or received, nothing back yet.
    Trying,
    /// Provisional response without a tag.
    Proceeding,
    /// Ringing (provisional response with a tag).
    Early,
    /// Answered.
    Confirmed,
    /// Ended.
    Terminated,
}

/// Which side of the call the extension is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The extension placed the call.
    Initiator,
    /// The extension receives the call.
    Recipient,
}

/// One `<dialog>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogEntry {
    /// The `id` attribute.
    pub id: String,
    /// The `call-id` attribute, if present.
    pub call_id: Option<String>,
    /// The `direction` attribute, if present.
    pub direction: Option<Direction>,
    /// The `<state>` element.
    pub state: DialogState,
}

/// A parsed dialog-info document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogInfo {
    /// The `version` attribute.
    pub version: Option<u64>,
    /// The `entity` attribute.
    pub entity: Option<String>,
    /// The dialogs listed.
    pub dialogs: Vec<DialogEntry>,
}

impl DialogInfo {
    /// Reads a dialog-info document; an empty body means no dialogs.
    pub fn parse(xml: &str) -> Result<DialogInfo, XmlError> {
        if xml.trim().is_empty() {
            return Ok(DialogInfo {
                version: None,
                entity: None,
                dialogs: vec![],
            });
        }
        let doc =
            roxmltree::Document::parse(xml).map_err(|e| XmlError::Malformed(e.to_string()))?;
        let root = doc.root_element();
        if root.tag_name().name() != "dialog-info" {
            return Err(XmlError::WrongRoot {
                expected: "dialog-info",
                found: root.tag_name().name().to_string(),
            });
        }
        let mut dialogs = Vec::new();
        for d in root
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "dialog")
        {
            let state_text = d
                .children()
                .find(|n| n.is_element() && n.tag_name().name() == "state")
                .and_then(|n| n.text())
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let state = match state_text.as_str() {
                "trying" => DialogState::Trying,
                "proceeding" => DialogState::Proceeding,
                "early" => DialogState::Early,
                "confirmed" => DialogState::Confirmed,
                "terminated" => DialogState::Terminated,
                // an unknown or missing state says nothing usable about this dialog
                _ => continue,
            };
            let direction = match d.attribute("direction") {
                Some(v) if v.eq_ignore_ascii_case("initiator") => Some(Direction::Initiator),
                Some(v) if v.eq_ignore_ascii_case("recipient") => Some(Direction::Recipient),
                _ => None,
            };
            dialogs.push(DialogEntry {
                id: d.attribute("id").unwrap_or_default().to_string(),
                call_id: d.attribute("call-id").map(str::to_string),
                direction,
                state,
            });
        }
        Ok(DialogInfo {
            version: root.attribute("version").and_then(|v| v.parse().ok()),
            entity: root.attribute("entity").map(str::to_string),
            dialogs,
        })
    }

    /// The extension's state: any answered call → on a call; an incoming call not yet
    /// answered → ringing; an outgoing one → on a call; otherwise idle.
    pub fn pbx_state(&self) -> PbxState {
        let live = || {
            self.dialogs
                .iter()
                .filter(|d| d.state != DialogState::Terminated)
        };
        if live().any(|d| d.state == DialogState::Confirmed) {
            PbxState::OnCall
        } else if live().any(|d| d.direction == Some(Direction::Recipient)) {
            PbxState::Ringing
        } else if live().next().is_some() {
            PbxState::OnCall
        } else {
            PbxState::Idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(dialogs: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" \
             version=\"4\" state=\"full\" entity=\"sip:bob@127.0.0.1\">{dialogs}</dialog-info>"
        )
    }

    #[test]
    fn kamailio_pua_dialoginfo_document() {
        // as pua_dialoginfo writes it (notes/kamailio README): capitalised state
        let xml = doc(
            "<dialog id=\"padi-1\" call-id=\"c1\" direction=\"recipient\"><state>Trying</state>\
             <local><identity>sip:bob@127.0.0.1</identity><target uri=\"sip:bob@127.0.0.1\"/></local>\
             <remote><identity>sip:alice@127.0.0.1</identity></remote></dialog>",
        );
        let info = DialogInfo::parse(&xml).expect("parse");
        assert_eq!(info.version, Some(4));
        assert_eq!(info.entity.as_deref(), Some("sip:bob@127.0.0.1"));
        assert_eq!(
            info.dialogs,
            vec![DialogEntry {
                id: "padi-1".into(),
                call_id: Some("c1".into()),
                direction: Some(Direction::Recipient),
                state: DialogState::Trying
            }]
        );
        assert_eq!(info.pbx_state(), PbxState::Ringing);
    }

    #[test]
    fn states_map_to_pbx_states() {
        let one = |dir: &str, state: &str| {
            DialogInfo::parse(&doc(&format!(
                "<dialog id=\"d\" direction=\"{dir}\"><state>{state}</state></dialog>"
            )))
            .expect("parse")
            .pbx_state()
        };
        assert_eq!(one("recipient", "early"), PbxState::Ringing);
        assert_eq!(one("initiator", "early"), PbxState::OnCall);
        assert_eq!(one("recipient", "confirmed"), PbxState::OnCall);
        assert_eq!(one("initiator", "terminated"), PbxState::Idle);
        assert_eq!(
            DialogInfo::parse(&doc("")).expect("parse").pbx_state(),
            PbxState::Idle
        );
        assert_eq!(
            DialogInfo::parse("").expect("empty").pbx_state(),
            PbxState::Idle
        );
        // a ringing line plus an answered one: busy wins
        let both = doc(
            "<dialog id=\"a\" direction=\"recipient\"><state>early</state></dialog>\
             <dialog id=\"b\" direction=\"initiator\"><state>confirmed</state></dialog>",
        );
        assert_eq!(
            DialogInfo::parse(&both).expect("parse").pbx_state(),
            PbxState::OnCall
        );
        assert!(matches!(
            DialogInfo::parse("<dialog-info"),
            Err(XmlError::Malformed(_))
        ));
    }

    #[test]
    fn combine_prefers_calls() {
        assert_eq!(
            PbxState::combine(PbxState::Away, PbxState::OnCall),
            PbxState::OnCall
        );
        assert_eq!(
            PbxState::combine(PbxState::Dnd, PbxState::Idle),
            PbxState::Dnd
        );
        assert_eq!(
            PbxState::combine(PbxState::Unknown, PbxState::Idle),
            PbxState::Idle
        );
    }
}
