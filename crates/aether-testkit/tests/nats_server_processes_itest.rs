//! The testkit's nats-server processes start, die, restart, pause and form clusters.
//! Server-backed: compiled with the `itest` feature (`cargo xtask itest`).
#![cfg(feature = "itest")]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Duration;

use aether_testkit::{Auth, NatsCluster, NatsServer};

/// Connects to a client port and returns the server's `INFO` line.
fn info(port: u16) -> std::io::Result<String> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line)
}

#[test]
fn single_server_kill_and_restart_keep_port_and_store() {
    let server = NatsServer::builder().max_payload(4096).start();
    let line = info(server.port()).expect("INFO from a started server");
    assert!(line.starts_with("INFO "), "{line}");
    assert!(line.contains("\"jetstream\":true"), "{line}");
    assert!(line.contains("\"max_payload\":4096"), "{line}");
    assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
    assert!(
        server.store_dir().is_dir(),
        "JetStream created its store dir"
    );

    let port = server.port();
    let store = server.store_dir();
    server.kill();
    assert!(!server.is_running());
    assert!(info(port).is_err(), "a killed server still answers");

    server.restart();
    assert!(server.is_running());
    assert_eq!(server.port(), port);
    assert_eq!(server.store_dir(), store);
    assert!(info(port)
        .expect("INFO after restart")
        .contains("\"jetstream\":true"));
}

#[test]
fn paused_server_answers_nothing_until_resumed() {
    let server = NatsServer::start();
    server.pause();
    assert!(info(server.port()).is_err(), "a paused server sent INFO");
    server.resume();
    server.wait_ready(Duration::from_secs(10));
    assert!(info(server.port())
        .expect("INFO after resume")
        .starts_with("INFO "));
}

#[test]
fn server_with_auth_announces_it() {
    let server = NatsServer::builder().auth(Auth::token("s3cret")).start();
    let line = info(server.port()).expect("INFO");
    assert!(line.contains("\"auth_required\":true"), "{line}");
    let open = NatsServer::builder().jetstream(false).start();
    let line = info(open.port()).expect("INFO");
    assert!(!line.contains("\"auth_required\":true"), "{line}");
    assert!(!line.contains("\"jetstream\":true"), "{line}");
}

#[test]
fn three_node_cluster_forms_and_survives_a_restart() {
    let cluster = NatsCluster::start(3);
    assert_eq!(cluster.len(), 3);
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    for (i, s) in cluster.servers().iter().enumerate() {
        let line = info(s.port()).expect("INFO from a cluster node");
        assert!(
            line.contains(&format!("\"cluster\":\"{}\"", cluster.name())),
            "{line}"
        );
        assert!(
            line.contains(&format!("\"server_name\":\"n{i}\"")),
            "{line}"
        );
    }
    cluster.kill(1);
    assert!(info(cluster.server(1).port()).is_err());
    assert!(
        info(cluster.server(0).port()).is_ok(),
        "the other nodes keep running"
    );
    cluster.restart(1);
    assert!(info(cluster.server(1).port()).is_ok());
    assert_eq!(cluster.urls(), urls, "a restarted node keeps its port");
}
