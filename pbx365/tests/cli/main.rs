//! One integration-test binary for the `pbx365` command line: each module runs the built
//! binary the way an admin would.

mod demo;
mod directory;
mod extras;
mod init;
mod presence;
mod resume;
mod sync;
