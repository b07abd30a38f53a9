//! Shared fixtures of the runtime's integration tests: a small `Wallet` aggregate and a
//! store wrapper that can fail, slow down and record what it is asked.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of these helpers"
)]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aether_actor::Aggregate;
use aether_core::{
    async_trait, ActorId, ActorSnapshot, Appended, Error, Event, EventStore, EventStream,
    ExpectedVersion, Namespace, NewEvent, Result, Version,
};
use aether_store_mem::InMemoryEventStore;
use serde::{Deserialize, Serialize};

/// A wallet: deposits and withdrawals, with side effects counted by `on_persisted`.
#[derive(Default, Clone, aether_macros::DescribeAggregate)]
#[aether(
    crate = "aether_core",
    type_name = "Wallet",
    command = WalletCommand,
    event = WalletEvent
)]
pub struct Wallet {
    pub side_effects: Arc<AtomicUsize>,
    pub activations: Arc<AtomicUsize>,
    pub passivations: Arc<AtomicUsize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, aether_macros::CommandNames)]
#[aether(crate = "aether_core")]
pub enum WalletCommand {
    Deposit(u64),
    Withdraw(u64),
    /// Deposits each amount as its own event, in one append.
    DepositMany(Vec<u64>),
    /// Accepted without events.
    Peek,
    /// Panics in `decide`.
    Explode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, aether_macros::EventNames)]
#[aether(crate = "aether_core")]
pub enum WalletEvent {
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WalletState {
    pub balance: u64,
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WalletError {
    InsufficientFunds { balance: u64, wanted: u64 },
}

impl Aggregate for Wallet {
    type Command = WalletCommand;
    type Event = WalletEvent;
    type State = WalletState;
    /// The balance after the command.
    type Reply = u64;
    type Error = WalletError;

    fn decide(
        &self,
        s: &WalletState,
        c: &WalletCommand,
    ) -> std::result::Result<(Vec<WalletEvent>, u64), WalletError> {
        match c {
            WalletCommand::Deposit(n) => {
                Ok((vec![WalletEvent::Deposited { amount: *n }], s.balance + n))
            }
            WalletCommand::Withdraw(n) if *n > s.balance => Err(WalletError::InsufficientFunds {
                balance: s.balance,
                wanted: *n,
            }),
            WalletCommand::Withdraw(n) => {
                Ok((vec![WalletEvent::Withdrawn { amount: *n }], s.balance - n))
            }
            WalletCommand::DepositMany(ns) => Ok((
                ns.iter()
                    .map(|n| WalletEvent::Deposited { amount: *n })
                    .collect(),
                s.balance + ns.iter().sum::<u64>(),
            )),
            WalletCommand::Peek => Ok((vec![], s.balance)),
            WalletCommand::Explode => panic!("decide exploded"),
        }
    }

    fn apply(s: &mut WalletState, e: &WalletEvent) {
        s.events += 1;
        match e {
            WalletEvent::Deposited { amount } => s.balance += amount,
            WalletEvent::Withdrawn { amount } => s.balance -= amount,
        }
    }

    fn on_activate(&self, _: &ActorId, _: &WalletState) {
        self.activations.fetch_add(1, Ordering::SeqCst);
    }

    fn on_persisted(&self, _: &ActorId, _: &WalletState, _: &[Arc<Event>]) {
        self.side_effects.fetch_add(1, Ordering::SeqCst);
    }

    fn on_passivate(&self, _: &ActorId, _: &WalletState) {
        self.passivations.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn ns() -> Namespace {
    Namespace::new("test").unwrap()
}

pub fn id(s: &str) -> ActorId {
    ActorId::new(s).unwrap()
}

/// An in-memory store that can fail appends (before or after storing), delay them, and
/// records the lower bound of every streaming read.
#[derive(Clone, Default)]
pub struct TestStore {
    pub inner: Arc<Knobs>,
}

pub struct Knobs {
    pub store: InMemoryEventStore,
    /// Appends fail without storing.
    pub fail_appends: AtomicBool,
    /// Appends store, then report a failure (a lost acknowledgement).
    pub fail_after_append: AtomicBool,
    /// Snapshot loads and saves fail.
    pub fail_snapshots: AtomicBool,
    /// Snapshot loads find a snapshot the store cannot decode.
    pub corrupt_snapshots: AtomicBool,
    /// Appends wait this many milliseconds first.
    pub append_delay_ms: AtomicU64,
    /// Snapshot loads (the start of an activation) wait this many milliseconds first.
    pub load_delay_ms: AtomicU64,
    /// How many appends have started.
    pub appends_started: AtomicUsize,
    /// The `from` of each `read_stream`.
    pub stream_reads: Mutex<Vec<Version>>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            store: InMemoryEventStore::new(ns()),
            fail_appends: AtomicBool::new(false),
            fail_after_append: AtomicBool::new(false),
            fail_snapshots: AtomicBool::new(false),
            corrupt_snapshots: AtomicBool::new(false),
            append_delay_ms: AtomicU64::new(0),
            load_delay_ms: AtomicU64::new(0),
            appends_started: AtomicUsize::new(0),
            stream_reads: Mutex::new(Vec::new()),
        }
    }
}

impl TestStore {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn mem(&self) -> &InMemoryEventStore {
        &self.inner.store
    }
    pub fn set_fail_appends(&self, on: bool) {
        self.inner.fail_appends.store(on, Ordering::SeqCst);
    }
    pub fn set_fail_after_append(&self, on: bool) {
        self.inner.fail_after_append.store(on, Ordering::SeqCst);
    }
    pub fn set_fail_snapshots(&self, on: bool) {
        self.inner.fail_snapshots.store(on, Ordering::SeqCst);
    }
    pub fn set_corrupt_snapshots(&self, on: bool) {
        self.inner.corrupt_snapshots.store(on, Ordering::SeqCst);
    }
    pub fn set_append_delay(&self, d: Duration) {
        self.inner
            .append_delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }
    pub fn set_load_delay(&self, d: Duration) {
        self.inner
            .load_delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }
    pub fn appends_started(&self) -> usize {
        self.inner.appends_started.load(Ordering::SeqCst)
    }
    pub fn stream_reads(&self) -> Vec<Version> {
        self.inner.stream_reads.lock().unwrap().clone()
    }
    /// Waits until `n` appends have started.
    pub async fn wait_for_appends(&self, n: usize) {
        for _ in 0..500 {
            if self.appends_started() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!(
            "only {} appends started, wanted {n}",
            self.appends_started()
        );
    }
}

#[async_trait]
impl EventStore for TestStore {
    fn namespace(&self) -> &Namespace {
        self.inner.store.namespace()
    }
    async fn append(
        &self,
        actor: &ActorId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended> {
        self.inner.appends_started.fetch_add(1, Ordering::SeqCst);
        let delay = self.inner.append_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.inner.fail_appends.load(Ordering::SeqCst) {
            return Err(Error::unavailable("injected append failure", "test store"));
        }
        let r = self.inner.store.append(actor, expected, events).await?;
        if self.inner.fail_after_append.load(Ordering::SeqCst) {
            return Err(Error::unavailable(
                "injected lost acknowledgement",
                "test store",
            ));
        }
        Ok(r)
    }
    async fn read(
        &self,
        actor: &ActorId,
        from: Version,
        to: Version,
        max: usize,
    ) -> Result<Vec<Event>> {
        self.inner.store.read(actor, from, to, max).await
    }
    fn read_stream(&self, actor: &ActorId, from: Version, to: Version) -> EventStream {
        self.inner.stream_reads.lock().unwrap().push(from);
        self.inner.store.read_stream(actor, from, to)
    }
    async fn latest_version(&self, actor: &ActorId) -> Result<Version> {
        self.inner.store.latest_version(actor).await
    }
    async fn save_snapshot(&self, snapshot: ActorSnapshot) -> Result<()> {
        if self.inner.fail_snapshots.load(Ordering::SeqCst) {
            return Err(Error::unavailable(
                "injected snapshot failure",
                "test store",
            ));
        }
        self.inner.store.save_snapshot(snapshot).await
    }
    async fn load_snapshot(
        &self,
        actor: &ActorId,
        at_or_below: Option<Version>,
    ) -> Result<Option<ActorSnapshot>> {
        let delay = self.inner.load_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.inner.fail_snapshots.load(Ordering::SeqCst) {
            return Err(Error::unavailable(
                "injected snapshot failure",
                "test store",
            ));
        }
        if self.inner.corrupt_snapshots.load(Ordering::SeqCst) {
            return Err(Error::Codec {
                message: "injected snapshot that does not decode".into(),
                source: None,
            });
        }
        self.inner.store.load_snapshot(actor, at_or_below).await
    }
}

/// The stored events of `actor`, decoded.
pub async fn history(store: &impl EventStore, actor: &ActorId) -> Vec<Event> {
    store.read(actor, 1, u64::MAX, usize::MAX).await.unwrap()
}

impl std::fmt::Display for WalletError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalletError::InsufficientFunds { balance, wanted } => {
                write!(f, "insufficient funds: balance {balance}, wanted {wanted}")
            }
        }
    }
}

impl std::error::Error for WalletError {}
