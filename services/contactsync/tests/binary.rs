//! The `contactsync` binary end to end: `dev` starts every service and stops cleanly on SIGTERM;
//! `migrate` creates and migrates a database; `bench --json` and `--report` write its reports.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_contactsync");

/// Kills the child if the test fails before it exits on its own.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every stdout line, read on a thread so the pipe never fills.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
    }
    receiver
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test]
async fn dev_starts_every_service_and_stops_on_sigterm() {
    let db = store::testing::fresh_database().await.expect("PostgreSQL");
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut child = Command::new(BIN)
        .args(["dev", "--seed", "none"])
        .env("DATABASE_URL", &db.url)
        .env("QUEUE_PREFIX", &prefix)
        .env("DEV_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("DEV_GRAPH_LISTEN", "127.0.0.1:0")
        .env("DEV_SALESFORCE_LISTEN", "127.0.0.1:0")
        .env("DEV_GMAIL_LISTEN", "127.0.0.1:0")
        .env("DEV_OPS_PORT_BASE", "0")
        .env("LOG_FORMAT", "json")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn contactsync dev");
    let output = lines(&mut child);
    let mut running = Running(child);

    // The table printed once everything runs: "  <name>  <url>".
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut urls = Vec::new();
    while urls.len() < 11 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = output
            .recv_timeout(remaining)
            .expect("dev printed its table before the deadline");
        let mut words = line.split_whitespace();
        if let (Some(name), Some(url), None) = (words.next(), words.next(), words.next())
            && url.starts_with("http://")
        {
            urls.push((name.to_owned(), url.to_owned()));
        }
    }
    let names: Vec<&str> = urls.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "graph-emulator",
        "salesforce-emulator",
        "gmail-emulator",
        "gateway",
        "gateway-ops",
        "scheduler",
        "exchange-fetcher",
        "salesforce-fetcher",
        "reconciler",
        "exchange-writer",
        "salesforce-writer",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }

    // Then where a newcomer looks first: the dashboard (and, with the demo, users' links).
    let public_url = urls
        .iter()
        .find(|(name, _)| name == "gateway")
        .map(|(_, url)| url.clone())
        .expect("gateway");
    let dashboard = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = output
            .recv_timeout(remaining)
            .expect("dev printed the dashboard's address before the deadline");
        if line.trim_start().starts_with("dashboard ") {
            break line;
        }
    };
    assert!(
        dashboard.contains(&format!("{public_url}/dashboard")),
        "{dashboard}"
    );

    // Every service (not the emulators) answers /readyz with 200: broker and database reachable.
    // The gateway answers on its ops port, never on its public one.
    let client = reqwest::Client::new();
    let public = &urls
        .iter()
        .find(|(name, _)| name == "gateway")
        .expect("gateway")
        .1;
    let on_public = client
        .get(format!("{public}/metrics"))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(
        on_public.status().as_u16(),
        404,
        "no /metrics on the public port"
    );
    for (name, url) in urls
        .iter()
        .filter(|(name, _)| !name.ends_with("emulator") && name != "gateway")
    {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = client
                .get(format!("{url}/readyz"))
                .send()
                .await
                .map(|response| response.status().as_u16())
                .map_err(|error| error.to_string());
            if status == Ok(200) {
                break;
            }
            assert!(Instant::now() < deadline, "{name} not ready: {status:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // The Salesforce emulator sends Outbound Messages to the gateway, as the package does, and
    // the dev org passed its check.
    let salesforce = &urls
        .iter()
        .find(|(name, _)| name == "salesforce-emulator")
        .expect("salesforce emulator")
        .1;
    let gateway = &urls
        .iter()
        .find(|(name, _)| name == "gateway")
        .expect("gateway")
        .1;
    let outbound: serde_json::Value = client
        .get(format!("{salesforce}/_emulator/outbound"))
        .send()
        .await
        .expect("outbound")
        .json()
        .await
        .expect("json");
    assert!(
        outbound
            .to_string()
            .contains(&format!("{gateway}/webhooks/salesforce")),
        "{outbound}"
    );
    let org: serde_json::Value = client
        .get(format!("{gateway}/api/v1/orgs/dev"))
        .bearer_auth("dev-admin-token")
        .send()
        .await
        .expect("org")
        .json()
        .await
        .expect("json");
    assert_eq!(org["check"]["ready"], true, "{org}");

    sigterm(&running.0);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = running.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "dev did not stop within 15 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "dev exited with {status}");

    let broker = messaging::Broker::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        &prefix,
        messaging::BrokerSettings::default(),
    )
    .await
    .expect("broker");
    broker.delete_topology().await.expect("cleanup queues");
    db.drop_database().await.expect("cleanup database");
}

#[tokio::test]
async fn migrate_creates_a_missing_database_and_applies_the_migrations() {
    let name = format!("contactsync_test_{}", uuid::Uuid::new_v4().simple());
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    for run in 0..2 {
        let status = Command::new(BIN)
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .stdout(Stdio::null())
            .status()
            .expect("run migrate");
        assert!(status.success(), "migrate run {run} failed: {status}");
    }
    let pool = store::connect(&url, 1).await.expect("pool");
    let client = pool.get().await.expect("connection");
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('orgs', 'users')",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    assert_eq!(tables, 2);
    drop(client);
    pool.close();
    let admin = store::connect("postgres://postgres@127.0.0.1:5432/postgres", 1)
        .await
        .expect("admin pool");
    admin
        .get()
        .await
        .expect("admin connection")
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .expect("cleanup");
}

#[test]
fn bench_writes_its_json_report() {
    let dir = std::env::temp_dir().join(format!("bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let report = dir.join("bench.json");
    let page = dir.join("bench.html");
    let status = Command::new(BIN)
        .args(["bench", "--only", "broker_confirmed_round_trips", "--json"])
        .arg(&report)
        .arg("--report")
        .arg(&page)
        .stdout(Stdio::null())
        .status()
        .expect("run bench");
    assert!(status.success());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report written")).expect("json");
    let scenarios = json["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 1);
    let scenario = &scenarios[0];
    assert_eq!(scenario["name"], "broker_confirmed_round_trips");
    assert_eq!(scenario["unit"], "round trips/s");
    let figure = scenario["figure"].as_f64().expect("figure");
    let floor = scenario["floor"].as_f64().expect("floor");
    // The figure is whatever this machine does; only its consistency is asserted here.
    assert!(figure > 0.0, "no round trip completed");
    let ratio = scenario["ratio"].as_f64().expect("ratio");
    assert!((ratio - figure / floor).abs() < 1e-9);
    // The same result as a page: its row, and the latency distributions (ours and raw lapin's)
    // drawn inline.
    let page = std::fs::read_to_string(&page).expect("report page written");
    let row = page
        .lines()
        .find(|l| l.starts_with("<tr><td>") && l.contains("broker_confirmed_round_trips"))
        .expect("the scenario's row");
    assert!(row.contains(&format!("<td>{figure:.1}</td>")), "{row}");
    assert_eq!(page.matches("<svg ").count(), 1);
    assert_eq!(page.matches("<polyline ").count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn dead_letters_are_listed_and_replayed_from_the_command_line() {
    use messaging::{HandlerError, Queue, Route};

    let broker = messaging::testing::isolated_broker(messaging::BrokerSettings::default())
        .await
        .expect("RabbitMQ");
    let _cleanup = messaging::testing::cleanup_on_drop(&broker);
    let publisher = broker.publisher().await.expect("publisher");
    publisher
        .publish(
            Route::ExchangeWrite,
            "cli-poison",
            &serde_json::json!({"n": 1}),
        )
        .await
        .expect("publish");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let consumer = {
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            messaging::consume(
                &broker,
                Queue::ExchangeWriterCommands,
                |_delivery| async { Err(HandlerError::reject("unknown command kind")) },
                shutdown,
            )
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while messaging::testing::ready_count(&broker, Queue::DeadLetters)
        .await
        .expect("count")
        == 0
    {
        assert!(Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    consumer.await.expect("join").expect("consume");

    let cli = |args: &[&str]| {
        let output = Command::new(BIN)
            .arg("dead-letters")
            .args(args)
            .env("QUEUE_PREFIX", broker.prefix())
            .output()
            .expect("run dead-letters");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let listed = cli(&["list"]);
    assert!(listed.contains("message_id=cli-poison"), "{listed}");
    assert!(listed.contains("reason=unknown command kind"), "{listed}");
    assert!(listed.contains("route=exchange-write"), "{listed}");

    let replayed = cli(&["replay", "--max", "5"]);
    assert!(replayed.contains("replayed 1"), "{replayed}");
    assert_eq!(
        messaging::testing::ready_count(&broker, Queue::DeadLetters)
            .await
            .expect("count"),
        0
    );
    let back = messaging::testing::take(&broker, Queue::ExchangeWriterCommands)
        .await
        .expect("take")
        .expect("the replayed message is back on its queue");
    assert_eq!(back.message_id(), Some("cli-poison"));
}
