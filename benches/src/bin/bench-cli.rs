//! `cargo xtask bench cli`: how long the `aether` command line takes to list a million
//! actors, and how much memory it takes doing it.
//!
//! Goal (the operator CLI's): a million actors are listed in under 60 s, in under 64 MiB
//! of resident memory, measured.
//!
//! 1. A nats-server (file storage, one replica) is started in a temporary directory and a
//!    namespace opened on it; one event is stored for each of `--actors` actors (ids
//!    `actor-0000000` on), `--concurrency` appends in flight, and the fill rate printed.
//! 2. `aether --server <url> actors <ns> --json` runs as a child process, its stdout piped
//!    and its lines counted; exactly one line per actor must come out. Its wall time runs
//!    from the spawn to the exit (process start, connection and namespace open included);
//!    its peak resident memory is the kernel's high-water mark of the child (`VmHWM` in
//!    `/proc/<pid>/status`), read every 10 ms while it runs. (The children's `ru_maxrss`
//!    of `getrusage` is no use here: Linux counts in it the resident memory the spawning
//!    process, this bench, had when it spawned the child.)
//! 3. The baseline, in the same run: the listing the CLI is built on,
//!    `JetStreamEventStore::actors_stream` read in this process to its end with no output,
//!    on a namespace handle opened before the clock starts. Baseline and CLI alternate for
//!    `--rounds` rounds (default 3); each round's ratio CLI / raw (of the time per actor
//!    listed) is printed, then the medians.
//! 4. The table form (`aether actors <ns>`, no `--json`) once: a header and one row per
//!    actor. For information, also once: the paged listing, `JetStreamEventStore::actors`
//!    called page after page (1,000 actors a page, cursor to cursor) with no output.
//!
//! A listing that runs past `--max-secs` (default 180 s, three times the goal) is stopped
//! and reported with how many actors it had listed by then, so a listing far off the goal
//! does not hold the machine for long; a listing that fails is reported with its error.
//! Both goals apply to every CLI run, JSON lines and table alike, and each run must list
//! every actor; the binary exits with an error naming the runs that miss.
//!
//! The `aether` binary is the release build next to this one (`target/release/aether`),
//! which `cargo xtask bench cli` builds first; `--aether PATH` (or `AETHER_CLI_BIN`) names
//! another.
//!
//! Usage: `cargo xtask bench cli [--actors N] [--rounds R] [--concurrency C] [--max-secs S]
//! [--aether PATH]`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aether_benches::{alternate, machine, median, rate, ratios};
use aether_core::{ActorId, EventStore, ExpectedVersion, Namespace, NewEvent};
use aether_store_jetstream::{async_nats, JetStreamEventStore, JetStreamStoreOptions};
use aether_testkit::NatsServer;
use anyhow::{anyhow, bail, Context as _, Result};
use futures::stream::{self, StreamExt as _};

/// The goal on a listing's wall time, in seconds.
const GOAL_SECS: f64 = 60.0;
/// The goal on a listing's peak resident memory, in MiB.
const GOAL_MIB: f64 = 64.0;
/// Actors per page of the paged listing (for information).
const PAGE: usize = 1_000;
/// How often the child's memory high-water mark is read.
const POLL: Duration = Duration::from_millis(10);
/// The namespace the actors are stored in.
const NAMESPACE: &str = "clibench";
/// The payload of every stored event: an empty MessagePack map.
const PAYLOAD: &[u8] = &[0x80];

/// The command line.
struct Args {
    actors: usize,
    rounds: usize,
    concurrency: usize,
    max_secs: Duration,
    aether: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        actors: 1_000_000,
        rounds: 3,
        concurrency: 256,
        max_secs: Duration::from_secs(180),
        aether: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow!("{flag} needs a value"))
        };
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|_| anyhow!("{flag} takes a whole number, not {v:?}"))
        };
        match flag.as_str() {
            "--actors" => a.actors = number(value()?)?,
            "--rounds" => a.rounds = number(value()?)?,
            "--concurrency" => a.concurrency = number(value()?)?,
            "--max-secs" => a.max_secs = Duration::from_secs(number(value()?)? as u64),
            "--aether" => a.aether = Some(PathBuf::from(value()?)),
            other => bail!(
                "unknown option {other:?}; usage: bench-cli [--actors N] [--rounds R] \
                 [--concurrency C] [--max-secs S] [--aether PATH]"
            ),
        }
    }
    if a.actors == 0 || a.rounds == 0 || a.concurrency == 0 || a.max_secs.is_zero() {
        bail!("--actors, --rounds, --concurrency and --max-secs must be at least 1");
    }
    if a.actors > 10_000_000 {
        bail!("--actors is at most 10,000,000 (the ids have seven digits)");
    }
    Ok(a)
}

/// The `aether` binary: `--aether`, else `AETHER_CLI_BIN`, else the one next to this
/// binary (`target/release/aether`).
fn cli_binary(explicit: Option<PathBuf>) -> Result<PathBuf> {
    let path = match explicit.or_else(|| std::env::var_os("AETHER_CLI_BIN").map(PathBuf::from)) {
        Some(p) => p,
        None => std::env::current_exe()
            .context("finding this binary's directory")?
            .with_file_name(format!("aether{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!(
            "the aether binary is not at {}: build it with `cargo build --release -p aether-cli` \
             (`cargo xtask bench cli` does), or name it with --aether PATH",
            path.display()
        );
    }
    Ok(path)
}

/// The id of the `i`th actor.
fn actor(i: usize) -> Result<ActorId> {
    Ok(ActorId::new(format!("actor-{i:07}"))?)
}

/// Stores one event for each of `actors` actors, `concurrency` appends in flight spread
/// over one task per runtime worker, printing progress; gives the time it took.
async fn fill(store: &JetStreamEventStore, actors: usize, concurrency: usize) -> Result<Duration> {
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_workers()
        .clamp(1, concurrency);
    let done = Arc::new(AtomicU64::new(0));
    let step = (actors / 10).max(1) as u64;
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let (store, done) = (store.clone(), Arc::clone(&done));
        let in_flight = (concurrency / tasks).max(1);
        set.spawn(async move {
            let mut appends = stream::iter((t..actors).step_by(tasks))
                .map(|i| {
                    let store = &store;
                    async move {
                        let id = actor(i)?;
                        let event = NewEvent::new("Opened", PAYLOAD);
                        store
                            .append(&id, ExpectedVersion::NO_ACTOR, vec![event])
                            .await
                            .with_context(|| format!("storing the event of {id}"))?;
                        Ok::<_, anyhow::Error>(())
                    }
                })
                .buffer_unordered(in_flight);
            while let Some(r) = appends.next().await {
                r?;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % step == 0 {
                    let elapsed = start.elapsed();
                    println!(
                        "  {n:>9} actors stored in {:>6.1} s ({:.0} appends/s)",
                        elapsed.as_secs_f64(),
                        rate(n, elapsed)
                    );
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(start.elapsed())
}

/// How a listing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// It listed to the end.
    Done,
    /// It ran past `--max-secs` and was stopped.
    Stopped,
    /// It failed; the error.
    Failed(String),
}

/// One listing, raw or by the CLI: its wall time, the child's peak resident memory (CLI
/// only), the actors listed (CLI: lines printed) and how it ended.
#[derive(Debug, Clone)]
struct Listing {
    secs: f64,
    peak_mib: Option<f64>,
    listed: u64,
    end: End,
}

impl Listing {
    /// Seconds per actor listed (for the ratio of a listing stopped or failed part way).
    fn per_actor(&self) -> f64 {
        self.secs / self.listed.max(1) as f64
    }

    /// Whether it listed to the end with `expected` actors (lines).
    fn complete(&self, expected: u64) -> bool {
        self.end == End::Done && self.listed == expected
    }

    /// Whether it is complete and within both goals.
    fn met(&self, expected: u64) -> bool {
        self.complete(expected)
            && self.secs < GOAL_SECS
            && self.peak_mib.is_none_or(|m| m < GOAL_MIB)
    }

    /// Its time, or how far it got.
    fn time(&self) -> String {
        match &self.end {
            End::Done => format!("{:.2} s", self.secs),
            End::Stopped => format!("> {:.0} s (stopped)", self.secs),
            End::Failed(_) => format!("failed after {:.1} s", self.secs),
        }
    }

    /// Its peak memory, `-` when not measured.
    fn peak(&self) -> String {
        self.peak_mib.map_or("-".into(), |m| format!("{m:.1} MiB"))
    }

    /// A one-line account, with the error of a failed listing.
    fn describe(&self) -> String {
        let mut text = match self.peak_mib {
            Some(m) => format!("{}, peak {m:.1} MiB, {} lines", self.time(), self.listed),
            None => format!("{}, {} actors", self.time(), self.listed),
        };
        if let End::Failed(e) = &self.end {
            text.push_str(&format!(": {e}"));
        }
        text
    }
}

/// How the raw side lists.
#[derive(Debug, Clone, Copy)]
enum Raw {
    /// `actors_stream`, as `aether actors` does.
    Stream,
    /// `actors`, page after page of [`PAGE`] actors.
    Pages,
}

/// A raw listing: every actor, nothing printed, stopped after `cap`.
async fn raw_listing(store: &JetStreamEventStore, how: Raw, cap: Duration) -> Listing {
    let listed = AtomicU64::new(0);
    let start = Instant::now();
    let run = async {
        match how {
            Raw::Stream => raw_stream(store, &listed).await,
            Raw::Pages => raw_pages(store, &listed).await,
        }
    };
    let end = match tokio::time::timeout(cap, run).await {
        Ok(Ok(())) => End::Done,
        Ok(Err(e)) => End::Failed(format!("{e:#}")),
        Err(_) => End::Stopped,
    };
    Listing {
        secs: start.elapsed().as_secs_f64(),
        peak_mib: None,
        listed: listed.load(Ordering::Relaxed),
        end,
    }
}

/// Lists every actor with `actors_stream` (what `aether actors` is built on), counting
/// them in `listed`.
async fn raw_stream(store: &JetStreamEventStore, listed: &AtomicU64) -> Result<()> {
    let mut actors = std::pin::pin!(store.actors_stream(None));
    while let Some(actor) = actors.next().await {
        let actor = actor.with_context(|| {
            let n = listed.load(Ordering::Relaxed);
            format!("listing the actors (after {n})")
        })?;
        std::hint::black_box(&actor);
        listed.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Lists every actor with `actors`, [`PAGE`] at a time from cursor to cursor, counting
/// them in `listed`.
async fn raw_pages(store: &JetStreamEventStore, listed: &AtomicU64) -> Result<()> {
    let mut cursor = None;
    loop {
        let page = store
            .actors(None, cursor.take(), PAGE)
            .await
            .with_context(|| {
                let n = listed.load(Ordering::Relaxed);
                format!("listing the actors page by page (after {n})")
            })?;
        listed.fetch_add(page.actors.len() as u64, Ordering::Relaxed);
        std::hint::black_box(&page.actors);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// The memory high-water mark of process `pid` in KiB (`VmHWM`), if it can be read.
fn high_water_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Counts the lines read from `out` until it closes.
fn count_lines(mut out: impl std::io::Read) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        match out.read(&mut buf)? {
            0 => return Ok(lines),
            n => lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64,
        }
    }
}

/// Reads the high-water mark of `pid` every [`POLL`] until `exited`; the highest, in KiB.
fn poll_high_water(pid: u32, exited: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0u64;
        while !exited.load(Ordering::Acquire) {
            peak = peak.max(high_water_kib(pid).unwrap_or(0));
            std::thread::sleep(POLL);
        }
        peak
    })
}

/// Runs `aether --server <url> actors <ns> [--json]`, counting its lines of output and
/// reading its memory high-water mark every [`POLL`] until it exits; stopped (killed)
/// after `cap`.
fn run_cli(bin: &Path, url: &str, json: bool, cap: Duration) -> Result<Listing> {
    let mut cmd = Command::new(bin);
    cmd.args(["--server", url, "--color", "never", "actors", NAMESPACE]);
    if json {
        cmd.arg("--json");
    }
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("the child's stdout")?;
    let mut stderr = child.stderr.take().context("the child's stderr")?;
    let counter = std::thread::spawn(move || count_lines(stdout));
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let exited = Arc::new(AtomicBool::new(false));
    let poller = poll_high_water(child.id(), Arc::clone(&exited));
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for aether")? {
            break Some(status);
        }
        if start.elapsed() > cap {
            child.kill().context("stopping aether")?;
            child.wait().context("waiting for aether")?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let secs = start.elapsed().as_secs_f64();
    exited.store(true, Ordering::Release);
    let peak_kib = poller
        .join()
        .map_err(|_| anyhow!("the memory poller failed"))?;
    let listed = counter
        .join()
        .map_err(|_| anyhow!("the line counter failed"))?
        .context("reading the listing")?;
    let errors = errors.join().unwrap_or_default();
    let end = match status {
        None => End::Stopped,
        Some(s) if s.success() => End::Done,
        Some(s) => End::Failed(format!("aether exited with {s}: {}", errors.trim())),
    };
    Ok(Listing {
        secs,
        peak_mib: Some(peak_kib as f64 / 1024.0),
        listed,
        end,
    })
}

/// [`run_cli`] off the runtime's workers.
async fn cli(bin: &Path, url: &str, json: bool, cap: Duration) -> Result<Listing> {
    let (bin, url) = (bin.to_path_buf(), url.to_owned());
    tokio::task::spawn_blocking(move || run_cli(&bin, &url, json, cap)).await?
}

/// The rounds' figures: raw and CLI (`--json`) listings, alternating, and the table form.
struct Results {
    actors: u64,
    raw: Vec<Listing>,
    json: Vec<Listing>,
    table: Listing,
    /// For information: the paged listing (`actors`, [`PAGE`] at a time), once.
    paged: Listing,
}

impl Results {
    /// The per-round ratios of CLI / raw time per actor.
    fn ratios(&self) -> Vec<f64> {
        let raw: Vec<f64> = self.raw.iter().map(Listing::per_actor).collect();
        let cli: Vec<f64> = self.json.iter().map(Listing::per_actor).collect();
        ratios(&raw, &cli)
    }

    /// Why the goal is missed, run by run; empty when it is met.
    fn misses(&self) -> Vec<String> {
        let runs = self
            .json
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("--json round {}", i + 1), l, self.actors));
        let table = std::iter::once(("table".to_owned(), &self.table, self.actors + 1));
        runs.chain(table)
            .filter(|(_, l, expected)| !l.met(*expected))
            .map(|(name, l, expected)| {
                format!("{name}: {} ({expected} lines expected)", l.describe())
            })
            .collect()
    }

    /// Prints the medians and a table for the docs.
    fn print(&self) {
        let secs = |ls: &[Listing]| median(&ls.iter().map(|l| l.secs).collect::<Vec<_>>());
        let peaks: Vec<f64> = self.json.iter().filter_map(|l| l.peak_mib).collect();
        let ratio = median(&self.ratios());
        println!();
        println!(
            "median over {} rounds: raw {:.2} s, aether actors --json {:.2} s, peak {:.1} MiB \
             (highest {:.1} MiB); CLI / raw (time per actor) {ratio:.3}",
            self.json.len(),
            secs(&self.raw),
            secs(&self.json),
            median(&peaks),
            peaks.iter().copied().fold(0.0, f64::max),
        );
        println!();
        println!(
            "| {} actors | raw listing | `aether actors --json` | peak RSS | lines | CLI / raw |",
            self.actors
        );
        println!("|---|---|---|---|---|---|");
        for (i, (raw, cli)) in self.raw.iter().zip(&self.json).enumerate() {
            println!(
                "| round {} | {} | {} | {} | {} | {:.3} |",
                i + 1,
                raw.time(),
                cli.time(),
                cli.peak(),
                cli.listed,
                cli.per_actor() / raw.per_actor()
            );
        }
        println!(
            "| median | {:.2} s | {:.2} s | {:.1} MiB | | {ratio:.3} |",
            secs(&self.raw),
            secs(&self.json),
            median(&peaks)
        );
        let t = &self.table;
        println!(
            "| `aether actors` (table), once | | {} | {} | {} | {:.3} |",
            t.time(),
            t.peak(),
            t.listed,
            t.per_actor() / median(&self.raw.iter().map(Listing::per_actor).collect::<Vec<_>>())
        );
        println!(
            "| (info) raw `actors()`, pages of {PAGE}, once | {} | | | {} | |",
            self.paged.time(),
            self.paged.listed
        );
    }
}

/// Fills the namespace on a fresh server, then runs the rounds, the table form and the
/// paged listing.
async fn measure(a: &Args, bin: &Path, url: &str) -> Result<Results> {
    let ns = Namespace::new(NAMESPACE)?;
    let store = JetStreamEventStore::connect(url, ns.clone(), JetStreamStoreOptions::new())
        .await
        .context("opening the namespace")?;
    println!(
        "storing one event for each of {} actors, {} appends in flight:",
        a.actors, a.concurrency
    );
    let took = fill(&store, a.actors, a.concurrency).await?;
    println!(
        "filled in {:.1} s: {:.0} appends/s\n",
        took.as_secs_f64(),
        rate(a.actors as u64, took)
    );
    drop(store);

    // The baseline's own connection and handle, opened before any clock starts.
    let client = async_nats::connect(url).await?;
    let raw_store = JetStreamEventStore::open_existing(client, ns, JetStreamStoreOptions::new())
        .await
        .context("opening the namespace for the raw listing")?;
    let cap = a.max_secs;
    let (raw, json) = alternate!(
        a.rounds,
        r,
        {
            let l = raw_listing(&raw_store, Raw::Stream, cap).await;
            println!("round {}: raw listing {}", r + 1, l.describe());
            l
        },
        {
            let l = cli(bin, url, true, cap).await?;
            println!("round {}: aether actors --json {}", r + 1, l.describe());
            l
        }
    );
    let table = cli(bin, url, false, cap).await?;
    println!("aether actors (table): {}", table.describe());
    let paged = raw_listing(&raw_store, Raw::Pages, cap).await;
    println!(
        "(info) paged listing, actors() {PAGE} at a time: {}",
        paged.describe()
    );
    Ok(Results {
        actors: a.actors as u64,
        raw,
        json,
        table,
        paged,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let bin = cli_binary(a.aether.clone())?;
    let server = NatsServer::start();
    let url = server.url();
    let client = async_nats::connect(&url).await?;
    println!(
        "nats-server {}, file storage, 1 replica; aether binary {}",
        client.server_info().version,
        bin.display()
    );
    println!("machine: {}", machine());
    println!(
        "listings stopped after {:.0} s; goal: under {GOAL_SECS:.0} s and {GOAL_MIB:.0} MiB\n",
        a.max_secs.as_secs_f64()
    );
    let results = measure(&a, &bin, &url).await?;
    results.print();
    let misses = results.misses();
    if !misses.is_empty() {
        bail!(
            "goal missed (a listing of {} actors in under {GOAL_SECS:.0} s and {GOAL_MIB:.0} MiB):\n  {}",
            a.actors,
            misses.join("\n  ")
        );
    }
    println!("\ngoal met: every listing under {GOAL_SECS:.0} s and {GOAL_MIB:.0} MiB");
    Ok(())
}
