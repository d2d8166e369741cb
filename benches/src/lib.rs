//! What the benchmark harness and the load binaries share.

pub mod client;
