//! Fuzzes everything pbx365-sip reads from the network: whole messages (datagram and stream
//! framing), the header values the agent interprets, and PIDF and dialog-info bodies. None of
//! it may panic; the same walk runs deterministically in `crates/sip/tests/mutation.rs`.
#![no_main]

#[path = "../../tests/support/parse_all.rs"]
mod parse_all;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    parse_all::parse_all(data);
});
