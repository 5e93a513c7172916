//! HTTPS for the emulators, as the real services speak TLS only: clients that hard-code
//! `https://` (simple-salesforce) or that treat only `https` URLs as their API (Microsoft's Graph
//! SDKs attach the token and follow `@odata.nextLink` only then) need nothing but the dev CA to
//! trust. Both emulators serve the same dev-only certificate for `127.0.0.1`/`localhost`, signed
//! by one dev-only CA ([`DEV_CA_PEM`]). Handshakes run off the accept loop so one slow client
//! cannot stall the others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, rustls};
use tokio_util::sync::CancellationToken;

/// A handshake taking longer than this is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Completed handshakes waiting for the server to pick them up.
const BACKLOG: usize = 256;

/// DEV ONLY: the CA that signed [`DEV_CERT_PEM`]; clients of an HTTPS emulator trust it.
pub const DEV_CA_PEM: &str = include_str!("../fixtures/dev-only-tls-ca.pem");
/// DEV ONLY: server certificate for `127.0.0.1` and `localhost`.
pub const DEV_CERT_PEM: &str = include_str!("../fixtures/dev-only-tls-cert.pem");
/// DEV ONLY: the key of [`DEV_CERT_PEM`].
pub const DEV_KEY_PEM: &str = include_str!("../fixtures/dev-only-tls-key.pem");

/// Server certificate chain and key, PEM.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert_chain_pem: String,
    pub private_key_pem: String,
}

impl TlsConfig {
    /// DEV ONLY: the committed certificate for `127.0.0.1`/`localhost`, signed by
    /// [`DEV_CA_PEM`].
    pub fn dev() -> TlsConfig {
        TlsConfig {
            cert_chain_pem: DEV_CERT_PEM.to_string(),
            private_key_pem: DEV_KEY_PEM.to_string(),
        }
    }

    /// `dev`, or a chain and key read from files (`{PREFIX}_TLS`, `{PREFIX}_TLS_CERT_FILE` +
    /// `{PREFIX}_TLS_KEY_FILE`), as each emulator's configuration reads them; `Ok(None)`: HTTP.
    pub fn from_vars(
        mode: Option<&str>,
        cert_file: Option<&str>,
        key_file: Option<&str>,
    ) -> Result<Option<TlsConfig>, String> {
        let mut tls = match mode.map(str::trim).filter(|m| !m.is_empty()) {
            None => None,
            Some(m) if m.eq_ignore_ascii_case("dev") => Some(TlsConfig::dev()),
            Some(other) => return Err(format!("expected dev, got {other:?}")),
        };
        match (cert_file, key_file) {
            (Some(cert), Some(key)) => {
                let read = |path: &str| {
                    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
                };
                tls = Some(TlsConfig {
                    cert_chain_pem: read(cert)?,
                    private_key_pem: read(key)?,
                });
            }
            (None, None) => {}
            _ => return Err("the TLS certificate and key files go together".to_owned()),
        }
        Ok(tls)
    }
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("TLS configuration: {e}"),
    )
}

pub fn acceptor(cfg: &TlsConfig) -> std::io::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_slice_iter(cfg.cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let key = PrivateKeyDer::from_pem_slice(cfg.private_key_pem.as_bytes()).map_err(invalid)?;
    // The provider is chosen explicitly: the process may link more than one.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(invalid)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(invalid)?;
    // The router speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TCP connections, completes handshakes in their own tasks, and hands finished
/// TLS streams to axum.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    pub fn new(
        tcp: TcpListener,
        acceptor: TlsAcceptor,
        shutdown: CancellationToken,
    ) -> std::io::Result<TlsListener> {
        let addr = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = shutdown.cancelled() => return,
                    r = tcp.accept() => r,
                };
                let (stream, peer) = match accepted {
                    Ok(v) => v,
                    Err(e) => {
                        // Typically out of file descriptors: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "Accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop has stopped (shutdown): never yield another connection.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// Serves `router` on `listener` until `shutdown`, over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let stop = shutdown.clone().cancelled_owned();
    match tls {
        Some(acceptor) => {
            let listener = TlsListener::new(listener, acceptor, shutdown)?;
            axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_certificate_and_key_make_an_acceptor() {
        assert!(acceptor(&TlsConfig::dev()).is_ok());
    }

    #[test]
    fn tls_settings_are_dev_or_a_pair_of_files() {
        assert!(matches!(TlsConfig::from_vars(None, None, None), Ok(None)));
        assert!(matches!(
            TlsConfig::from_vars(Some("DEV"), None, None),
            Ok(Some(_))
        ));
        assert!(TlsConfig::from_vars(Some("prod"), None, None).is_err());
        assert!(TlsConfig::from_vars(None, Some("/cert.pem"), None).is_err());
        assert!(TlsConfig::from_vars(None, Some("/nonexistent"), Some("/nonexistent")).is_err());
    }
}
