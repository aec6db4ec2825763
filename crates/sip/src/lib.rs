//! pbx365's SIP presence agent: publishes the presence of PBX extensions (PIDF with RPID
//! activities) and watches their presence and dialog state, as one digest-authenticated
//! bridge account on a presence server such as Kamailio.
//!
//! **Why our own SIP code.** The maintained Rust SIP stacks checked (crates.io, 2026-11):
//! `rsip` 0.4 is a message parser without transactions or a UA; `rvoip` 0.4 is a large
//! call/media framework needing Rust 1.91; `ezk-sip-*` 0.9 and `rsipstack` 0.7 centre on
//! INVITE sessions and registration, with no PUBLISH/ETag handling. The agent needs only
//! PUBLISH, SUBSCRIBE and NOTIFY with digest auth, so this crate implements exactly that:
//! a small parser, MD5 digest, the non-INVITE client transaction over UDP, TCP and TLS
//! (tokio-rustls, the server's certificate always verified), and the agent.
//!
//! Layers, bottom up:
//! - [`message`] and [`header`]: the message model, parser and serializer;
//! - [`digest`]: answering 401/407 challenges;
//! - [`transport`]: UDP, TCP and TLS, and the non-INVITE client transaction (Timers E and F);
//! - [`ua`]: requests as one account, with authentication;
//! - [`pidf`], [`dialog_info`], [`state`]: the documents and what they mean for the PBX;
//! - [`agent`]: the long-running [`PresenceAgent`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), sip::SipError> {
//! use sip::{AgentConfig, AgentEvent, Credentials, EventPackage, PbxState, Presence, PresenceAgent};
//!
//! let server = "127.0.0.1:5090".parse().expect("address");
//! let config = AgentConfig::new(server, "127.0.0.1", Credentials::new("bridge", "secret"));
//! let (agent, mut events) = PresenceAgent::start(config).await?;
//! agent.publish("alice", Presence::for_state(PbxState::OnCall)).await?;
//! agent.subscribe("bob", EventPackage::Dialog).await?;
//! while let Some(event) = events.recv().await {
//!     if let AgentEvent::State { extension, state, .. } = event {
//!         println!("{extension}: {state:?}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod agent;
pub mod dialog_info;
pub mod digest;
pub mod header;
pub mod message;
pub mod pidf;
pub mod state;
pub mod transport;
pub mod ua;

pub use agent::{AgentConfig, AgentEvent, PresenceAgent, Published};
pub use digest::Credentials;
pub use pidf::{Activity, Basic, Presence};
pub use state::{EventPackage, PbxState};
pub use ua::SipError;
