//! Tests of the outlook endpoints over real HTTP.
