//! Turns `tls_server_config` into a rustls server config: versions, TLS 1.2 suites and curves by
//! Go's names, and Go's five client-certificate policies.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use super::config::{ClientAuth, Pem, TlsSettings};
use crate::config::yaml::{Diag, Pos};

/// Go's names of the TLS 1.2 suites rustls offers (the others, CBC and RSA key exchange, it
/// does not implement).
const SUITES: [(&str, rustls::CipherSuite); 6] = {
    use rustls::CipherSuite as C;
    [
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
};

fn suite_by_go_name(name: &str) -> Option<rustls::CipherSuite> {
    // Go also accepts the CHACHA20 suites without the `_SHA256` suffix.
    let full = if name.ends_with("CHACHA20_POLY1305") {
        format!("{name}_SHA256")
    } else {
        name.to_string()
    };
    SUITES.iter().find(|(n, _)| *n == full).map(|(_, s)| *s)
}

fn curve_by_go_name(name: &str) -> Option<rustls::NamedGroup> {
    use rustls::NamedGroup as G;
    match name {
        "CurveP256" => Some(G::secp256r1),
        "CurveP384" => Some(G::secp384r1),
        "X25519" => Some(G::X25519),
        _ => None,
    }
}

fn read_pem(pem: &Pem) -> Result<Vec<u8>, String> {
    match pem {
        Pem::Inline(s) => Ok(s.clone().into_bytes()),
        Pem::File(p) => std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display())),
    }
}

fn certs(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read_pem(pem)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs)
}

/// The provider restricted to the configured suites and curves, in the configured order.
fn provider(t: &TlsSettings) -> Result<CryptoProvider, String> {
    let mut p = ring::default_provider();
    if !t.cipher_suites.is_empty() {
        let mut keep: Vec<_> = p
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        for name in &t.cipher_suites {
            let id = suite_by_go_name(name).ok_or_else(|| {
                format!(
                    "cipher suite {name:?} is not supported (supported: {})",
                    SUITES.map(|s| s.0).join(", ")
                )
            })?;
            if let Some(s) = p.cipher_suites.iter().find(|s| s.suite() == id) {
                keep.push(*s);
            }
        }
        p.cipher_suites = keep;
    }
    if !t.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for name in &t.curve_preferences {
            let id = curve_by_go_name(name).ok_or_else(|| {
                format!("curve {name:?} is not supported (CurveP256, CurveP384, X25519)")
            })?;
            if let Some(g) = p.kx_groups.iter().find(|g| g.name() == id) {
                groups.push(*g);
            }
        }
        p.kx_groups = groups;
    }
    Ok(p)
}

/// Builds the rustls config, loading the certificate, key and client CA it names.
pub fn build(file: &str, t: &TlsSettings) -> Result<Arc<ServerConfig>, Vec<Diag>> {
    let at = |what: &str| {
        t.positions
            .iter()
            .find(|(k, _)| *k == what)
            .map_or(Pos { line: 1, col: 1 }, |(_, p)| *p)
    };
    let diag = |what: &str, msg: String| {
        vec![Diag {
            file: file.to_string(),
            pos: at(what),
            path: "tls_server_config".into(),
            msg,
        }]
    };
    let chain = certs(&t.cert).map_err(|e| diag("cert", e))?;
    let key_bytes = read_pem(&t.key).map_err(|e| diag("key", e))?;
    // The key's parse error names no key material.
    let key = PrivateKeyDer::from_pem_slice(&key_bytes)
        .map_err(|_| diag("key", "no valid PEM private key found".into()))?;
    let provider = Arc::new(provider(t).map_err(|e| diag("cert", e))?);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (t.min_version..=t.max_version).contains(v))
            .map(|(_, v)| v)
            .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| diag("cert", format!("TLS settings: {e}")))?;
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match t.client_auth {
        ClientAuth::NoClientCert => None,
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Some(Arc::new(AnyCert {
                mandatory: t.client_auth.mandatory(),
                algs: provider.signature_verification_algorithms,
            }))
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let mut roots = RootCertStore::empty();
            let ca = t
                .client_ca
                .as_ref()
                .ok_or_else(|| diag("client_ca", "no client CA".into()))?;
            for c in certs(ca).map_err(|e| diag("client_ca", e))? {
                roots
                    .add(c)
                    .map_err(|e| diag("client_ca", format!("bad CA certificate: {e}")))?;
            }
            let mut b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            if !t.client_auth.mandatory() {
                b = b.allow_unauthenticated();
            }
            Some(
                b.build()
                    .map_err(|e| diag("client_ca", format!("client CA: {e}")))?,
            )
        }
    };
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(chain, key).map_err(|e| {
        diag(
            "key",
            format!("certificate and key do not make a pair: {e}"),
        )
    })?;
    cfg.ignore_client_order = t.prefer_server_cipher_suites;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Go's `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked for (and, when
/// mandatory, required) but not checked against any CA; the handshake signature still is.
#[derive(Debug)]
struct AnyCert {
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
