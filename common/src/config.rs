//! Configuration shared by every daemon: one optional TOML file, `STRATUS_*` environment variables and
//! CLI flags, resolved in that order of increasing precedence.
//!
//! The data directory is the suite's root (`./stratus-data` by default): the credential store lives at its
//! top and every daemon keeps its own state in `<data-dir>/<daemon>/`, so that one `--data-dir` given to
//! all four daemons (as `stratus up` does) is all a user has to know.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

/// Default listen addresses, one per listener, as documented in the README.
pub mod defaults {
    pub const S3D: &str = "127.0.0.1:9000";
    pub const S3D_METRICS: &str = "127.0.0.1:9001";
    pub const DYNAMOD: &str = "127.0.0.1:8000";
    pub const DYNAMOD_METRICS: &str = "127.0.0.1:8001";
    pub const EBSD: &str = "127.0.0.1:9100";
    pub const EBSD_METRICS: &str = "127.0.0.1:9101";
    pub const EBSD_NBD: &str = "127.0.0.1:10809";
    pub const CACHE: &str = "127.0.0.1:6379";
    pub const CACHE_METRICS: &str = "127.0.0.1:6380";
    pub const CACHE_MEMCACHED: &str = "127.0.0.1:11211";
    pub const DATA_DIR: &str = "./stratus-data";
}

/// Flags every daemon accepts. Each may also come from the environment (`STRATUS_<NAME>`) or from the
/// TOML file given with `--config` (same names, with `-` or `_`, at top level or in a `[<daemon>]` table).
#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, env = "STRATUS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Root data directory shared by the suite; this daemon uses `<data-dir>/<daemon>/`.
    #[arg(long, env = "STRATUS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the main API listener.
    #[arg(long, env = "STRATUS_LISTEN")]
    pub listen: Option<String>,
    /// Address of the Prometheus `/metrics` listener (admin port).
    #[arg(long, env = "STRATUS_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// PEM certificate chain for TLS on the API listener.
    #[arg(long, env = "STRATUS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on the API listener.
    #[arg(long, env = "STRATUS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate for localhost / 127.0.0.1 generated at start.
    #[arg(long, env = "STRATUS_TLS_SELF_SIGNED", conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,
}

/// Errors reading or validating configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("invalid address {value:?} for {flag}: {reason}")]
    BadAddress { flag: String, value: String, reason: String },
    #[error("config key {key} has the wrong type")]
    WrongType { key: String },
}

/// The values of the TOML file: top-level keys, overridden by those of the daemon's own table.
#[derive(Debug, Default, Clone)]
pub struct FileConfig {
    values: BTreeMap<String, toml::Value>,
}

impl FileConfig {
    /// Reads `path` and keeps the keys that apply to `daemon`.
    pub fn load(path: &Path, daemon: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::parse(&text, daemon).map_err(|source| ConfigError::Parse { path: path.into(), source: Box::new(source) })
    }

    pub fn parse(text: &str, daemon: &str) -> Result<Self, toml::de::Error> {
        #[derive(Deserialize)]
        struct Raw(toml::Table);
        let Raw(table) = toml::from_str(text)?;
        let mut values = BTreeMap::new();
        for (key, value) in &table {
            if !value.is_table() {
                values.insert(normalise_key(key), value.clone());
            }
        }
        if let Some(toml::Value::Table(own)) = table.get(daemon) {
            for (key, value) in own {
                values.insert(normalise_key(key), value.clone());
            }
        }
        Ok(Self { values })
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.values.get(&normalise_key(key)) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(toml::Value::Integer(i)) => Ok(Some(i.to_string())),
            Some(_) => Err(ConfigError::WrongType { key: key.into() }),
        }
    }

    pub fn integer(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.values.get(&normalise_key(key)) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) => Ok(Some(*i)),
            Some(_) => Err(ConfigError::WrongType { key: key.into() }),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.values.get(&normalise_key(key)) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(_) => Err(ConfigError::WrongType { key: key.into() }),
        }
    }
}

fn normalise_key(key: &str) -> String {
    key.replace('-', "_")
}

/// TLS settings of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    Off,
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// What every daemon needs to start, after all sources are merged.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub daemon: &'static str,
    /// The suite's root data directory (holds the credential store).
    pub root_dir: PathBuf,
    /// This daemon's own directory, `<root>/<daemon>`.
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    pub tls: TlsMode,
    /// The file's values, for daemon-specific keys.
    pub file: FileConfig,
}

impl CommonArgs {
    /// Merges flags/env (already in `self`), the TOML file and the defaults.
    pub fn resolve(
        &self,
        daemon: &'static str,
        default_listen: &str,
        default_metrics: &str,
    ) -> Result<ServiceConfig, ConfigError> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path, daemon)?,
            None => FileConfig::default(),
        };
        let root_dir = match &self.data_dir {
            Some(dir) => dir.clone(),
            None => file.string("data_dir")?.map(PathBuf::from).unwrap_or_else(|| PathBuf::from(defaults::DATA_DIR)),
        };
        let listen = pick_addr("--listen", self.listen.as_deref(), file.string("listen")?, default_listen)?;
        let metrics_listen = pick_addr(
            "--metrics-listen",
            self.metrics_listen.as_deref(),
            file.string("metrics_listen")?,
            default_metrics,
        )?;
        let tls = if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            TlsMode::Files { cert: cert.clone(), key: key.clone() }
        } else if let (Some(cert), Some(key)) = (file.string("tls_cert")?, file.string("tls_key")?) {
            TlsMode::Files { cert: cert.into(), key: key.into() }
        } else if self.tls_self_signed || file.boolean("tls_self_signed")?.unwrap_or(false) {
            TlsMode::SelfSigned
        } else {
            TlsMode::Off
        };
        Ok(ServiceConfig { daemon, data_dir: root_dir.join(daemon), root_dir, listen, metrics_listen, tls, file })
    }
}

impl ServiceConfig {
    /// Resolves a daemon-specific address: flag/env value, else the file's `key`, else `default`.
    pub fn extra_addr(
        &self,
        flag: &str,
        cli: Option<&str>,
        key: &str,
        default: &str,
    ) -> Result<SocketAddr, ConfigError> {
        pick_addr(flag, cli, self.file.string(key)?, default)
    }
}

/// Parses a listen address; `:PORT` is shorthand for `127.0.0.1:PORT`.
pub fn parse_addr(flag: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    let full = if value.starts_with(':') { format!("127.0.0.1{value}") } else { value.to_string() };
    full.parse().map_err(|e: std::net::AddrParseError| ConfigError::BadAddress {
        flag: flag.into(),
        value: value.into(),
        reason: e.to_string(),
    })
}

fn pick_addr(flag: &str, cli: Option<&str>, file: Option<String>, default: &str) -> Result<SocketAddr, ConfigError> {
    let value = cli.map(str::to_string).or(file).unwrap_or_else(|| default.to_string());
    parse_addr(flag, &value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stratus.toml");
        std::fs::write(
            &path,
            "data-dir = \"/srv/stratus\"\nlisten = \"127.0.0.1:1\"\n[s3d]\nlisten = \":2\"\nmetrics_listen = \":3\"\n",
        )
        .unwrap();
        let args = CommonArgs { config: Some(path.clone()), ..Default::default() };
        let cfg = args.resolve("s3d", "127.0.0.1:9000", "127.0.0.1:9001").unwrap();
        assert_eq!(cfg.root_dir, PathBuf::from("/srv/stratus"));
        assert_eq!(cfg.data_dir, PathBuf::from("/srv/stratus/s3d"));
        assert_eq!(cfg.listen.port(), 2);
        assert_eq!(cfg.metrics_listen.port(), 3);

        let other = args.resolve("dynamod", "127.0.0.1:8000", "127.0.0.1:8001").unwrap();
        assert_eq!(other.listen.port(), 1, "top-level key applies to every daemon");
        assert_eq!(other.metrics_listen.port(), 8001);

        let args = CommonArgs { config: Some(path), listen: Some(":4".into()), ..Default::default() };
        assert_eq!(args.resolve("s3d", ":9000", ":9001").unwrap().listen.port(), 4);
    }

    #[test]
    fn bad_address_names_the_flag() {
        let args = CommonArgs { listen: Some("nonsense".into()), ..Default::default() };
        let err = args.resolve("s3d", ":9000", ":9001").unwrap_err();
        assert!(err.to_string().contains("--listen"), "{err}");
    }

    #[test]
    fn defaults_apply_without_file() {
        let cfg = CommonArgs::default().resolve("cache", defaults::CACHE, defaults::CACHE_METRICS).unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("./stratus-data/cache"));
        assert_eq!(cfg.listen.port(), 6379);
        assert_eq!(cfg.tls, TlsMode::Off);
    }
}
