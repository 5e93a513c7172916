//! The broker connection survives a network cut: the supervisor re-dials, consumers re-subscribe
//! and publishing works again. The cut is real: a TCP proxy between us and RabbitMQ drops every
//! connection.

mod common;

use std::sync::Arc;

use common::{eventually, next};
use messaging::{Broker, BrokerSettings, Queue, Route, consume};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Forwards 127.0.0.1:<port> to RabbitMQ; `cut` drops every open connection (new ones still
/// work); `stall` keeps them open but stops forwarding, like a network that silently eats packets.
struct Proxy {
    port: u16,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Cancelled to stall the current connections; replaced by `cut`, so new ones flow again.
    stall: Arc<Mutex<CancellationToken>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let stall: Arc<Mutex<CancellationToken>> = Arc::default();
        let accept = {
            let connections = Arc::clone(&connections);
            let stall = stall.clone();
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let stall = stall.lock().clone();
                    let pipe = tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect("127.0.0.1:5672").await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            () = stall.cancelled() => {
                                // Hold both sockets open, forwarding nothing, until cut.
                                let _open = (inbound, outbound);
                                std::future::pending::<()>().await;
                            }
                        }
                    });
                    connections.lock().push(pipe);
                }
            })
        };
        Proxy {
            port,
            connections,
            stall,
            accept,
        }
    }

    fn cut(&self) {
        for pipe in self.connections.lock().drain(..) {
            pipe.abort();
        }
        *self.stall.lock() = CancellationToken::new();
    }

    fn stall(&self) {
        self.stall.lock().cancel();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test]
async fn consuming_and_publishing_resume_after_the_connection_is_cut() {
    let proxy = Proxy::start().await;
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let broker = Broker::connect(&url, &prefix, BrokerSettings::default())
        .await
        .expect("connect through the proxy");
    let publisher = broker.publisher().await.expect("publisher");

    let (received_tx, mut received) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let task = {
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            consume(
                &broker,
                Queue::ReconcilerChanges,
                move |delivery| {
                    let received_tx = received_tx.clone();
                    async move {
                        let _ = received_tx.send(delivery.message_id().map(str::to_owned));
                        Ok(())
                    }
                },
                shutdown,
            )
            .await
        })
    };
    publisher
        .publish(Route::ChangeBatch, "before-cut", &1)
        .await
        .expect("publish");
    assert_eq!(next(&mut received).await.as_deref(), Some("before-cut"));

    proxy.cut();
    eventually("the broker to notice the cut", || async {
        !broker.is_ready().await
    })
    .await;
    eventually("the supervisor to reconnect", || async {
        broker.is_ready().await
    })
    .await;

    publisher
        .publish(Route::ChangeBatch, "after-cut", &2)
        .await
        .expect("publishing works again");
    // "before-cut" may come again: its ack can die with the connection, and then the broker
    // redelivers it (at least once, never lost). Nothing else may arrive.
    loop {
        match next(&mut received).await.as_deref() {
            Some("after-cut") => break,
            Some("before-cut") => continue,
            other => panic!("unexpected delivery {other:?}"),
        }
    }

    shutdown.cancel();
    task.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn a_publish_whose_confirm_never_comes_fails_after_the_timeout() {
    let proxy = Proxy::start().await;
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let settings = BrokerSettings {
        confirm_timeout: std::time::Duration::from_millis(300),
        ..BrokerSettings::default()
    };
    let broker = Broker::connect(&url, &prefix, settings)
        .await
        .expect("connect through the proxy");
    let publisher = broker.publisher().await.expect("publisher");
    publisher
        .publish(Route::ChangeBatch, "before-stall", &1)
        .await
        .expect("publish");

    proxy.stall();
    let error = publisher
        .publish(Route::ChangeBatch, "into-the-void", &2)
        .await
        .expect_err("no confirm can arrive");
    assert!(
        matches!(error, messaging::MessagingError::ConfirmTimeout { .. }),
        "{error:?}"
    );

    // Once the dead connection is noticed (here: cut), the supervisor re-dials and publishing
    // works again.
    proxy.cut();
    eventually("the supervisor to reconnect", || async {
        publisher
            .publish(Route::ChangeBatch, "after", &3)
            .await
            .is_ok()
    })
    .await;
    broker.delete_topology().await.expect("cleanup");
}
