//! Tests of the presence endpoints over real HTTP.
