//! wss://: TLS configuration from PEM files, with rustls.
//!
//! rustls with the *ring* provider: a well-kept pure-Rust TLS stack whose
//! build needs only a C compiler, no cmake. ALPN offers `http/1.1`, the only
//! protocol a WebSocket upgrade can ride on.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, crypto::ring};

fn invalid(what: &str, path: &Path, err: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} {}: {err}", path.display()),
    )
}

/// Build a TLS server configuration from a PEM certificate chain (leaf
/// first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(
    cert_chain: impl AsRef<Path>,
    private_key: impl AsRef<Path>,
) -> io::Result<Arc<rustls::ServerConfig>> {
    let (cert_path, key_path) = (cert_chain.as_ref(), private_key.as_ref());
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| invalid("cannot read certificate chain", cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("bad certificate in", cert_path, e))?;
    if certs.is_empty() {
        return Err(invalid("no certificate found in", cert_path, "empty"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| invalid("cannot read private key", key_path, e))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| io::Error::other(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| invalid("certificate and key do not fit", cert_path, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
