//! The sync against the emulator over HTTP and a real store (SQLite file, PostgreSQL).

mod contacts;
mod contacts_generated;
mod departments;
mod diagnostic;
mod generated;
mod handwritten;
mod photos;
mod support;
