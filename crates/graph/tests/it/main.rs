//! One integration-test binary for the Graph client: every module starts the tenant
//! emulator (graph-sim) on loopback and talks to it over real HTTP(S).

mod auth;
mod batch;
mod calendar;
mod calls;
mod common;
mod delta;
mod observe;
mod paging;
mod pipeline;
