//! Integration tests: a real server on 127.0.0.1:0 over a fake directory, driven by reqwest;
//! every XML answer parsed with roxmltree.

mod api;
mod export;
mod fake;
mod limits;
mod lookup;
mod phones;
mod support;
mod webhook;
