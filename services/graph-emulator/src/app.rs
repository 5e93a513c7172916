//! Building and running the emulator: bind, serve, expire subscriptions, stop on cancellation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::server::{self, Shared};

/// How often expired subscriptions are swept away.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

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
        // Subscribers are reached directly (in-cluster or on localhost), never through a proxy;
        // a local subscriber may serve the dev certificate, so the dev CA is trusted too.
        let dev_ca = reqwest::Certificate::from_pem(emulator_tls::DEV_CA_PEM.as_bytes())
            .map_err(std::io::Error::other)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .add_root_certificate(dev_ca)
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared::new(config, http, CancellationToken::new()));
        Ok(App {
            listener,
            local_addr,
            shared,
            tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT`, `https://` with TLS (a wildcard bind is reported as loopback,
    /// which reaches it).
    pub fn base_url(&self) -> String {
        let mut addr = self.local_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{addr}")
    }

    /// Serves until `shutdown` is cancelled, then stops notification deliveries.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let shared = self.shared.clone();
        let sweeper = tokio::spawn({
            let shared = shared.clone();
            async move {
                let mut tick = tokio::time::interval(SWEEP_INTERVAL);
                loop {
                    tokio::select! {
                        () = shared.shutdown.cancelled() => return,
                        _ = tick.tick() => {
                            let removed = shared.subscriptions.sweep(chrono::Utc::now());
                            if removed > 0 {
                                tracing::info!(removed, "Expired subscriptions removed");
                            }
                        }
                    }
                }
            }
        });
        let router = axum::Router::new()
            .fallback(server::entry)
            .with_state(shared.clone());
        tracing::info!(addr = %self.local_addr, tls = self.tls.is_some(), "Graph emulator listening");
        let served = emulator_tls::serve(self.listener, self.tls, router, shutdown).await;
        shared.shutdown.cancel();
        let _ = sweeper.await;
        served
    }
}
