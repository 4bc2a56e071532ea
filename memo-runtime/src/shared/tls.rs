//! TLS for `rediss://` URLs (feature `redis-tls`): which certificates the
//! tier trusts and presents, and the driver's client made with them.
//!
//! Certificates are checked, always: against the system's roots, or against
//! the roots given to [`SharedTierBuilder::tls_root_certificates`]. Turning
//! the check off (redis-rs's `#insecure`) is refused, because a cache that
//! accepts any server accepts any value.
//!
//! [`SharedTierBuilder::tls_root_certificates`]: super::SharedTierBuilder::tls_root_certificates

use std::fmt;

use redis::Client;

use super::SharedTierError;
use super::url::RedisUrl;

/// The certificates a tier was given, as PEM. Never printed: `Debug` says
/// only which ones are there.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// Roots that replace the system's, for a private certificate authority.
    pub(crate) root_certificates: Option<Vec<u8>>,
    /// The certificate chain and private key the tier presents (mutual TLS).
    pub(crate) client_identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsSettings {
    fn is_empty(&self) -> bool {
        self.root_certificates.is_none() && self.client_identity.is_none()
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("root_certificates", &self.root_certificates.is_some())
            .field("client_identity", &self.client_identity.is_some())
            .finish()
    }
}

/// The driver's client for `url`, with the certificates of `tls` when the
/// URL is `rediss://`.
pub(crate) fn client(url: &RedisUrl, tls: &TlsSettings) -> Result<Client, SharedTierError> {
    if !url.is_tls() {
        if !tls.is_empty() {
            return Err(SharedTierError::Setting(format!(
                "TLS certificates were given for {url}, which is not a `rediss://` URL"
            )));
        }
        return Client::open(url.info.clone()).map_err(|err| SharedTierError::Url {
            url: url.to_string(),
            reason: err.to_string(),
        });
    }
    tls_client(url, tls)
}

#[cfg(feature = "redis-tls")]
fn tls_client(url: &RedisUrl, tls: &TlsSettings) -> Result<Client, SharedTierError> {
    // rustls needs one process-wide crypto provider; when the program's
    // dependencies enable two (ring here, aws-lc-rs elsewhere), it cannot
    // pick one and would panic inside the driver. Installing ours fails
    // harmlessly when the program installed its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Text without a PEM certificate would give an empty list, and then
    // every handshake would fail with nothing saying why.
    let has_certificates = |pem: &[u8], what: &str| {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        match CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
            Ok(found) if !found.is_empty() => Ok(()),
            Ok(_) => Err(format!(
                "{what} has no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
            )),
            Err(err) => Err(format!("{what} is not valid PEM: {err}")),
        }
        .map_err(|reason| SharedTierError::Setting(format!("TLS for {url}: {reason}")))
    };
    if let Some(roots) = &tls.root_certificates {
        has_certificates(roots, "tls_root_certificates")?;
    }
    if let Some((chain, _)) = &tls.client_identity {
        has_certificates(chain, "the certificate of tls_client_certificate")?;
    }
    let certificates = redis::TlsCertificates {
        client_tls: tls
            .client_identity
            .clone()
            .map(|(client_cert, client_key)| redis::ClientTlsConfig {
                client_cert,
                client_key,
            }),
        root_cert: tls.root_certificates.clone(),
    };
    Client::build_with_tls(url.info.clone(), certificates).map_err(|err| {
        SharedTierError::Setting(format!(
            "the TLS certificates for {url} were not accepted: {err} (they must be PEM)"
        ))
    })
}

#[cfg(not(feature = "redis-tls"))]
fn tls_client(url: &RedisUrl, _tls: &TlsSettings) -> Result<Client, SharedTierError> {
    // `RedisUrl::parse` refuses `rediss://` in this build; kept total.
    Err(SharedTierError::Url {
        url: url.to_string(),
        reason: super::url::TLS_NOT_BUILT.into(),
    })
}
