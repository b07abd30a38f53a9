//! `aether`, the operator CLI of Aether: looks into what Aether stored on NATS JetStream,
//! without changing anything. It lists namespaces and their actors, shows an actor's events
//! (payloads decoded from MessagePack to JSON) and retained snapshots, follows new events as
//! they are stored, and checks a namespace: streams and settings, every record decodable,
//! every actor's versions contiguous.
//!
//! ```text
//! $ cargo install --path crates/aether-cli
//! $ export AETHER_NATS_URL=nats://127.0.0.1:4222
//! $ aether namespaces
//! NAMESPACE  RECORDS  ACTORS  BYTES    SNAPSHOTS  SNAPSHOT-BYTES  PROBLEM
//! bank             2       2  1.1 KiB          1           301 B
//! $ aether actors bank --prefix acc-
//! ACTOR      VERSION  LAST-STORED
//! acc-alice        1  2025-01-07T10:00:03.184275716Z
//! acc-bob          2  2025-01-07T10:00:04.184608601Z
//! $ aether events bank acc-bob
//! VERSION  TYPE       TIMESTAMP                       CAUSATION  CORRELATION                           DATA
//!       1  Opened     2025-01-07T10:00:04.184608601Z  -          01a23d87-8480-7b58-923e-81738b59bed4  {"owner":"bob"}
//!       2  Deposited  2025-01-07T10:00:04.184608601Z  -          -                                     {"amount":5}
//! $ aether events bank acc-bob --from 2 --json
//! {"actor":"acc-bob","aggregate_type":"Account","causation_id":null,"command":null,...,"version":2}
//! $ aether snapshots bank acc-bob
//! SEQ  VERSION  SCHEMA  POSITION  TIMESTAMP                       SIZE   STORED
//!   1        2       1         2  2025-01-07T10:00:05.185168553Z  100 B  inline
//! $ aether tail bank --type Deposited
//! #3  2025-01-07T10:02:00.5Z  acc-bob  v3  Deposited  {"amount":7}
//! ^C
//! $ aether check bank
//! 3 records, 4 events, 2 actors checked: ok
//! ```
//!
//! Tables are for people: colour only on a terminal (`--color` to choose), progress on
//! stderr only when it is a terminal. `--json` prints one JSON object per line instead.
//! Errors are one line on stderr, `error: <what>: <cause>: ...`; the exit code is 0 on
//! success, 1 when `check` found something wrong, 2 for a usage or connection error.

mod actors;
mod check;
mod connect;
mod events;
mod namespaces;
mod output;
mod payload;
mod snapshots;
mod tail;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::{ColorChoice, Output};

/// Inspect what Aether stored on NATS JetStream (read-only).
#[derive(Debug, Parser)]
#[command(name = "aether", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    connection: connect::ConnectArgs,
    /// Print JSON lines (one object per line) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// When to colour the tables.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the namespaces with their counts and sizes, and any problem found.
    Namespaces,
    /// List the actors of a namespace with their versions.
    Actors(actors::Args),
    /// Show an actor's events.
    Events(events::Args),
    /// Show an actor's retained snapshots.
    Snapshots(snapshots::Args),
    /// Follow the events of a namespace as they are stored.
    Tail(tail::Args),
    /// Check a namespace: streams, settings, records and versions.
    Check(check::Args),
}

/// What a command reports when it ends without an error.
enum Outcome {
    /// All is well (exit code 0).
    Ok,
    /// A check found problems (exit code 1).
    Problems,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => Err(anyhow::Error::new(e).context("starting the async runtime")),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        // The reader went away (`aether actors bank | head`): nothing more to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", output::causes(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let mut out = Output::new(cli.json, cli.color);
    let outcome = match cli.command {
        Command::Namespaces => namespaces::run(&cli.connection, &mut out).await,
        Command::Actors(args) => actors::run(&cli.connection, &args, &mut out).await,
        Command::Events(args) => events::run(&cli.connection, &args, &mut out).await,
        Command::Snapshots(args) => snapshots::run(&cli.connection, &args, &mut out).await,
        Command::Tail(args) => tail::run(&cli.connection, &args, &mut out).await,
        Command::Check(args) => check::run(&cli.connection, &args, &mut out).await,
    };
    // What was printed before an error is still worth having.
    let flushed = out.flush();
    let outcome = outcome?;
    flushed?;
    Ok(outcome)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
