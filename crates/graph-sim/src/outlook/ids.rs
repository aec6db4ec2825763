//! Outlook ids. Each contact keeps one canonical id; Graph shows it in two forms:
//! - the regular id, which changes when the item moves to another folder (it is the canonical
//!   id while the contact sits in the folder it was created in, and a folder-bound derivative
//!   after a move, so an id from before a move stops resolving, as in Exchange);
//! - the immutable id (`Prefer: IdType="ImmutableId"`), which never changes in the mailbox.
//!
//! Both forms are accepted on input. Folder ids never change.

use crate::model::Contact;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Prefix of immutable ids (Exchange's immutable entry-id header, as Graph shows it).
pub const IMMUTABLE_PREFIX: &str = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A";
/// Prefix of the regular id of a contact moved out of its original folder.
const MOVED_PREFIX: &str = "AAMkADhmAGQ";

/// The folder a contact was created in (before any move).
pub fn home_folder(c: &Contact) -> &str {
    c.folder_moves
        .first()
        .map(|(_, f)| f.as_str())
        .or(c.parent_folder_id.as_deref())
        .unwrap_or("")
}

/// The folder a contact was in just after version `v` (moves after `v` undone).
pub fn folder_at(c: &Contact, v: u64) -> &str {
    c.folder_moves
        .iter()
        .find(|(at, _)| *at > v)
        .map(|(_, f)| f.as_str())
        .or(c.parent_folder_id.as_deref())
        .unwrap_or("")
}

fn folder_tag(folder: &str) -> String {
    let d = Sha256::digest(folder.as_bytes());
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The regular id the contact has (had) while in `folder`.
pub fn regular_in(c: &Contact, folder: &str) -> String {
    if folder == home_folder(c) {
        c.id.clone()
    } else {
        format!(
            "{MOVED_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(format!("{}\n{}", c.id, folder_tag(folder)))
        )
    }
}

/// The immutable id of a contact.
pub fn immutable(c: &Contact) -> String {
    format!("{IMMUTABLE_PREFIX}{}", URL_SAFE_NO_PAD.encode(&c.id))
}

/// The id shown for a contact in its current folder, in the form the request asked for.
pub fn wire(c: &Contact, immutable_ids: bool) -> String {
    wire_in(
        c,
        c.parent_folder_id.as_deref().unwrap_or(""),
        immutable_ids,
    )
}

/// The id shown for a contact as it was in `folder`.
pub fn wire_in(c: &Contact, folder: &str, immutable_ids: bool) -> String {
    if immutable_ids {
        immutable(c)
    } else {
        regular_in(c, folder)
    }
}

/// The canonical ids `given` could name (the caller checks which one is current).
pub fn candidates(given: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(rest) = given.strip_prefix(IMMUTABLE_PREFIX) {
        if let Some(s) = URL_SAFE_NO_PAD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            out.push(s);
        }
    }
    if let Some(rest) = given.strip_prefix(MOVED_PREFIX) {
        if let Some(s) = URL_SAFE_NO_PAD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            if let Some((id, _)) = s.split_once('\n') {
                out.push(id.to_string());
            }
        }
    }
    out.push(given.to_string());
    out
}

/// Whether `given` is a currently valid id (regular or immutable) of contact `c`.
pub fn names(c: &Contact, given: &str) -> bool {
    given == immutable(c) || given == wire(c, false)
}

/// A fresh canonical contact id, shaped like Exchange's (`AAMkAD…`).
pub fn new_contact_id() -> String {
    format!("AAMkADc2{}", random_b64(30))
}

/// A fresh folder id.
pub fn new_folder_id() -> String {
    format!("AAMkAGZmb{}", random_b64(30))
}

/// A fresh `changeKey`.
pub fn new_change_key() -> String {
    format!("EQAAABYAAAA{}", random_b64(12))
}

fn random_b64(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_id_changes_on_move_and_immutable_does_not() {
        let mut c = Contact {
            id: "AAMkADc2x".into(),
            parent_folder_id: Some("F1".into()),
            ..Default::default()
        };
        let imm = immutable(&c);
        assert_eq!(wire(&c, false), "AAMkADc2x");
        c.folder_moves.push((5, "F1".into()));
        c.parent_folder_id = Some("F2".into());
        let moved = wire(&c, false);
        assert_ne!(moved, "AAMkADc2x");
        assert_eq!(immutable(&c), imm);
        assert!(names(&c, &moved) && names(&c, &imm) && !names(&c, "AAMkADc2x"));
        assert!(candidates(&moved).contains(&"AAMkADc2x".to_string()));
        assert!(candidates(&imm).contains(&"AAMkADc2x".to_string()));
        assert_eq!(folder_at(&c, 4), "F1");
        assert_eq!(folder_at(&c, 5), "F2");
        assert_eq!(regular_in(&c, "F1"), "AAMkADc2x");
    }
}
