//! What two or more Stratus daemons share: configuration, credentials, SigV4, the key-value store seam,
//! token buckets and clocks, HTTP/TLS serving, metrics and ids.

pub mod clock;
pub mod config;
pub mod credentials;
pub mod ids;
pub mod kv;
pub mod linger;
pub mod s3client;
pub mod server;
pub mod sigv4;
pub mod tls;
pub mod token_bucket;

pub use config::CommonArgs;
pub use credentials::CredentialStore;
pub use server::Daemon;
