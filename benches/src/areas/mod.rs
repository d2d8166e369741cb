//! One module per benchmarked area.

pub mod kv;
