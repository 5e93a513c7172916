//! Building and running the emulator: bind, serve, stop on cancellation.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::server::{self, Shared};

/// A bound, ready-to-run emulator.
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl App {
    /// Binds the listener. Port 0 picks a free port (tests).
    pub async fn build(config: Config) -> std::io::Result<App> {
        let tls = config
            .tls
            .as_ref()
            .map(emulator_tls::acceptor)
            .transpose()?;
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        Ok(App {
            listener,
            local_addr,
            shared: Arc::new(Shared::new(config)),
            tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT`, `https://` with TLS (a wildcard bind is reported as loopback).
    pub fn base_url(&self) -> String {
        let mut addr = self.local_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{addr}")
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let router = axum::Router::new()
            .fallback(server::entry)
            .with_state(self.shared.clone());
        tracing::info!(addr = %self.local_addr, tls = self.tls.is_some(), "Gmail emulator listening");
        emulator_tls::serve(self.listener, self.tls, router, shutdown).await
    }
}
