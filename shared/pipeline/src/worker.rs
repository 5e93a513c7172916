//! The two worker shapes of the pipeline, each written once: a [`Fetcher`] reads one side of a
//! session for a sync job; a [`Writer`] carries out one side's write batch. The skeleton of each
//! — decode, the side check, the attempt budget, publishing with confirm, and (by returning
//! `Ok`) the ack — lives here; a service only says how it reads or writes.

use std::future::Future;

use contracts::{
    ChangeBatch, Commands, Failure, Header, Message, SideRead, SyncJob, WriteBatch, WriteResults,
};
use messaging::{Delivery, HandlerError};
use sync_core::{Disposition, WriteResult};
use sync_state::{StateError, users};

use crate::{ClientError, Ctx, Service, ServiceSettings as _};

/// Where a delivery stands in its attempt budget (`AMQP_DELIVERY_LIMIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Delivered before (or seen before by the writer): some of its effect may have landed.
    pub redelivered: bool,
    /// No redelivery follows this attempt: trouble now is reported, not retried.
    pub last: bool,
}

impl Attempt {
    fn of<S: Service>(ctx: &Ctx<S>, delivery: &Delivery) -> Attempt {
        let limit = ctx.settings.common().delivery_limit;
        Attempt {
            redelivered: delivery.redelivered() || delivery.delivery_count() > 0,
            last: delivery.delivery_count() + 1 >= limit,
        }
    }
}

/// The service's queue as a sentence names it: `exchange-fetcher` → "exchange fetcher".
fn queue_name<S: Service>() -> String {
    S::NAME.replace('-', " ")
}

/// A fetcher: reads its side of a session and publishes it as a change batch.
pub trait Fetcher: Service {
    /// Its side in message ids (`read.exchange`).
    const SIDE: &'static str;
    /// What it reads, as a failed read says (`mailbox read failed: …`).
    const READS: &'static str;
    type Error: std::error::Error + Send + Sync + 'static;

    /// What to do next about a failed read: retried while attempts remain when transient
    /// (outage, throttling, database trouble); its code goes with the failed read.
    fn disposition(error: &Self::Error) -> Disposition;

    /// Reads the side since its cursor: the changes and the cursor after them.
    fn read(
        ctx: &Ctx<Self>,
        job: &SyncJob,
    ) -> impl Future<Output = Result<(SideRead, serde_json::Value), Self::Error>> + Send;

    /// The read of a side that could not be read (it decides nothing, C5).
    fn failed_read() -> SideRead;
}

/// Handles one sync job of a [`Fetcher`]; `Ok` means the change batch was published with confirm.
pub async fn fetch<F: Fetcher>(ctx: &Ctx<F>, delivery: Delivery) -> Result<(), HandlerError> {
    let message: Message = delivery
        .decode()
        .map_err(|e| HandlerError::reject(e).context("not a Contactsync message"))?;
    let Message::SyncJob(job) = message else {
        return Err(HandlerError::reject(format!(
            "{} does not belong on the {}'s queue",
            message.schema(),
            queue_name::<F>()
        )));
    };
    let header = Header::derived(
        job.header.job_id,
        &job.header.user_id,
        &format!("read.{}", F::SIDE),
        chrono::Utc::now(),
    );
    // Before the first read: a sync request that still finds the session unmarked joins it and
    // relies on this read coming after it (SPEC §4 `sync?wait`).
    mark_reading(ctx, &job).await?;
    let batch = match F::read(ctx, &job).await {
        Ok((read, cursor)) => ChangeBatch {
            header,
            read,
            cursor: Some(cursor),
            failure: None,
        },
        // Transient trouble: let the broker redeliver while attempts remain; after that, report
        // the read as failed so the session ends (and deletes nothing, C5) instead of hanging.
        Err(e) if F::disposition(&e).is_transient() && !Attempt::of(ctx, &delivery).last => {
            return Err(HandlerError::retry(e));
        }
        Err(e) => {
            tracing::warn!(user_id = %job.header.user_id, error = %e, reads = F::READS, "The read failed.");
            ChangeBatch {
                header,
                read: F::failed_read(),
                cursor: None,
                failure: Some(Failure::from_disposition(
                    F::disposition(&e),
                    format!("{} read failed: {e}", F::READS),
                )),
            }
        }
    };
    crate::publish_message(&ctx.publisher, &Message::ChangeBatch(batch))
        .await
        .map_err(HandlerError::retry)
}

/// Marks the job's session as reading; committed before the read starts.
async fn mark_reading<S: Service>(ctx: &Ctx<S>, job: &SyncJob) -> Result<(), HandlerError> {
    let client = ctx
        .pool
        .get()
        .await
        .map_err(|e| HandlerError::retry(e).context("marking the session reading"))?;
    sync_state::request::mark_reading(&**client, job.header.job_id)
        .await
        .map_err(|e| HandlerError::retry(e).context("marking the session reading"))?;
    Ok(())
}

/// What became of a write batch: one result per command, in order, unless the API could not be
/// reached for some of them, in which case `failure` says why and the session must run again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub results: Vec<WriteResult>,
    pub failure: Option<Failure>,
}

/// Why a batch could not be carried out at all.
#[derive(Debug)]
pub struct Unavailable {
    /// Worth a redelivery while attempts remain (the database, a dropped connection): the
    /// error the redelivery is for.
    pub transient: Option<HandlerError>,
    /// What the results say once no redelivery follows.
    pub failure: Failure,
}

impl Unavailable {
    /// The sync state could not be read: `what` failed.
    pub fn state(what: &str, error: StateError) -> Self {
        let failure = Failure::from_disposition(error.disposition(), format!("{what}: {error}"));
        Unavailable {
            transient: error.is_transient().then(|| HandlerError::retry(error)),
            failure,
        }
    }

    /// No client for the user's org: `api` names it.
    pub fn client(api: &str, error: ClientError) -> Self {
        let failure =
            Failure::from_disposition(error.disposition(), format!("no {api} client: {error}"));
        Unavailable {
            transient: match error {
                ClientError::State(e) if e.is_transient() => Some(HandlerError::retry(e)),
                _ => None,
            },
            failure,
        }
    }
}

/// A writer: carries out one side's write batch for its user and publishes the results.
pub trait Writer: Service {
    /// Its side in message ids (`result.exchange.3`).
    const SIDE: &'static str;
    /// What it writes to, as a log line says.
    const WRITES: &'static str;
    type Command: Send + Sync;

    /// The batch's commands when they are this writer's side; the batch back otherwise.
    fn commands(commands: Commands) -> Result<Vec<Self::Command>, Commands>;

    /// Whether this writer saw the batch before (a redelivery, or an outbox repeat after a crash
    /// between the confirm and the outbox delete); `Err` asks for a redelivery. Writers whose
    /// every write is idempotent keep the default.
    fn seen_before(
        _ctx: &Ctx<Self>,
        _header: &Header,
    ) -> impl Future<Output = Result<bool, HandlerError>> + Send {
        std::future::ready(Ok(false))
    }

    /// Carries out `commands` for `user`.
    fn write(
        ctx: &Ctx<Self>,
        user: &users::User,
        commands: &[Self::Command],
        attempt: Attempt,
    ) -> impl Future<Output = Result<Executed, Unavailable>> + Send;
}

/// Handles one write batch of a [`Writer`]; `Ok` means its results were published with confirm.
pub async fn write<W: Writer>(ctx: &Ctx<W>, delivery: Delivery) -> Result<(), HandlerError> {
    let message: Message = delivery
        .decode()
        .map_err(|e| HandlerError::reject(e).context("not a Contactsync message"))?;
    let schema = message.schema();
    let wrong = |schema: &str| {
        HandlerError::reject(format!(
            "{schema} (or its side) does not belong on the {}'s queue",
            queue_name::<W>()
        ))
    };
    let Message::WriteBatch(WriteBatch {
        header,
        batch: number,
        commands,
    }) = message
    else {
        return Err(wrong(schema));
    };
    let commands = W::commands(commands).map_err(|_| wrong(schema))?;
    let seen_before = W::seen_before(ctx, &header).await?;
    let mut attempt = Attempt::of(ctx, &delivery);
    attempt.redelivered |= seen_before;
    let executed = write_batch::<W>(ctx, &header, &commands, attempt).await?;
    if let Some(failure) = &executed.failure {
        tracing::warn!(user_id = %header.user_id, job_id = %header.job_id, batch = number, %failure, writes = W::WRITES, "A write batch could not be carried out.");
    }
    let results = Message::WriteResults(WriteResults {
        header: Header::derived(
            header.job_id,
            &header.user_id,
            &format!("result.{}.{number}", W::SIDE),
            chrono::Utc::now(),
        ),
        batch: number,
        results: executed.results,
        failure: executed.failure,
    });
    crate::publish_message(&ctx.publisher, &results)
        .await
        .map_err(|e| HandlerError::retry(e).context("publishing the results"))
}

/// Carries out one batch for its user. `Err` only for trouble worth a redelivery while attempts
/// remain; anything else, and the last attempt's trouble, is reported in `Executed::failure`,
/// so the session ends instead of waiting for a dead-lettered batch.
#[tracing::instrument(skip_all, fields(user_id = %header.user_id, job_id = %header.job_id, commands = commands.len()))]
async fn write_batch<W: Writer>(
    ctx: &Ctx<W>,
    header: &Header,
    commands: &[W::Command],
    attempt: Attempt,
) -> Result<Executed, HandlerError> {
    let user = match load_user(ctx, &header.user_id).await {
        Ok(user) => Ok(user),
        Err(e) => Err(Unavailable::state("the user cannot be loaded", e)),
    };
    let written = match user {
        Ok(user) => W::write(ctx, &user, commands, attempt).await,
        Err(unavailable) => Err(unavailable),
    };
    match written {
        Ok(executed) => {
            tracing::info!(
                results = executed.results.len(),
                failed = executed.failure.is_some(),
                redelivered = attempt.redelivered,
                writes = W::WRITES,
                "Wrote the batch."
            );
            Ok(executed)
        }
        Err(Unavailable {
            transient: Some(retry),
            ..
        }) if !attempt.last => Err(retry),
        Err(e) => Ok(Executed {
            results: Vec::new(),
            failure: Some(e.failure),
        }),
    }
}

async fn load_user<S: Service>(ctx: &Ctx<S>, user_id: &str) -> Result<users::User, StateError> {
    let client = ctx.pool.get().await?;
    users::get_user(&**client, user_id).await
}
