//! Tests of the batch endpoints over real HTTP.
