//! Tests of the directory endpoints over real HTTP.
