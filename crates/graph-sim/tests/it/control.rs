//! Tests of the control endpoints over real HTTP.
