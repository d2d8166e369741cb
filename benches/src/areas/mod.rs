//! One module per benchmarked area.

pub mod cache;
pub mod dynamodb;
pub mod ebs;
pub mod kv;
pub mod s3;
