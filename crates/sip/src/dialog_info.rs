//! Dialog-info documents (RFC 4235, `Event: dialog`): the calls of an extension, which give
//! ringing and busy states (busy-lamp field).

use crate::pidf::XmlError;
use crate::state::PbxState;

/// State of one dialog; compared case-insensitively (Kamailio writes `Trying`). Ordered as
/// RFC 4235's state machine moves: a dialog only ever goes forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

/// How many dialogs a [`DialogHistory`] remembers: far more calls than one extension has at a
/// time, few enough to cost nothing.
const REMEMBERED_DIALOGS: usize = 64;

/// What one `Event: dialog` subscription has seen of each dialog, so that a stale report
/// cannot move a call backwards.
///
/// RFC 4235 §3.7.1: a dialog's state only moves forward (trying → proceeding → early →
/// confirmed → terminated). A presence server that stores two PUBLISHes of one call out of
/// order reports it backwards: Kamailio 5.6 with `pua_dialoginfo`'s `callee_trying` handles
/// the callee's "Trying" and its "confirmed" in two worker processes when a phone answers at
/// once, and can keep "Trying" for the whole call (seen under load with baresip
/// auto-answering). The furthest state seen for a dialog stands until the dialog is gone.
#[derive(Debug, Default, Clone)]
pub struct DialogHistory {
    /// (dialog id, call-id) → furthest state seen, oldest first.
    seen: std::collections::VecDeque<((String, Option<String>), DialogState)>,
}

impl DialogHistory {
    /// `info` with each dialog's state raised to the furthest one reported for it before;
    /// remembers what it saw.
    pub fn settle(&mut self, mut info: DialogInfo) -> DialogInfo {
        for d in &mut info.dialogs {
            let key = (d.id.clone(), d.call_id.clone());
            match self.seen.iter_mut().find(|(k, _)| *k == key) {
                Some((_, furthest)) if *furthest > d.state => d.state = *furthest,
                Some((_, furthest)) => *furthest = d.state,
                None => {
                    if self.seen.len() == REMEMBERED_DIALOGS {
                        self.seen.pop_front();
                    }
                    self.seen.push_back((key, d.state));
                }
            }
        }
        info
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

    #[test]
    fn a_stale_report_does_not_move_a_call_backwards() {
        let report = |version: u32, state: &str| {
            DialogInfo::parse(&format!(
                "<?xml version=\"1.0\"?><dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" \
                 version=\"{version}\" state=\"full\" entity=\"sip:bob@127.0.0.1\">\
                 <dialog id=\"padi-1\" call-id=\"c1\" direction=\"recipient\"><state>{state}</state>\
                 </dialog></dialog-info>"
            ))
            .expect("parse")
        };
        let mut h = DialogHistory::default();
        // as Kamailio sent them in a failed CI run: early, confirmed, then the stale Trying
        assert_eq!(h.settle(report(2, "early")).pbx_state(), PbxState::Ringing);
        assert_eq!(
            h.settle(report(3, "confirmed")).pbx_state(),
            PbxState::OnCall
        );
        assert_eq!(h.settle(report(4, "Trying")).pbx_state(), PbxState::OnCall);
        assert_eq!(h.settle(report(5, "Trying")).pbx_state(), PbxState::OnCall);
        assert_eq!(
            h.settle(report(6, "terminated")).pbx_state(),
            PbxState::Idle
        );
        assert_eq!(h.settle(report(7, "early")).pbx_state(), PbxState::Idle);
        // another call (another call-id) starts from the beginning
        let other = DialogInfo::parse(
            "<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"8\" state=\"full\" \
             entity=\"sip:bob@127.0.0.1\"><dialog id=\"padi-1\" call-id=\"c2\" \
             direction=\"recipient\"><state>early</state></dialog></dialog-info>",
        )
        .expect("parse");
        assert_eq!(h.settle(other).pbx_state(), PbxState::Ringing);
    }

    #[test]
    fn the_history_stays_bounded() {
        let mut h = DialogHistory::default();
        for i in 0..(REMEMBERED_DIALOGS * 3) {
            h.settle(DialogInfo {
                version: None,
                entity: None,
                dialogs: vec![DialogEntry {
                    id: format!("d{i}"),
                    call_id: None,
                    direction: None,
                    state: DialogState::Terminated,
                }],
            });
        }
        assert_eq!(h.seen.len(), REMEMBERED_DIALOGS);
    }
}
