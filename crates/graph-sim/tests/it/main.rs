//! One integration-test binary for the emulator (one link instead of many): each module
//! drives a running emulator over real HTTP.

mod batch;
mod common;
mod control;
mod directory;
mod entra;
mod outlook;
mod presence;
mod python_sdk;
mod schema;
mod subscriptions;
