//! Helpers shared by the `the_runtime_*` tests: a tally aggregate, ask traffic with
//! caller-supplied command ids that records every outcome, retries with the same ids, and
//! the check that every command id stored exactly one event and got the reply its event
//! implies.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code, reason = "each runtime test uses a part of these helpers")]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether::{
    ActorSystem, Actors, Aggregate, AskErrorKind, CommandNames, DescribeAggregate, EventNames,
    EventStoreExt, Uuid,
};
use aether_core::{ActorId, EventStore};
use serde::{Deserialize, Serialize};

use crate::common::chain;

/// Adds numbers; its reply is the running total, so a reply tells how many commands ran
/// before it.
#[derive(Default, DescribeAggregate)]
#[aether(type_name = "Tally")]
pub(crate) struct Tally;

/// The commands of [`Tally`].
#[derive(Debug, Clone, Serialize, Deserialize, CommandNames)]
pub(crate) enum TallyCommand {
    /// Adds the number (one event).
    Add(u64),
    /// The total, from memory (no event).
    Total,
}

/// The one event of [`Tally`].
#[derive(Debug, Serialize, Deserialize, EventNames)]
pub(crate) enum TallyEvent {
    /// A number was added.
    Added(u64),
}

impl Aggregate for Tally {
    type Command = TallyCommand;
    type Event = TallyEvent;
    type State = u64;
    type Reply = u64;
    type Error = ();
    fn decide(&self, total: &u64, command: &TallyCommand) -> Result<(Vec<TallyEvent>, u64), ()> {
        match command {
            TallyCommand::Add(n) => Ok((vec![TallyEvent::Added(*n)], total + n)),
            TallyCommand::Total => Ok((Vec::new(), *total)),
        }
    }
    fn apply(total: &mut u64, TallyEvent::Added(n): &TallyEvent) {
        *total += n;
    }
}

/// The id of tally actor `a`.
pub(crate) fn tally(a: usize) -> ActorId {
    ActorId::new(format!("tally-{a:03}")).expect("valid actor id")
}

/// A system on `store` whose asks give up after `ask_timeout`.
pub(crate) fn system(store: impl EventStore, ask_timeout: Duration) -> ActorSystem {
    ActorSystem::builder()
        .store(store)
        .ask_timeout(ask_timeout)
        .build()
        .expect("an actor system")
}

/// How an ask that was not answered failed.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The error's kind.
    pub(crate) kind: AskErrorKind,
    /// Whether the runtime said the command may have run.
    pub(crate) may_have_run: bool,
    /// Whether the runtime said asking again may succeed.
    pub(crate) retryable: bool,
    /// The error's message and those of its sources ([`chain`]).
    pub(crate) message: String,
}

/// One `Add` asked with a caller-supplied command id, and what came of it.
#[derive(Debug, Clone)]
pub(crate) struct Asked {
    /// The actor asked.
    pub(crate) actor: ActorId,
    /// The command id.
    pub(crate) id: Uuid,
    /// The number added.
    pub(crate) n: u64,
    /// The reply, once answered.
    pub(crate) reply: Option<u64>,
    /// Why the first attempt was not answered.
    pub(crate) failure: Option<Failure>,
}

/// How many asks failed with each kind of error, for the test's log.
pub(crate) fn failure_kinds(asked: &[Asked]) -> String {
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for f in asked.iter().filter_map(|a| a.failure.as_ref()) {
        *kinds.entry(f.kind.to_string()).or_default() += 1;
    }
    format!("{kinds:?}")
}

/// Asks `Add(n)` with command id `id` once, recording the outcome.
pub(crate) async fn ask_once(tallies: &Actors<Tally>, actor: &ActorId, n: u64, id: Uuid) -> Asked {
    let outcome = tallies
        .ask(actor, TallyCommand::Add(n))
        .command_id(id)
        .await;
    let (reply, failure) = match outcome {
        Ok(Ok(total)) => (Some(total), None),
        Ok(Err(())) => panic!("{actor}: Add is never rejected"),
        Err(e) => (
            None,
            Some(Failure {
                kind: e.kind(),
                may_have_run: e.may_have_run(),
                retryable: e.is_retryable(),
                message: chain(&e),
            }),
        ),
    };
    Asked {
        actor: actor.clone(),
        id,
        n,
        reply,
        failure,
    }
}

/// Asks `Add(n)` with `id` until it is answered, retrying every retryable failure with the
/// same id for up to `patience`; returns the reply and the failed attempts.
///
/// # Panics
/// On an error that retrying cannot fix, or when `patience` runs out.
pub(crate) async fn ask_until_answered(
    tallies: &Actors<Tally>,
    actor: &ActorId,
    n: u64,
    id: Uuid,
    patience: Duration,
) -> (u64, usize) {
    let deadline = Instant::now() + patience;
    let mut failures = 0;
    loop {
        match tallies
            .ask(actor, TallyCommand::Add(n))
            .command_id(id)
            .await
        {
            Ok(Ok(total)) => return (total, failures),
            Ok(Err(())) => panic!("{actor}: Add is never rejected"),
            Err(e) => {
                assert!(
                    e.is_retryable(),
                    "{actor}, command {id}: {} error that no retry fixes: {e}",
                    e.kind()
                );
                failures += 1;
                assert!(
                    Instant::now() < deadline,
                    "{actor}, command {id}: still failing after {patience:?}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Asks every command of `asked` again with its id (each actor's in order, actors at once)
/// until answered. An ask answered before must get its original reply; the others get
/// theirs now. Returns how many retries failed and were retried again.
pub(crate) async fn retry_all(
    tallies: &Actors<Tally>,
    asked: &mut [Asked],
    patience: Duration,
) -> usize {
    let mut by_actor: HashMap<ActorId, Vec<&mut Asked>> = HashMap::new();
    for a in asked.iter_mut() {
        by_actor.entry(a.actor.clone()).or_default().push(a);
    }
    let retries = by_actor.into_values().map(|asks| async move {
        let mut failures = 0;
        for a in asks {
            let (reply, f) = ask_until_answered(tallies, &a.actor, a.n, a.id, patience).await;
            failures += f;
            if let Some(first) = a.reply {
                assert_eq!(reply, first, "{}: command {} re-asked", a.actor, a.id);
            }
            a.reply = Some(reply);
        }
        failures
    });
    futures::future::join_all(retries).await.into_iter().sum()
}

/// Reads `actor`'s history: its total, and the running total at the event of each command
/// id. Checks that versions are contiguous and that no command id caused two events.
pub(crate) async fn totals_by_command(
    store: &dyn EventStore,
    actor: &ActorId,
) -> (u64, HashMap<Uuid, u64>) {
    let events = store
        .read_all(actor)
        .await
        .unwrap_or_else(|e| panic!("reading {actor}: {} error: {e}", e.kind()));
    let mut total = 0;
    let mut total_at: HashMap<Uuid, u64> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.version, i as u64 + 1, "{actor}: gap at position {i}");
        let TallyEvent::Added(n) = e.decode().expect("a tally event");
        total += n;
        let cause = e.metadata.causation_id.expect("a causation id");
        assert!(
            total_at.insert(cause, total).is_none(),
            "{actor}: command {cause} stored twice (again at version {})",
            e.version
        );
    }
    (total, total_at)
}

/// Checks `actor`'s stored history against the commands asked of it: every event was
/// caused by one of them, each command id caused exactly one event (`at_most_once`: at most
/// one, for asks whose outcome is still open), and each answered command's reply is the
/// running total at its event (so it ran once, in history order). Returns the total.
pub(crate) async fn assert_stored_once(
    store: &dyn EventStore,
    actor: &ActorId,
    asked: &[Asked],
    at_most_once: bool,
) -> u64 {
    let (total, total_at) = totals_by_command(store, actor).await;
    let mine: Vec<&Asked> = asked.iter().filter(|a| &a.actor == actor).collect();
    let ids: HashSet<Uuid> = mine.iter().map(|a| a.id).collect();
    for cause in total_at.keys() {
        assert!(
            ids.contains(cause),
            "{actor}: event of unknown command {cause}"
        );
    }
    for a in &mine {
        match (a.reply, total_at.get(&a.id)) {
            (Some(reply), Some(at)) => assert_eq!(
                reply, *at,
                "{actor}: command {} answered {reply}, its event makes {at}",
                a.id
            ),
            (Some(reply), None) => panic!(
                "{actor}: command {} was answered ({reply}) but stored nothing",
                a.id
            ),
            (None, None) if at_most_once => {}
            (None, None) => panic!("{actor}: command {} stored nothing", a.id),
            (None, Some(_)) => {}
        }
    }
    total
}

/// The actors `asked` went to, in order of their ids.
pub(crate) fn actors_of(asked: &[Asked]) -> Vec<ActorId> {
    let set: HashSet<&ActorId> = asked.iter().map(|a| &a.actor).collect();
    let mut actors: Vec<ActorId> = set.into_iter().cloned().collect();
    actors.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    actors
}

/// Checks every actor of `asked` once all its asks are answered: one event per command id,
/// each reply the running total at its event, and the total the sum of all numbers asked.
pub(crate) async fn assert_each_ran_once(store: &dyn EventStore, asked: &[Asked]) {
    for actor in actors_of(asked) {
        let total = assert_stored_once(store, &actor, asked, false).await;
        let sum: u64 = asked.iter().filter(|a| a.actor == actor).map(|a| a.n).sum();
        assert_eq!(total, sum, "{actor}: every command ran exactly once");
    }
}

/// Asks every unanswered command of `asked` again with its id until answered, then once
/// more: the second retry must get the first one's reply and store nothing (it never runs
/// twice). Fills in the replies.
pub(crate) async fn retry_unanswered_twice(
    tallies: &Actors<Tally>,
    store: &dyn EventStore,
    asked: &mut [Asked],
    patience: Duration,
) {
    let actors = actors_of(asked);
    let stored = || async {
        let mut n = 0;
        for actor in &actors {
            n += store.count_events(actor).await.expect("count events");
        }
        n
    };
    let mut open: Vec<Asked> = asked
        .iter()
        .filter(|a| a.reply.is_none())
        .cloned()
        .collect();
    retry_all(tallies, &mut open, patience).await;
    let after_first = stored().await;
    retry_all(tallies, &mut open, patience).await;
    assert_eq!(stored().await, after_first, "a retried command ran twice");
    let replies: HashMap<Uuid, Option<u64>> = open.iter().map(|a| (a.id, a.reply)).collect();
    for a in asked.iter_mut().filter(|a| a.reply.is_none()) {
        a.reply = replies[&a.id];
    }
}

/// The check after a fault, on `store` (a fresh connection) and a fresh system whose asks
/// give up after `ask_timeout`: every acknowledged ask of `asked` to tally actors
/// `0..actors` is stored once, the others at most once; asked again twice with their ids,
/// each of those runs once. Fills in the replies.
pub(crate) async fn assert_kept_and_retried_once<S: EventStore + Clone>(
    store: S,
    actors: usize,
    asked: &mut [Asked],
    ask_timeout: Duration,
    patience: Duration,
) {
    for a in 0..actors {
        assert_stored_once(&store, &tally(a), asked, true).await;
    }
    let fresh = system(store.clone(), ask_timeout);
    let tallies = fresh.actors::<Tally>();
    retry_unanswered_twice(&tallies, &store, asked, patience).await;
    fresh.shutdown().await;
    assert_each_ran_once(&store, asked).await;
}

/// Runs blocking work on a server (a kill, a pause, a restart) off the runtime's threads.
pub(crate) async fn blocking(work: impl FnOnce() + Send + 'static) {
    tokio::task::spawn_blocking(work)
        .await
        .expect("blocking server work");
}

/// Clients asking `Add` with fresh command ids, each in a loop, until stopped; every ask and
/// its outcome is recorded.
pub(crate) struct Traffic {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    clients: Vec<tokio::task::JoinHandle<Vec<Asked>>>,
}

impl Traffic {
    /// Starts `per_actor` clients for each of `actors` tally actors, each pausing `pace`
    /// between its asks; `round` keeps the numbers of different rounds apart.
    pub(crate) fn start(
        tallies: &Actors<Tally>,
        actors: usize,
        per_actor: usize,
        pace: Duration,
        round: usize,
    ) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for a in 0..actors {
            for c in 0..per_actor {
                let (tallies, stop) = (tallies.clone(), stop.clone());
                let (answered, failed) = (answered.clone(), failed.clone());
                clients.push(tokio::spawn(async move {
                    let actor = tally(a);
                    let mut asked = Vec::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let n = (round as u64) << 40 | (c as u64) << 24 | i;
                        let outcome = ask_once(&tallies, &actor, n, aether::new_id()).await;
                        let counter = if outcome.reply.is_some() {
                            &answered
                        } else {
                            &failed
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        asked.push(outcome);
                        i += 1;
                        tokio::time::sleep(pace).await;
                    }
                    asked
                }));
            }
        }
        Traffic {
            stop,
            answered,
            failed,
            clients,
        }
    }

    /// How many asks were answered so far.
    pub(crate) fn answered(&self) -> usize {
        self.answered.load(Ordering::Relaxed)
    }

    /// How many asks failed so far.
    pub(crate) fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    /// Waits until `target` asks have been answered.
    ///
    /// # Panics
    /// When that takes longer than `within`.
    pub(crate) async fn wait_answered(&self, target: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.answered() < target {
            assert!(
                Instant::now() < deadline,
                "only {} of {target} asks answered within {within:?} ({} failed)",
                self.answered(),
                self.failed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the clients and returns every ask they made.
    ///
    /// # Panics
    /// When a client does not stop within `within` (its last ask never came back).
    pub(crate) async fn stop(self, within: Duration) -> Vec<Asked> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for c in self.clients {
            let asked = tokio::time::timeout(within, c)
                .await
                .unwrap_or_else(|_| panic!("a client still asking {within:?} after the stop"))
                .expect("client task");
            all.extend(asked);
        }
        all
    }
}
