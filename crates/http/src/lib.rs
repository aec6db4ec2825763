//! pbx365 HTTP front ends: vendor XML phonebooks, caller-ID lookup, CSV exports, REST API, over a DirectoryService.

#![warn(missing_docs)]
