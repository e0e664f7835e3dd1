//! Certificates for TLS tests: a CA and a hub certificate it signed, written as PEM files.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// PEM files of one CA and the hub certificate it signed.
pub struct Certs {
    /// The CA's certificate (what `[agent] tls_ca` names).
    pub ca: PathBuf,
    /// The hub's certificate and private key (`[hub] tls_cert`, `tls_key`).
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    /// The `[hub]` lines that turn TLS on.
    pub fn hub_toml(&self) -> String {
        format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
            self.cert.display(),
            self.key.display()
        )
    }

    /// The `[agent]` line that turns TLS on.
    pub fn agent_toml(&self) -> String {
        format!("tls_ca = \"{}\"\n", self.ca.display())
    }
}

/// Writes `<prefix>-ca.pem`, `<prefix>-hub.pem` and `<prefix>-hub.key` into `dir`: a CA, and a
/// hub certificate it signed for `names` (DNS names or IP addresses).
pub fn write_certs(dir: &Path, prefix: &str, names: &[&str]) -> Result<Certs> {
    write_certs_valid(dir, prefix, names, None)
}

/// A day: (year, month, day).
pub type Day = (i32, u8, u8);

/// Like [`write_certs`], the hub's certificate valid from and until the given days instead of
/// rcgen's defaults.
pub fn write_certs_valid(
    dir: &Path,
    prefix: &str,
    names: &[&str],
    validity: Option<(Day, Day)>,
) -> Result<Certs> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("starsync test CA {prefix}"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let mut hub = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    hub.distinguished_name
        .push(DnType::CommonName, "starsync hub");
    if let Some(((y0, m0, d0), (y1, m1, d1))) = validity {
        hub.not_before = rcgen::date_time_ymd(y0, m0, d0);
        hub.not_after = rcgen::date_time_ymd(y1, m1, d1);
    }
    let hub_key = KeyPair::generate()?;
    let hub_cert = hub.signed_by(&hub_key, &ca_cert, &ca_key)?;
    let certs = Certs {
        ca: dir.join(format!("{prefix}-ca.pem")),
        cert: dir.join(format!("{prefix}-hub.pem")),
        key: dir.join(format!("{prefix}-hub.key")),
    };
    std::fs::write(&certs.ca, ca_cert.pem())?;
    std::fs::write(&certs.cert, hub_cert.pem())?;
    std::fs::write(&certs.key, hub_key.serialize_pem())?;
    Ok(certs)
}
