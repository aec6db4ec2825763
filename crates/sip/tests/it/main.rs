//! Integration tests of the SIP presence agent against a real Kamailio on 127.0.0.1.

mod calls;
mod kamailio;
mod pki;
mod presence;
mod scripted;
mod tcp;
mod tls;
mod transport;
