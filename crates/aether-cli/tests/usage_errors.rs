//! Usage and connection errors, which need no server: each is one `error:` line on stderr
//! (clap's own usage message for a malformed command line) and exit code 2, with nothing
//! on stdout.

mod common;

use common::run;

#[track_caller]
fn fails_with(args: &[&str], expected: &str) {
    let r = run(args);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(r.stderr.starts_with("error: "), "{r:#?}");
    assert!(r.stderr.contains(expected), "{expected:?} not in {r:#?}");
}

#[test]
fn an_unreachable_server_is_one_error_line() {
    let r = run(&["--server", "nats://127.0.0.1:1", "namespaces"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:#?}");
    assert!(
        r.stderr
            .starts_with("error: cannot connect to NATS at nats://127.0.0.1:1: "),
        "{r:#?}"
    );
}

#[test]
fn bad_names_and_options_are_refused_before_connecting() {
    // Port 1 is never reached: these fail before connecting.
    let server = ["--server", "nats://127.0.0.1:1"];
    let with = |rest: &[&'static str]| [&server[..], rest].concat();
    fails_with(
        &with(&["actors", "no.dots"]),
        "error: namespace \"no.dots\": ",
    );
    fails_with(&with(&["events", "bank", ""]), "error: actor id \"\": ");
    fails_with(
        &with(&["--creds", "/nonexistent.creds", "namespaces"]),
        "/nonexistent.creds",
    );
    fails_with(
        &with(&["--tls-ca", "/nonexistent.pem", "namespaces"]),
        "TLS CA file",
    );
    fails_with(&["--server", ",", "namespaces"], "no server URL given");
}

#[test]
fn malformed_command_lines_are_usage_errors() {
    fails_with(&["actors"], "<NAMESPACE>");
    fails_with(&["events", "bank", "acc-1", "--from", "x"], "--from");
    fails_with(&["frobnicate"], "frobnicate");
    fails_with(&["--tls-cert", "c.pem", "namespaces"], "--tls-key");
    fails_with(&["--color", "sometimes", "namespaces"], "sometimes");
}

#[test]
fn help_names_every_command() {
    let r = run(&["--help"]).ok();
    for command in [
        "namespaces",
        "actors",
        "events",
        "snapshots",
        "tail",
        "check",
    ] {
        assert!(r.stdout.contains(command), "{command}: {}", r.stdout);
    }
}
