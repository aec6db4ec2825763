//! Test certificates: a CA and a server certificate for 127.0.0.1 it signed (rcgen).

use super::kamailio::TestPki;

/// Generates a fresh CA named `ca_name` and a server certificate for 127.0.0.1 it signed.
pub fn test_pki(ca_name: &str) -> TestPki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("self-signed CA");
    let key = KeyPair::generate().expect("server key");
    let mut srv = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("server params");
    srv.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    srv.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    srv.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    srv.use_authority_key_identifier_extension = true;
    let cert = srv
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("server certificate");
    TestPki {
        ca_pem: ca_cert.pem(),
        server_pem: cert.pem(),
        server_key: key.serialize_pem(),
    }
}
