//! `contactsync dead-letters`: what failed for good and why, and replaying it after a fix.

use clap::{Args, Subcommand};
use messaging::{Broker, BrokerSettings, ERROR_HEADER, SOURCE_QUEUE_HEADER};

#[derive(Debug, Args)]
pub struct DeadLettersArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Prints the oldest dead letters (they stay in the queue).
    List {
        #[arg(long, default_value_t = 20)]
        max: usize,
    },
    /// Republishes dead letters on their original route, oldest first.
    Replay {
        #[arg(long, default_value_t = 1)]
        max: usize,
    },
}

/// Longest body excerpt `list` prints.
const BODY_EXCERPT: usize = 300;

pub async fn run(args: DeadLettersArgs) -> anyhow::Result<()> {
    let env = config::Env::process();
    let url = config::SecretUrl::parse(
        "AMQP_URL",
        &env.get("AMQP_URL")
            .unwrap_or_else(|| config::DEFAULT_AMQP_URL.to_owned()),
        &["amqp", "amqps"],
    )?;
    let prefix = env
        .get("QUEUE_PREFIX")
        .unwrap_or_else(|| config::DEFAULT_QUEUE_PREFIX.to_owned());
    let settings = BrokerSettings {
        connection_name: "contactsync dead-letters".to_owned(),
        ..BrokerSettings::default()
    };
    let broker = Broker::connect(url.expose(), &prefix, settings).await?;
    match args.action {
        Action::List { max } => {
            let letters = broker.peek_dead_letters(max).await?;
            println!(
                "{} dead letter(s) shown from {prefix}.dead-letters",
                letters.len()
            );
            for letter in letters {
                let body = String::from_utf8_lossy(letter.body());
                let excerpt: String = body.chars().take(BODY_EXCERPT).collect();
                let header = |name: &str| letter.headers().get(name).cloned().unwrap_or_default();
                println!(
                    "- message_id={} route={} from={} reason={}\n  {excerpt}",
                    letter.message_id().unwrap_or("-"),
                    letter.routing_key(),
                    header(SOURCE_QUEUE_HEADER),
                    // Dead-lettered by the broker itself (e.g. a crash loop): its own reason.
                    Some(header(ERROR_HEADER))
                        .filter(|reason| !reason.is_empty())
                        .unwrap_or_else(|| header("x-first-death-reason")),
                );
            }
        }
        Action::Replay { max } => {
            let replayed = broker.replay_dead_letters(max).await?;
            println!("replayed {replayed} dead letter(s)");
        }
    }
    broker.close().await;
    Ok(())
}
