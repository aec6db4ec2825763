//! Deterministic mutation test: thousands of damaged SIP messages, PIDF and dialog-info bodies
//! (derived from the fuzz seeds in `crates/sip/fuzz/seeds`) go through every parser the agent
//! applies to network input. None may panic; a failure prints the input to reproduce it.

#[path = "support/parse_all.rs"]
mod parse_all;

use sip::dialog_info::DialogInfo;
use sip::message::Message;
use sip::Presence;
use std::panic::{catch_unwind, AssertUnwindSafe};

const SEEDS: [(&str, &[u8]); 6] = [
    (
        "publish-empty",
        include_bytes!("../fuzz/seeds/publish-empty"),
    ),
    ("notify-pidf", include_bytes!("../fuzz/seeds/notify-pidf")),
    (
        "notify-dialog-compact",
        include_bytes!("../fuzz/seeds/notify-dialog-compact"),
    ),
    (
        "responses-pipelined",
        include_bytes!("../fuzz/seeds/responses-pipelined"),
    ),
    (
        "pidf-on-the-phone",
        include_bytes!("../fuzz/seeds/pidf-on-the-phone"),
    ),
    (
        "dialog-info-early",
        include_bytes!("../fuzz/seeds/dialog-info-early"),
    ),
];

/// Bytes that matter to the grammars: separators, quotes, XML markup, digits.
const SPECIAL: &[u8] = b"\r\n\t :;,=<>\"'/?&@#[]\\0123456789-+.\xff\x00\xc3";

/// Fragments that hit edge cases: overflowing numbers, odd framing, broken XML.
const FRAGMENTS: &[&[u8]] = &[
    b"99999999999999999999999",
    b"-1",
    b"\r\n\r\n",
    b"Content-Length: 4294967296\r\n",
    b"l: 100000000\r\n",
    b"SIP/2.0",
    b"<![CDATA[",
    b"<!DOCTYPE x [<!ENTITY a \"&a;\">]>",
    b"&amp;&#x0;&#99999999;",
    b"</",
    b";tag=;branch=;expires=",
    b"sip:@:",
    "\u{202e}é\u{0}".as_bytes(),
];

/// xorshift64*: small, seeded, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    let len = input.len();
    match rng.below(8) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 => {
            let at = rng.below(len + 1);
            input.insert(at, SPECIAL[rng.below(SPECIAL.len())]);
        }
        2 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(16)).min(len);
            input.drain(at..end);
        }
        3 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(64)).min(len);
            let copy = input[at..end].to_vec();
            let to = rng.below(len + 1);
            input.splice(to..to, copy);
        }
        4 => input.truncate(rng.below(len + 1)),
        5 => {
            let at = rng.below(len + 1);
            let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
            input.splice(at..at, fragment.iter().copied());
        }
        6 if len > 0 => {
            let i = rng.below(len);
            input[i] = SPECIAL[rng.below(SPECIAL.len())];
        }
        _ => {
            // splice in the front of another seed: mixes framing with foreign bodies
            let other = SEEDS[rng.below(SEEDS.len())].1;
            let take = rng.below(other.len() + 1);
            let at = rng.below(len + 1);
            input.splice(at..at, other[..take].iter().copied());
        }
    }
}

#[test]
fn seeds_are_valid_inputs() {
    // The mutations only probe deep code if the starting points parse.
    for (name, seed) in SEEDS {
        let text = std::str::from_utf8(seed).expect("seed is UTF-8");
        let ok = Message::parse(seed).is_ok()
            || Presence::parse(text).is_ok()
            || DialogInfo::parse(text).is_ok();
        assert!(ok, "seed {name} is not accepted by any parser");
    }
    let mut rest = SEEDS[3].1;
    let mut messages = 0;
    while let Ok(Some((_, used))) = Message::parse_stream(rest) {
        rest = &rest[used..];
        messages += 1;
    }
    assert_eq!(messages, 2, "the pipelined seed holds two responses");
}

#[test]
fn mutated_messages_and_bodies_never_panic() {
    let mut rng = Rng(0x5eed_f51b_u64 | 1);
    let mut runs = 0;
    for round in 0..700 {
        for (name, seed) in SEEDS {
            let mut input = seed.to_vec();
            // stack 1..=6 mutations so damage ranges from one byte to thoroughly mangled
            for _ in 0..=rng.below(6) {
                mutate(&mut rng, &mut input);
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| parse_all::parse_all(&input)));
            assert!(
                outcome.is_ok(),
                "parser panicked on round {round} from seed {name}; input: {:?}",
                String::from_utf8_lossy(&input)
            );
            runs += 1;
        }
    }
    assert_eq!(runs, 4200);
}
