//! The rustls configurations syncws builds for its callers: the roots a
//! client trusts, a server's certificate and key read from PEM, and the
//! verifier that trusts anything (for tests only).
//!
//! Every configuration names its crypto provider (`ring`, see Cargo.toml)
//! rather than the process-wide default, so that an application that
//! links another provider as well gets no panic from rustls over which
//! one to use.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::error::TlsError;

/// The crypto provider of every configuration built here.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// The roots a client trusts by default: the platform's (read once per
/// process; those it cannot parse are logged and skipped), and with the
/// `rustls-webpki-roots` feature Mozilla's, bundled.
fn default_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            log::warn!("reading the platform's TLS roots: {error}");
        }
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            log::warn!("{ignored} of the platform's TLS roots could not be used");
        }
        #[cfg(feature = "rustls-webpki-roots")]
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        log::debug!(
            "TLS roots: {added} from the platform, {} in all",
            roots.len()
        );
        roots
    })
}

/// The certificates in `pem` (at least one).
///
/// # Errors
/// [`TlsError`] if `pem` holds no certificate or a broken one.
pub(crate) fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::setup("reading a certificate (PEM)", e))?;
    if certificates.is_empty() {
        return Err(TlsError::setup(
            "reading a certificate (PEM)",
            "no CERTIFICATE in it",
        ));
    }
    Ok(certificates)
}

/// A client configuration that trusts the default roots and `extra`, or
/// with `accept_invalid_certs` any certificate at all.
///
/// # Errors
/// [`TlsError`] if a certificate of `extra` is not a usable root.
pub(crate) fn client_config(
    extra: &[CertificateDer<'static>],
    accept_invalid_certs: bool,
) -> Result<Arc<ClientConfig>, TlsError> {
    if extra.is_empty() && !accept_invalid_certs {
        return Ok(default_client_config());
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::from)?;
    if accept_invalid_certs {
        let verifier = Arc::new(AcceptAnyCertificate {
            algorithms: provider().signature_verification_algorithms,
        });
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        ));
    }
    let mut roots = default_roots().clone();
    for certificate in extra {
        roots.add(certificate.clone()).map_err(TlsError::from)?;
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// The configuration of a plain `wss://` connect, built once per process.
pub(crate) fn default_client_config() -> Arc<ClientConfig> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    Arc::clone(DEFAULT.get_or_init(|| {
        Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(default_roots().clone())
                .with_no_client_auth(),
        )
    }))
}

/// The name a client sends (SNI) and checks the certificate against.
///
/// # Errors
/// [`TlsError`] if `host` is neither a DNS name nor an IP address.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|e| TlsError::setup("the server's name", e))
}

/// A server configuration from a certificate chain (PEM, the server's
/// certificate first) and its private key (PEM: PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// [`TlsError`] if either cannot be read, or the key does not fit.
pub(crate) fn server_config_from_pem(
    certificate_chain: &[u8],
    private_key: &[u8],
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(certificate_chain)?;
    let key = PrivateKeyDer::from_pem_slice(private_key)
        .map_err(|e| TlsError::setup("reading the private key (PEM)", e))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::from)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::from)?;
    Ok(Arc::new(config))
}

/// Trusts every certificate, for `danger_accept_invalid_certs`. The
/// handshake's signatures are still checked (with the provider's
/// algorithms): the peer must hold the key of the certificate it shows,
/// whatever that certificate is.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "rustls-webpki-roots")]
    fn the_default_roots_include_the_bundled_ones() {
        assert!(default_roots().len() >= webpki_roots::TLS_SERVER_ROOTS.len());
    }

    #[test]
    fn a_pem_without_a_certificate_is_refused_with_what_it_was() {
        let e = certificates(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "reading a certificate (PEM): no CERTIFICATE in it"
        );
    }

    #[test]
    fn ip_addresses_and_dns_names_are_server_names() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(
            server_name("example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(server_name("not a name").is_err());
    }
}
