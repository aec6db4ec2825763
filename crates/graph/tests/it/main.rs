//! Integration tests against graph-sim over real HTTP.
