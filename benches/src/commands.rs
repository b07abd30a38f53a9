//! What the command-id benchmarks share: a counter aggregate, a history holding one command
//! far back, and the timing of late retries and of new ids from a clock behind.

use std::time::{Duration, Instant};

use aether_actor::{ActorSystem, Aggregate};
use aether_core::{
    codec, ActorId, CommandRecord, EventStore, ExpectedVersion, Metadata, NewEvent, Uuid,
};
use serde::{Deserialize, Serialize};

use crate::median;

/// A counter: `Add(n)` stores one event and answers the new total; `Peek` stores nothing.
#[derive(Debug, Default, aether_macros::DescribeAggregate)]
#[aether(
    crate = "aether_core",
    type_name = "Counter",
    command = CounterCommand,
    event = CounterEvent
)]
pub struct Counter;

/// The counter's commands.
#[derive(Debug, Serialize, Deserialize, aether_macros::CommandNames)]
#[aether(crate = "aether_core")]
pub enum CounterCommand {
    /// Adds `n`: one event.
    Add(u64),
    /// Answers the total: no event.
    Peek,
}

/// The counter's one event.
#[derive(Serialize, Deserialize, aether_macros::EventNames)]
#[aether(crate = "aether_core")]
pub enum CounterEvent {
    /// `n` was added.
    Added(u64),
}

impl Aggregate for Counter {
    type Command = CounterCommand;
    type Event = CounterEvent;
    type State = u64;
    type Reply = u64;
    type Error = ();

    fn decide(&self, total: &u64, c: &CounterCommand) -> Result<(Vec<CounterEvent>, u64), ()> {
        match c {
            CounterCommand::Add(n) => Ok((vec![CounterEvent::Added(*n)], total + n)),
            CounterCommand::Peek => Ok((vec![], *total)),
        }
    }
    fn apply(total: &mut u64, CounterEvent::Added(n): &CounterEvent) {
        *total += n;
    }
}

/// Stores, for `actor`, one command (`Add(1)` with a fresh caller id, answered 1, as the
/// runtime records it) and then `late` events of other commands, in appends of up to
/// `page` events; returns the command's id.
///
/// # Errors
/// What the store's appends return.
pub async fn history_with_a_command(
    store: &dyn EventStore,
    actor: &ActorId,
    late: u64,
    page: u64,
) -> anyhow::Result<Uuid> {
    let cmd = aether_core::new_id();
    let encoded = codec::to_vec_named(&CounterCommand::Add(1))?;
    let record = CommandRecord::new(codec::to_vec_named(&1u64)?)
        .with_command("Add", aether_core::support::command_hash(&encoded));
    let first = NewEvent::encode("Added", &CounterEvent::Added(1))?
        .with_metadata(Metadata::new().causation_id(cmd).correlation_id(cmd))
        .with_aggregate_type("Counter")
        .with_command(record);
    store
        .append(actor, ExpectedVersion::Exact(0), vec![first])
        .await?;
    let mut version = 1;
    while version < late + 1 {
        let n = (late + 1 - version).min(page);
        let other = aether_core::new_id();
        let events = (0..n)
            .map(|_| {
                Ok(NewEvent::encode("Added", &CounterEvent::Added(0))?
                    .with_metadata(Metadata::new().causation_id(other))
                    .with_aggregate_type("Counter"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        store
            .append(actor, ExpectedVersion::Exact(version), events)
            .await?;
        version += n;
    }
    Ok(cmd)
}

/// The medians, in microseconds, of a retry of the command `late` events back (answered
/// from the history: `retries` times) and of a new id from a clock 10 minutes behind (a
/// lookup that finds nothing, then the command runs: `behind` times), on a system that
/// looks every caller id up (window 0). The actor is activated first, untimed.
///
/// # Errors
/// What the store or the runtime returns.
pub async fn lookup_costs(
    store: std::sync::Arc<dyn EventStore>,
    late: u64,
    page: u64,
    retries: usize,
    behind: usize,
) -> anyhow::Result<(f64, f64)> {
    let actor = ActorId::new(format!("late-{late}"))?;
    let cmd = history_with_a_command(&*store, &actor, late, page).await?;
    let system = ActorSystem::builder()
        .shared_store(store)
        .recent_command_ids(0)
        .snapshot_every(0)
        .ask_timeout(Duration::from_secs(600))
        .build()?;
    let counters = system.actors::<Counter>();
    counters
        .ask(&actor, CounterCommand::Peek)
        .await?
        .map_err(|()| anyhow::anyhow!("rejected"))?;
    let mut retry = Vec::new();
    for _ in 0..retries {
        let start = Instant::now();
        let r = counters
            .ask(&actor, CounterCommand::Add(1))
            .command_id(cmd)
            .await?;
        retry.push(start.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(
            r == Ok(1),
            "a late retry answered {r:?}, not the original 1"
        );
    }
    let mut new = Vec::new();
    for _ in 0..behind {
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let millis = u64::try_from(now)? - 600_000;
        let start = Instant::now();
        counters
            .ask(&actor, CounterCommand::Add(0))
            .command_id(aether_core::new_id_at(millis))
            .await?
            .map_err(|()| anyhow::anyhow!("rejected"))?;
        new.push(start.elapsed().as_secs_f64() * 1e6);
    }
    system.shutdown().await;
    Ok((median(&retry), median(&new)))
}

/// 1,000 actors (`actors`), one client task each, asking `Add(1)` `per_actor` times through
/// a fresh `ActorSystem` on `store`, each ask with a caller-supplied UUID v7 id
/// (`caller_ids`) or the runtime's own; the elapsed time of the asks (the actors are
/// activated first, untimed).
///
/// # Errors
/// What the runtime returns.
pub async fn runtime_asks(
    store: std::sync::Arc<dyn EventStore>,
    tag: &str,
    actors: usize,
    per_actor: usize,
    caller_ids: bool,
) -> anyhow::Result<Duration> {
    let system = ActorSystem::builder()
        .shared_store(store)
        .never_passivate()
        .build()?;
    let counters = system.actors::<Counter>();
    let ids: Vec<ActorId> = (0..actors)
        .map(|i| ActorId::new(format!("{tag}-{i}")))
        .collect::<Result<_, _>>()?;
    for a in &ids {
        counters
            .ask(a, CounterCommand::Peek)
            .await?
            .map_err(|()| anyhow::anyhow!("rejected"))?;
    }
    let start = Instant::now();
    let clients: Vec<_> = ids
        .into_iter()
        .map(|a| {
            let counters = counters.clone();
            tokio::spawn(async move {
                for _ in 0..per_actor {
                    let ask = counters.ask(&a, CounterCommand::Add(1));
                    let ask = if caller_ids {
                        ask.command_id(aether_core::new_id())
                    } else {
                        ask
                    };
                    ask.await?.map_err(|()| anyhow::anyhow!("rejected"))?;
                }
                Ok::<_, anyhow::Error>(())
            })
        })
        .collect();
    for c in clients {
        c.await??;
    }
    let elapsed = start.elapsed();
    system.shutdown().await;
    Ok(elapsed)
}
