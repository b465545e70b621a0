//! HTTPS: the certificate the server presents, swapped in place on reload,
//! and the self-signed pair `latchkey tls self-signed` writes.
//!
//! rustls with the `ring` provider only. The acceptor asks [`CurrentCert`]
//! for the certificate on every handshake, so a reload changes what new
//! handshakes see while established sessions keep theirs.

mod settings;

pub use settings::Settings;

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use time::OffsetDateTime;
use tokio_rustls::TlsAcceptor;

/// Why a certificate or key could not be loaded or made. Never carries key
/// material: only paths and the parser's reason.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no usable certificate.
    #[error("{path}: not a PEM certificate: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key file holds no usable private key.
    #[error("{path}: not a PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("{key} is not the private key of the certificate in {cert}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
    /// `--host` is neither a DNS name nor an IP address.
    #[error("--host {0:?} is neither a DNS name nor an IP address")]
    Host(String),
    /// The certificate could not be generated.
    #[error("generating the certificate: {0}")]
    Generate(rcgen::Error),
    /// A file exists and `--force` was not given.
    #[error("{0} exists; pass --force to overwrite it")]
    Exists(PathBuf),
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The certificate new handshakes get; [`Tls::reload`] replaces it.
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock still holds a whole Arc: a panic cannot leave it
        // half-written.
        let current = self.0.read().unwrap_or_else(PoisonError::into_inner);
        Some(Arc::clone(&current))
    }
}

/// The server's TLS side: an acceptor, and the files it reloads from.
#[derive(Debug)]
pub struct Tls {
    config: Arc<ServerConfig>,
    current: Arc<CurrentCert>,
    cert: PathBuf,
    key: PathBuf,
}

impl Tls {
    /// Loads `cert` and `key` and builds the acceptor; fails if either file
    /// is unreadable, malformed, or the key is not the certificate's.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let current = Arc::new(CurrentCert(RwLock::new(load_pair(cert, key)?)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        // The server speaks HTTP/1.1 only; saying so lets clients that
        // offer h2 settle at once.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            current,
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
    }

    /// An acceptor for the server's connections; every acceptor sees
    /// reloads.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }

    /// Reads the files again. On success new handshakes get the new
    /// certificate; on failure nothing changes. Blocking file I/O.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load_pair(&self.cert, &self.key)?;
        *self
            .current
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }
}

/// Reads a PEM chain and its key and checks that they belong together.
fn load_pair(cert_path: &Path, key_path: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let bad_cert = |reason: String| TlsError::Certificate {
        path: cert_path.to_path_buf(),
        reason,
    };
    let bad_key = |reason: String| TlsError::Key {
        path: key_path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&read(cert_path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_cert(e.to_string()))?;
    if chain.is_empty() {
        return Err(bad_cert("no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_path)?).map_err(|e| match e {
        pem::Error::NoItemsFound => bad_key("no PRIVATE KEY block".into()),
        e => bad_key(e.to_string()),
    })?;
    let provider = rustls::crypto::ring::default_provider();
    match CertifiedKey::from_der(chain, key, &provider) {
        Ok(pair) => Ok(Arc::new(pair)),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        }),
        Err(
            e @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented),
        ) => Err(bad_cert(e.to_string())),
        Err(e) => Err(bad_key(e.to_string())),
    }
}

/// How long a certificate from [`self_signed`] is valid. Clients such as
/// Apple's refuse server certificates valid for more than 825 days.
pub const SELF_SIGNED_DAYS: i64 = 365;

/// A self-signed certificate and its key, both PEM.
#[derive(Debug)]
pub struct SelfSigned {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (ECDSA P-256, PKCS#8).
    pub key_pem: String,
    /// When the certificate stops being valid.
    pub not_after: OffsetDateTime,
}

/// Makes a self-signed server certificate naming exactly `hosts` (DNS
/// names, or IP addresses as IP SANs); the first is also the common name.
pub fn self_signed(hosts: &[String]) -> Result<SelfSigned, TlsError> {
    let mut names = Vec::with_capacity(hosts.len());
    for host in hosts {
        // Parse at the edge: rcgen takes any ASCII as a DNS name.
        let parsed =
            ServerName::try_from(host.as_str()).map_err(|_| TlsError::Host(host.clone()))?;
        names.push(match parsed {
            ServerName::IpAddress(ip) => rcgen::SanType::IpAddress(std::net::IpAddr::from(ip)),
            _ => rcgen::SanType::DnsName(
                host.clone()
                    .try_into()
                    .map_err(|_| TlsError::Host(host.clone()))?,
            ),
        });
    }
    let first = hosts.first().ok_or_else(|| TlsError::Host(String::new()))?;
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = names;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, first.as_str());
    let now = OffsetDateTime::now_utc();
    // A little slack for clients whose clocks run behind.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().map_err(TlsError::Generate)?;
    let cert = params.self_signed(&key).map_err(TlsError::Generate)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: params.not_after,
    })
}

/// Where [`write_pair`] put the files.
#[derive(Debug)]
pub struct Written {
    /// The certificate file.
    pub cert: PathBuf,
    /// The key file (mode 0600 on Unix).
    pub key: PathBuf,
}

/// Writes `cert.pem` and `key.pem` into `dir`, creating it if needed.
/// Refuses to replace either file unless `force`. Each file is written
/// beside its final name and renamed into place, so a reload never reads a
/// half-written file; the key is created readable by its owner only.
pub fn write_pair(dir: &Path, pair: &SelfSigned, force: bool) -> Result<Written, TlsError> {
    let written = Written {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    if !force {
        for path in [&written.cert, &written.key] {
            if path.exists() {
                return Err(TlsError::Exists(path.clone()));
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    // A reload between the two renames sees a key that is not the
    // certificate's, refuses the pair and keeps the one in service.
    write_file(&written.key, pair.key_pem.as_bytes(), 0o600)?;
    write_file(&written.cert, pair.cert_pem.as_bytes(), 0o644)?;
    Ok(written)
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    crate::replace_file::replace_file(path, mode, |f| f.write_all(contents)).map_err(|source| {
        TlsError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair_in(dir: &Path, host: &str) -> Written {
        write_pair(dir, &self_signed(&[host.to_owned()]).unwrap(), true).unwrap()
    }

    #[test]
    fn a_self_signed_pair_loads() {
        let dir = tempfile::tempdir().unwrap();
        let files = pair_in(dir.path(), "localhost");
        Tls::load(&files.cert, &files.key).unwrap();
    }

    #[test]
    fn hosts_that_are_neither_names_nor_addresses_are_refused() {
        let err = self_signed(&["not a host".to_owned()]).unwrap_err();
        assert!(matches!(err, TlsError::Host(_)), "{err}");
        self_signed(&["192.0.2.7".to_owned(), "::1".to_owned()]).unwrap();
    }

    #[test]
    fn a_key_from_another_pair_is_a_mismatch_naming_both_files() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (first, second) = (pair_in(a.path(), "a.test"), pair_in(b.path(), "b.test"));
        let err = Tls::load(&first.cert, &second.key).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&first.cert.display().to_string()), "{text}");
        assert!(text.contains(&second.key.display().to_string()), "{text}");
    }

    #[test]
    fn garbage_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = pair_in(dir.path(), "localhost");
        std::fs::write(&files.cert, "not pem").unwrap();
        let err = Tls::load(&files.cert, &files.key).unwrap_err();
        assert!(matches!(err, TlsError::Certificate { .. }), "{err}");
        let files = pair_in(dir.path(), "localhost");
        std::fs::write(&files.key, "not pem").unwrap();
        let err = Tls::load(&files.cert, &files.key).unwrap_err();
        assert!(matches!(err, TlsError::Key { .. }), "{err}");
        assert!(err.to_string().contains("key.pem"), "{err}");
    }

    #[test]
    fn a_failed_reload_keeps_the_current_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let files = pair_in(dir.path(), "localhost");
        let tls = Tls::load(&files.cert, &files.key).unwrap();
        let before = Arc::clone(&tls.current.0.read().unwrap());
        std::fs::write(&files.key, "not pem").unwrap();
        tls.reload().unwrap_err();
        assert!(Arc::ptr_eq(&before, &tls.current.0.read().unwrap()));
        pair_in(dir.path(), "localhost");
        tls.reload().unwrap();
        assert_ne!(before.cert, tls.current.0.read().unwrap().cert);
    }

    #[test]
    fn existing_files_are_kept_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let files = pair_in(dir.path(), "localhost");
        let before = std::fs::read(&files.cert).unwrap();
        let fresh = self_signed(&["localhost".to_owned()]).unwrap();
        let err = write_pair(dir.path(), &fresh, false).unwrap_err();
        assert!(matches!(err, TlsError::Exists(_)), "{err}");
        assert_eq!(std::fs::read(&files.cert).unwrap(), before);
    }
}
