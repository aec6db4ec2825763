//! Tests of the subscriptions endpoints over real HTTP.
