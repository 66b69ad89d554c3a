//! Helpers shared by the integration tests (not a test target itself).

pub mod rfc1951;
pub mod stream;
