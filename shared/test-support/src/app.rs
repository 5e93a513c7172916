//! One service running in the test process on a fresh database and queue prefix.

use std::sync::Arc;

use config::Env;
use pipeline::{AppError, Ctx, Service, ServiceSettings as _};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A key test stacks seal org credentials with (base64 of 32 zero bytes).
pub const TEST_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
/// The admin token of test stacks.
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token";

/// One service running in the test process.
pub struct TestApp<S: Service> {
    /// What its logic gets: the broker, the publisher, the pool, its settings and clients.
    pub ctx: Arc<Ctx<S>>,
    /// Its database, migrated.
    pub pool: store::Pool,
    /// Its queue prefix.
    pub prefix: String,
    stop: CancellationToken,
    task: Option<JoinHandle<Result<(), AppError>>>,
    database: Option<store::testing::TestDatabase>,
}

/// Starts service `S` on a fresh database and queue prefix, its HTTP ports free ones, the test
/// key and token set, and `env` over all that.
pub async fn spawn_app<S: Service>(env: &[(&str, &str)]) -> TestApp<S> {
    telemetry::init_for_tests();
    let database = store::testing::fresh_database()
        .await
        .expect("PostgreSQL must run on 127.0.0.1 (scripts/test starts it)");
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let env = Env::from_pairs([
        ("DATABASE_URL", database.url.as_str()),
        ("QUEUE_PREFIX", prefix.as_str()),
        ("HTTP_LISTEN", "127.0.0.1:0"),
        ("OPS_LISTEN", "127.0.0.1:0"),
        ("DATABASE_POOL_SIZE", "3"),
        ("SHUTDOWN_GRACE_SECS", "5"),
        ("CONTACTSYNC_ENCRYPTION_KEY", TEST_KEY),
        ("ADMIN_TOKEN", TEST_ADMIN_TOKEN),
    ])
    .with_overrides(env.iter().copied());
    let settings = S::Settings::from_source(&env).expect("test settings are valid");
    let app = pipeline::App::<S>::build(settings)
        .await
        .expect("RabbitMQ and PostgreSQL must run on 127.0.0.1 (scripts/test starts them)");
    let ctx = app.ctx();
    let stop = CancellationToken::new();
    let task = tokio::spawn(app.run_until_stopped(stop.clone()));
    TestApp {
        ctx,
        pool: database.pool.clone(),
        prefix,
        stop,
        task: Some(task),
        database: Some(database),
    }
}

impl<S: Service> TestApp<S> {
    /// Consumes `queue` (on this app's prefix) until the app stops, acking every delivery and
    /// handing its decoded body to the receiver: what the service published, as the next
    /// service would get it.
    pub fn consume<T>(&self, queue: messaging::Queue) -> mpsc::UnboundedReceiver<T>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        let (sender, receiver) = mpsc::unbounded_channel();
        let broker = self.ctx.broker.clone();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            messaging::consume(
                &broker,
                queue,
                move |delivery| {
                    let sender = sender.clone();
                    async move {
                        if let Ok(body) = delivery.decode::<T>() {
                            let _ = sender.send(body);
                        }
                        Ok(())
                    }
                },
                stop,
            )
            .await
        });
        receiver
    }

    /// Stops the service (failing the test if it failed while running), then drops its queues
    /// and database.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await
                .expect("the service panicked")
                .expect("the service failed");
        }
        cleanup(&self.prefix, self.database.take()).await;
    }
}

impl<S: Service> Drop for TestApp<S> {
    /// A test that failed before `stop` still leaves no queues or database behind.
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let Some(database) = self.database.take() else {
            return;
        };
        let prefix = self.prefix.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(cleanup(&prefix, Some(database)));
            }
        })
        .join();
    }
}

/// Deletes a test's queues and database (best effort: what is left is only litter).
async fn cleanup(prefix: &str, database: Option<store::testing::TestDatabase>) {
    if let Ok(broker) = messaging::Broker::connect(
        config::DEFAULT_AMQP_URL,
        prefix,
        messaging::BrokerSettings::default(),
    )
    .await
    {
        let _ = broker.delete_topology().await;
        broker.close().await;
    }
    if let Some(database) = database {
        let _ = database.drop_database().await;
    }
}
