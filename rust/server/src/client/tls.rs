//! wss:// for the client: rustls with the system's roots or a given CA.
//!
//! Roots come from `rustls-native-certs`, i.e. the operating system's store
//! (on Linux the distribution's bundle, honouring `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`), rather than `webpki-roots`' compiled-in Mozilla list:
//! a client must trust what the machine's administrator trusts (a corporate
//! CA, a removed root), the way Python's `ssl` and websockets do, and a
//! compiled-in list goes stale with the binary. A custom CA replaces the
//! system roots, as `ssl.create_default_context(cafile=…)` does.
//!
//! SNI and hostname verification use the URI's host (or `server_name`);
//! verification is on unless `check_hostname` is turned off, which still
//! checks the chain against the roots, only not the name.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::{
    self, crypto::ring, CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::ConnectError;

/// TLS settings of a client.
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// PEM file of the CA(s) to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM text of CA(s) to trust (added to `ca_file`'s).
    pub ca_pem: Option<String>,
    /// The name for SNI and verification; default the URI's host.
    pub server_name: Option<String>,
    /// Verify that the certificate names the host. Default `true`.
    pub check_hostname: bool,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            ca_file: None,
            ca_pem: None,
            server_name: None,
            check_hostname: true,
        }
    }
}

fn tls_error(what: impl std::fmt::Display) -> ConnectError {
    ConnectError::Tls(what.to_string())
}

fn roots(tls: &ClientTls) -> Result<RootCertStore, ConnectError> {
    let mut roots = RootCertStore::empty();
    let mut custom = Vec::new();
    if let Some(path) = &tls.ca_file {
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| tls_error(format!("cannot read CA file {}: {e}", path.display())))?
        {
            custom.push(cert.map_err(|e| tls_error(format!("bad CA in {}: {e}", path.display())))?);
        }
    }
    if let Some(pem) = &tls.ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            custom.push(cert.map_err(|e| tls_error(format!("bad CA PEM: {e}")))?);
        }
    }
    if tls.ca_file.is_some() || tls.ca_pem.is_some() {
        if custom.is_empty() {
            return Err(tls_error("no CA certificate found"));
        }
        for cert in custom {
            roots
                .add(cert)
                .map_err(|e| tls_error(format!("unusable CA: {e}")))?;
        }
    } else {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        if roots.is_empty() {
            return Err(tls_error(
                "no system CA certificates found; pass a CA file or install ca-certificates",
            ));
        }
    }
    Ok(roots)
}

/// The rustls configuration and server name for `host`.
pub(super) fn client_config(
    tls: &ClientTls,
    host: &str,
) -> Result<(Arc<rustls::ClientConfig>, ServerName<'static>), ConnectError> {
    let provider = Arc::new(ring::default_provider());
    let roots = Arc::new(roots(tls)?);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let mut config = if tls.check_hostname {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(tls_error)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(inner)))
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = tls.server_name.as_deref().unwrap_or(host).to_owned();
    let name = ServerName::try_from(name)
        .map_err(|e| tls_error(format!("invalid server name for TLS: {e}")))?;
    Ok((Arc::new(config), name))
}

/// The chain is verified as usual; only a name mismatch is forgiven
/// (`check_hostname=False`).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
