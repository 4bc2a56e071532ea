//! A private certificate authority for the TLS tests: a root, a server
//! certificate for 127.0.0.1 signed by it, and a client certificate for
//! mutual TLS. Made fresh by each test binary; nothing is checked in.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

pub struct Certificates {
    pub ca_pem: String,
    pub server_pem: String,
    pub server_key_pem: String,
    pub client_pem: String,
    pub client_key_pem: String,
}

impl Certificates {
    pub fn generate(authority_name: &str) -> Certificates {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, authority_name);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_pem = ca.self_signed(&ca_key).expect("the CA certificate").pem();
        let issuer = Issuer::new(ca, ca_key);

        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("a key");
            let mut params = CertificateParams::new(names).expect("parameters");
            params.extended_key_usages = vec![usage];
            let pem = params
                .signed_by(&key, &issuer)
                .expect("a signed certificate")
                .pem();
            (pem, key.serialize_pem())
        };
        // "127.0.0.1" becomes an IP address entry, which rustls checks.
        let (server_pem, server_key_pem) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_pem, client_key_pem) = leaf(
            vec!["memo-test-client".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Certificates {
            ca_pem,
            server_pem,
            server_key_pem,
            client_pem,
            client_key_pem,
        }
    }
}
