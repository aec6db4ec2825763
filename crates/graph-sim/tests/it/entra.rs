//! Tests of the entra endpoints over real HTTP.
