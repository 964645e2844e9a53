//! TLS: load the operator's certificate, or generate (once) and reuse a
//! self-signed development certificate for localhost.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate and key files in use.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files named on the command line, or the generated ones (created on
/// first start into `certs_dir`, key 0600, and reused after).
pub fn resolve(
    cert: Option<&Path>,
    key: Option<&Path>,
    certs_dir: &Path,
) -> anyhow::Result<(CertFiles, bool)> {
    if let (Some(cert), Some(key)) = (cert, key) {
        return Ok((
            CertFiles {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            },
            false,
        ));
    }
    let files = CertFiles {
        cert: certs_dir.join("localhost-cert.pem"),
        key: certs_dir.join("localhost-key.pem"),
    };
    if files.cert.exists() && files.key.exists() {
        match generated_expiry(&files.cert) {
            Some(not_after) if not_after > chrono::Utc::now().timestamp() + RENEW_BEFORE_SECS => {
                return Ok((files, false));
            }
            expiry => tracing::warn!(
                cert = %files.cert.display(),
                not_after = expiry.and_then(|t| chrono::DateTime::from_timestamp(t, 0)).map(|t| t.to_rfc3339()),
                "the generated development certificate has expired or expires within 7 days; generating a new one"
            ),
        }
    }
    generate(&files, certs_dir)?;
    Ok((files, true))
}

/// How long a generated development certificate is valid.
pub const GENERATED_VALID_DAYS: u64 = 90;

/// A generated certificate this close to expiry is replaced at start.
const RENEW_BEFORE_SECS: i64 = 7 * 86_400;

/// The notAfter of a PEM certificate file, in Unix seconds.
fn generated_expiry(path: &Path) -> Option<i64> {
    let pem = fs::read(path).ok()?;
    let cert = rustls_pemfile::certs(&mut pem.as_slice()).next()?.ok()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

fn generate(files: &CertFiles, dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create certificate directory {}", dir.display()))?;
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    // Valid from yesterday (clock skew) for GENERATED_VALID_DAYS.
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let midnight = rcgen::date_time_ymd(today.year(), today.month() as u8, today.day() as u8);
    let mut params = rcgen::CertificateParams::new(names)
        .context("cannot generate the development certificate")?;
    params.not_before = midnight - std::time::Duration::from_secs(86_400);
    params.not_after = midnight + std::time::Duration::from_secs(GENERATED_VALID_DAYS * 86_400);
    let key = rcgen::KeyPair::generate().context("cannot generate the development key")?;
    let cert = params
        .self_signed(&key)
        .context("cannot sign the development certificate")?;
    write_new(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(&files.cert, cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// A loaded certificate chain and key, checked to belong together.
pub struct Loaded {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate, colon-separated hex.
    pub fingerprint: String,
    /// The leaf certificate's notAfter, in Unix seconds (None if it could
    /// not be read; rustls still validated the chain's shape).
    pub not_after: Option<i64>,
}

/// Reads the PEM files and builds the rustls configuration (ring provider,
/// TLS 1.2 and 1.3, ALPN h2 and http/1.1).
pub fn load(files: &CertFiles) -> anyhow::Result<Loaded> {
    let cert_pem = fs::read(&files.cert)
        .with_context(|| format!("cannot read TLS certificate {}", files.cert.display()))?;
    let key_pem = fs::read(&files.key)
        .with_context(|| format!("cannot read TLS key {}", files.key.display()))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", files.cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", files.cert.display());
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .with_context(|| format!("{} holds no PEM private key", files.key.display()))?;
    let fingerprint = fingerprint(&certs[0]);
    let not_after = x509_parser::parse_x509_certificate(certs[0].as_ref())
        .ok()
        .map(|(_, cert)| cert.validity().not_after.timestamp());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "the key {} does not match the certificate {}",
                files.key.display(),
                files.cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint,
        not_after,
    })
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_expiry_and_refuses_a_mismatched_pair() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let files = CertFiles {
            cert: dir.path().join("c.pem"),
            key: dir.path().join("k.pem"),
        };
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        fs::write(&files.cert, cert.pem()).unwrap();
        fs::write(&files.key, key.serialize_pem()).unwrap();
        let loaded = load(&files).unwrap();
        assert_eq!(loaded.not_after, Some(1_925_078_400));

        let other = rcgen::KeyPair::generate().unwrap();
        fs::write(&files.key, other.serialize_pem()).unwrap();
        let error = load(&files).err().unwrap().to_string();
        assert!(error.contains("does not match"), "{error}");
    }
}
