//! Getting tokens from Entra: credentials ([`Secret`], [`Credential`]), the app-only token
//! provider with its cache ([`TokenProvider`]), the certificate assertion, and device-code
//! sign-in with refresh tokens for delegated uses ([`DelegatedAuth`]).

mod assertion;
mod clock;
mod credential;
mod device;
mod provider;
mod token;

pub use assertion::{AssertionAlg, CertificateKey};
pub use clock::Clock;
pub use credential::{Credential, Secret};
pub use device::{DelegatedAuth, DelegatedTokens, DeviceCodePoll, DeviceCodePrompt};
pub use provider::TokenProvider;
pub use token::{AccessToken, TokenInfo};

/// The scope of app-only Graph tokens.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
