//! The broker scenarios of `contactsync bench`: sequential publish-with-confirm → consume → ack
//! round trips through the real RabbitMQ, by our messaging crate (the services' path: the
//! declared topology, publisher confirms with trace headers, the consumer loop that acks after
//! its handler) and, for the floor, by raw `lapin` with nothing of ours around it doing the same
//! round trips on the same kind of queue (quorum, durable, persistent messages, publisher
//! confirms, manual acks, the same prefetch). The two alternate in short rounds, so that the load
//! other work puts on this machine falls on both alike.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use messaging::{Broker, BrokerSettings, Publisher, Queue, Route};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bench_report::{Chart, Series};

/// Round trips before the measured ones, per path (connections, channels and caches warm).
const WARM_UP: usize = 20;
/// Measured rounds per path, alternating, and the time each takes.
const ROUNDS: usize = 6;
const ROUND: Duration = Duration::from_millis(500);
/// At most this many round trips per path.
const MAX_ROUND_TRIPS: usize = 5_000;

/// Round trips per second and the 99th percentile of one, by our messaging crate and by raw
/// `lapin` (the floor), with both latency distributions for the report.
pub struct RoundTrips {
    pub per_second: f64,
    pub p99_ms: f64,
    pub raw_per_second: f64,
    pub raw_p99_ms: f64,
    pub latencies: Chart,
}

/// The round trips, measured once per run for both broker scenarios.
pub async fn round_trips() -> anyhow::Result<&'static RoundTrips> {
    static MEASURED: tokio::sync::OnceCell<RoundTrips> = tokio::sync::OnceCell::const_new();
    MEASURED.get_or_try_init(measure).await
}

async fn measure() -> anyhow::Result<RoundTrips> {
    let url = config::Env::process()
        .get("AMQP_URL")
        .unwrap_or_else(|| config::DEFAULT_AMQP_URL.to_owned());
    let name = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let ours = Ours::start(&url, &name).await?;
    let raw = match Raw::start(&url, &name).await {
        Ok(raw) => raw,
        Err(e) => {
            ours.stop().await;
            return Err(e);
        }
    };
    let mut paths = [Path::Ours(ours), Path::Raw(Box::new(raw))];
    let measured = alternate(&mut paths).await;
    for path in paths {
        path.stop().await;
    }
    let [ours, raw] = measured?;
    Ok(RoundTrips {
        per_second: ours.per_second(),
        p99_ms: ours.p99_ms(),
        raw_per_second: raw.per_second(),
        raw_p99_ms: raw.p99_ms(),
        latencies: Chart::Distribution {
            title: "Publish with confirm → consume → ack, one at a time".to_owned(),
            unit: "ms".to_owned(),
            series: vec![ours.series("messaging crate"), raw.series("raw lapin")],
        },
    })
}

/// What one path measured: each round trip's time and the time they took together.
#[derive(Default)]
struct Timings {
    latencies: Vec<Duration>,
    busy: Duration,
}

impl Timings {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.busy.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn p99_ms(&self) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(sorted.len().saturating_mul(99) / 100)
            .or(sorted.last())
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0
    }

    fn series(&self, name: &str) -> Series {
        Series {
            name: name.to_owned(),
            samples: self
                .latencies
                .iter()
                .map(|l| l.as_secs_f64() * 1000.0)
                .collect(),
            at_seconds: Vec::new(),
        }
    }
}

/// Warms both paths up, then runs them in alternating rounds.
async fn alternate(paths: &mut [Path; 2]) -> anyhow::Result<[Timings; 2]> {
    let mut sent = 0;
    for path in paths.iter_mut() {
        for _ in 0..WARM_UP {
            path.round_trip(sent).await?;
            sent += 1;
        }
    }
    let mut timings = [Timings::default(), Timings::default()];
    for _ in 0..ROUNDS {
        for (path, timings) in paths.iter_mut().zip(&mut timings) {
            let round = Instant::now();
            while round.elapsed() < ROUND && timings.latencies.len() < MAX_ROUND_TRIPS {
                let one = Instant::now();
                path.round_trip(sent).await?;
                sent += 1;
                timings.latencies.push(one.elapsed());
            }
            timings.busy += round.elapsed();
        }
    }
    Ok(timings)
}

enum Path {
    Ours(Ours),
    Raw(Box<Raw>),
}

impl Path {
    /// Publishes message `n` with confirm and waits until its consumer has it.
    async fn round_trip(&mut self, n: usize) -> anyhow::Result<()> {
        let arrived = match self {
            Path::Ours(ours) => {
                ours.publisher
                    .publish(Route::ChangeBatch, &format!("bench-{n}"), &n)
                    .await?;
                &mut ours.arrived
            }
            Path::Raw(raw) => {
                raw.publish(n).await?;
                &mut raw.arrived
            }
        };
        arrived.recv().await.context("the consumer stopped")
    }

    async fn stop(self) {
        match self {
            Path::Ours(ours) => ours.stop().await,
            Path::Raw(raw) => (*raw).stop().await,
        }
    }
}

/// Our messaging crate on a topology of its own (prefix `name`), consuming the reconciler's
/// change queue.
struct Ours {
    broker: Broker,
    publisher: Publisher,
    arrived: mpsc::UnboundedReceiver<()>,
    shutdown: CancellationToken,
    consumer: JoinHandle<Result<(), messaging::MessagingError>>,
}

impl Ours {
    async fn start(url: &str, prefix: &str) -> anyhow::Result<Ours> {
        let broker = Broker::connect(url, prefix, BrokerSettings::default()).await?;
        let publisher = broker.publisher().await?;
        let (arrived_tx, arrived) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let consumer = {
            let broker = broker.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                messaging::consume(
                    &broker,
                    Queue::ReconcilerChanges,
                    move |_delivery| {
                        let arrived_tx = arrived_tx.clone();
                        async move {
                            let _ = arrived_tx.send(());
                            Ok(())
                        }
                    },
                    shutdown,
                )
                .await
            })
        };
        Ok(Ours {
            broker,
            publisher,
            arrived,
            shutdown,
            consumer,
        })
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.consumer.await;
        if let Err(error) = self.broker.delete_topology().await {
            tracing::warn!(%error, "The bench's topology was not deleted.");
        }
        self.broker.close().await;
    }
}

/// Raw `lapin`: one connection, a confirm-mode channel publishing to a quorum queue of its own
/// through the default exchange, and a consumer that acks each delivery as it arrives.
struct Raw {
    connection: Connection,
    channel: Channel,
    queue: ShortString,
    arrived: mpsc::UnboundedReceiver<()>,
    consumer: JoinHandle<anyhow::Result<()>>,
}

impl Raw {
    async fn start(url: &str, name: &str) -> anyhow::Result<Raw> {
        let connection = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let queue = ShortString::from(format!("{name}.raw"));
        let mut arguments = FieldTable::default();
        // The same kind of queue as the services' work queues.
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        channel
            .queue_declare(queue.clone(), QueueDeclareOptions::durable(), arguments)
            .await?;
        let consuming = connection.create_channel().await?;
        consuming
            .basic_qos(config::DEFAULT_PREFETCH, BasicQosOptions::default())
            .await?;
        let mut deliveries = consuming
            .basic_consume(
                queue.clone(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let (arrived_tx, arrived) = mpsc::unbounded_channel();
        let consumer = tokio::spawn(async move {
            while let Some(delivery) = deliveries.next().await {
                let delivery = delivery?;
                let _ = arrived_tx.send(());
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Ok(())
        });
        Ok(Raw {
            connection,
            channel,
            queue,
            arrived,
            consumer,
        })
    }

    /// Publishes message `n` as the services do (persistent JSON with a message id), mandatory,
    /// and waits for the broker's confirm.
    async fn publish(&self, n: usize) -> anyhow::Result<()> {
        let properties = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_delivery_mode(2)
            .with_message_id(ShortString::from(format!("bench-{n}")));
        let confirmation = self
            .channel
            .basic_publish(
                ShortString::from(""),
                self.queue.clone(),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                &serde_json::to_vec(&n)?,
                properties,
            )
            .await?
            .await?;
        anyhow::ensure!(
            confirmation.is_ack() && confirmation.take_message().is_none(),
            "the broker did not take message {n}"
        );
        Ok(())
    }

    async fn stop(self) {
        let deleted = self
            .channel
            .queue_delete(self.queue.clone(), QueueDeleteOptions::default())
            .await;
        if let Err(error) = deleted {
            tracing::warn!(%error, "The bench's raw queue was not deleted.");
        }
        let _ = self.connection.close(200, "OK".into()).await;
        self.consumer.abort();
    }
}
