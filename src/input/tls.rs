//! TLS for listeners: a rustls server config from PEM files named in the
//! config. rustls with the ring provider was chosen over OpenSSL bindings
//! so the binary needs no system TLS library.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Accepts TLS on a TCP stream.
pub type Acceptor = tokio_rustls::TlsAcceptor;

/// Build an acceptor from a PEM certificate chain and a PEM private key.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<Acceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading TLS certificates from {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing TLS certificates in {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no PEM certificate found in {}", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the TLS private key from {}", key.display()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("TLS certificate and key do not form a usable pair")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Where Debian, Fedora/RHEL and Alpine keep the system's CA bundle.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// A client config (for the agent) trusting the PEM CA file given, or
/// else the system's CA bundle.
pub fn client_config(ca: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let system = SYSTEM_CA_BUNDLES.iter().map(Path::new).find(|p| p.exists());
    let ca = match (ca, system) {
        (Some(ca), _) => Some(ca),
        (None, Some(sys)) => Some(sys),
        (None, None) => anyhow::bail!(
            "TLS is on but no CA file is given (tls_ca_file) and no system CA bundle was found"
        ),
    };
    if let Some(ca) = ca {
        for c in CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("reading CA certificates from {}", ca.display()))?
        {
            let c = c.with_context(|| format!("parsing CA certificates in {}", ca.display()))?;
            roots
                .add(c)
                .with_context(|| format!("adding a CA certificate from {}", ca.display()))?;
        }
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(cfg))
}
