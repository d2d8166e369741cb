//! TLS for the API listeners: certificate files, or a self-signed certificate for localhost generated at
//! start (written to `<data-dir>/tls/cert.pem` so clients can trust it with `AWS_CA_BUNDLE`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsMode;

pub fn acceptor(mode: &TlsMode, data_dir: &Path) -> anyhow::Result<Option<TlsAcceptor>> {
    let (certs, key) = match mode {
        TlsMode::Off => return Ok(None),
        TlsMode::Files { cert, key } => {
            let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
                std::fs::File::open(cert).with_context(|| format!("cannot open --tls-cert {}", cert.display()))?,
            ))
            .collect::<Result<Vec<_>, _>>()
            .context("cannot parse --tls-cert")?;
            let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
                std::fs::File::open(key).with_context(|| format!("cannot open --tls-key {}", key.display()))?,
            ))
            .context("cannot parse --tls-key")?
            .context("--tls-key holds no private key")?;
            (certs, key)
        }
        TlsMode::SelfSigned => self_signed(data_dir)?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

fn self_signed(data_dir: &Path) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir)?;
    let cert_path = dir.join("cert.pem");
    std::fs::write(&cert_path, generated.cert.pem())?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed TLS certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der()));
    Ok((vec![generated.cert.der().clone()], key))
}
