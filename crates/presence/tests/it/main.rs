//! The presence bridge end to end: the Graph emulator over HTTP and a real Kamailio on
//! 127.0.0.1, with our own SIP agents as phones and watchers.

#[path = "../../../sip/tests/it/kamailio.rs"]
#[allow(dead_code)]
mod kamailio;

mod baresip;
mod calendar;
mod common;
mod e2e;
mod graph_calls;
mod load;
mod notifications;
mod write_burst;
