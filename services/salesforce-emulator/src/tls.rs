//! Optional HTTPS, as real Salesforce only speaks TLS: clients that hard-code `https://` in
//! front of the instance host (simple-salesforce) then need nothing but the CA to trust.
//! Handshakes run off the accept loop so one slow client cannot stall the others.

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

/// Server certificate chain and key, PEM.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert_chain_pem: String,
    pub private_key_pem: String,
}

impl TlsConfig {
    /// DEV ONLY: the committed certificate for `127.0.0.1`/`localhost`, signed by
    /// [`crate::DEV_TLS_CA_PEM`].
    pub fn dev() -> TlsConfig {
        TlsConfig {
            cert_chain_pem: crate::DEV_TLS_CERT_PEM.to_string(),
            private_key_pem: crate::DEV_TLS_KEY_PEM.to_string(),
        }
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
