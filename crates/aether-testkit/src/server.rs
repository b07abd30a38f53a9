//! Real `nats-server` processes for server-backed tests and benchmarks.
//!
//! Every server listens on 127.0.0.1 only, on ports picked by binding `127.0.0.1:0`, with
//! its JetStream store in a fresh temporary directory. Servers are killed (SIGKILL) and
//! reaped when their handle is dropped. Readiness is waited for by polling the server's
//! monitoring endpoint (`/healthz`, and `/varz` to be sure the answer is this server's),
//! never by sleeping. A port picked free can be taken before the server binds it (by a
//! server of another test process picking at the same instant): a server or cluster that
//! exits with "address already in use" is started again on fresh ports, a few times.
//!
//! The binary comes from the `NATS_SERVER_BIN` environment variable, which
//! `cargo xtask itest` and `cargo xtask bench` set (installing the pinned server when the
//! machine has none). Without it, or when the server does not start, these helpers panic
//! with a message naming `cargo xtask itest`: a server-backed test fails loudly, it never
//! passes without a server.
//!
//! ```no_run
//! use aether_testkit::server::{NatsCluster, NatsServer};
//!
//! // One JetStream server; `kill` + `restart` keep the port and the store.
//! let server = NatsServer::builder().max_payload(64 * 1024).start();
//! let url = server.url(); // "nats://127.0.0.1:<port>"
//! server.kill();
//! server.restart();
//! # let _ = url;
//!
//! // Three servers with routes between them and JetStream on each.
//! let cluster = NatsCluster::start(3);
//! cluster.kill(0);
//! cluster.restart(0);
//! # let _ = cluster.urls();
//! ```

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use aether_core::support::{ServerVersion, MIN_NATS_SERVER};
use tempfile::TempDir;

/// The environment variable that names the nats-server binary.
pub const NATS_SERVER_BIN_ENV: &str = "NATS_SERVER_BIN";

/// How long a single server may take to become ready.
const SERVER_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a cluster may take to elect a JetStream meta leader (seconds in bad cases).
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The readiness check: JetStream enabled, in contact with a meta leader (clusters), and
/// every stream and consumer current. (`js-server-only=true` answers ok before a cluster
/// has elected its meta leader, so it is not enough.)
const READY_PATH: &str = "/healthz";

/// How a server authenticates clients.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// Clients must present this user name and password.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// Clients must present this token.
    Token(String),
    /// Clients must sign the server's challenge with the NKey whose public key (`U...`)
    /// this is.
    NKey(String),
    /// Operator mode: the configuration lines naming the operator and preloading its
    /// account (see [`crate::jwt::Operator`]).
    Operator(String),
}

impl Auth {
    /// Clients must present `user` and `password`.
    pub fn user_password(user: impl Into<String>, password: impl Into<String>) -> Self {
        Auth::UserPassword {
            user: user.into(),
            password: password.into(),
        }
    }

    /// Clients must present `token`.
    pub fn token(token: impl Into<String>) -> Self {
        Auth::Token(token.into())
    }

    /// Operator mode: clients must present a user JWT of `operator`'s account (a `.creds`).
    pub fn operator(operator: &crate::jwt::Operator) -> Self {
        Auth::Operator(operator.server_config())
    }

    /// Clients must prove they hold the NKey whose public user key is `public`.
    pub fn nkey(public: impl Into<String>) -> Self {
        Auth::NKey(public.into())
    }
}

/// Returns the path of the nats-server binary from `NATS_SERVER_BIN`, checked once to be
/// a runnable server >= [`MIN_NATS_SERVER`], the oldest Aether supports.
///
/// # Panics
/// When the variable is unset, the binary does not run, or it is too old; the message says
/// to run the tests with `cargo xtask itest`.
pub fn server_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(find_server_bin) {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn find_server_bin() -> Result<PathBuf, String> {
    let hint = format!(
        "server-backed tests need a nats-server >= {MIN_NATS_SERVER}: run them with \
         `cargo xtask itest` (it finds or installs one and sets NATS_SERVER_BIN), or set \
         NATS_SERVER_BIN yourself (`cargo xtask nats-server` prints a path)"
    );
    let bin = std::env::var_os(NATS_SERVER_BIN_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| format!("{NATS_SERVER_BIN_ENV} is not set; {hint}"))?;
    let out = Command::new(&bin).arg("--version").output().map_err(|e| {
        format!(
            "cannot run {NATS_SERVER_BIN_ENV}={}: {e}; {hint}",
            bin.display()
        )
    })?;
    // "nats-server: v2.15.1"
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = ServerVersion::from_version_output(&text) else {
        return Err(format!(
            "{NATS_SERVER_BIN_ENV}={} printed {:?} for --version, not a nats-server version; \
             {hint}",
            bin.display(),
            text.trim(),
        ));
    };
    if let Some(why) = version.why_unsupported() {
        return Err(format!(
            "{NATS_SERVER_BIN_ENV}={} is nats-server {version}, older than {MIN_NATS_SERVER}, \
             the oldest Aether supports: {why}; {hint}",
            bin.display(),
        ));
    }
    Ok(bin)
}

/// Picks a free loopback port by binding `127.0.0.1:0`.
fn free_port() -> u16 {
    // Never the same port twice in this process: a port is free when picked, not when the
    // server binds it, and another server of this process must not have it meanwhile.
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = aether_core::support::lock(&GIVEN);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding 127.0.0.1:0 to pick a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// How many times a server (or cluster) is started on fresh ports when one of its ports
/// turns out to be taken (by a server of another test process, picked in the same instant).
const PORT_ATTEMPTS: usize = 4;

/// Why a server did not start.
enum StartFailure {
    /// It exited because a port was taken: worth another try on other ports.
    PortTaken(String),
    /// Anything else, with the message to fail with.
    Other(String),
}

impl StartFailure {
    fn message(&self) -> &str {
        match self {
            StartFailure::PortTaken(m) | StartFailure::Other(m) => m,
        }
    }
}

/// Runs `attempt` (which picks fresh ports each time) until it starts, up to
/// [`PORT_ATTEMPTS`] times while the failure is a taken port.
///
/// # Panics
/// On any other failure, or when every attempt found a port taken.
fn retry_on_taken_port<T>(mut attempt: impl FnMut() -> Result<T, StartFailure>) -> T {
    let mut last = String::new();
    for _ in 0..PORT_ATTEMPTS {
        match attempt() {
            Ok(started) => return started,
            Err(StartFailure::PortTaken(m)) => last = m,
            Err(StartFailure::Other(m)) => panic!("{m}"),
        }
    }
    panic!("{last}")
}

/// Cluster settings of one node.
#[derive(Debug, Clone)]
struct ClusterSpec {
    name: String,
    port: u16,
    routes: Vec<u16>,
}

/// The fixed settings of one server process, kept across restarts.
#[derive(Debug)]
struct Spec {
    name: String,
    port: u16,
    monitor_port: u16,
    jetstream: bool,
    max_payload: Option<u32>,
    auth: Option<Auth>,
    tls: bool,
    /// With `tls`: clients must present a certificate signed by the server's CA.
    verify_clients: bool,
    cluster: Option<ClusterSpec>,
    /// Holds the config file, the log and (under `jetstream/`) the store.
    dir: TempDir,
}

impl Spec {
    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.conf")
    }

    fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    fn config(&self) -> String {
        let q = |s: &str| format!("{s:?}"); // a JSON-style quoted string, valid in NATS config
        let mut c = String::new();
        let _ = writeln!(c, "server_name: {}", q(&self.name));
        let _ = writeln!(c, "listen: \"127.0.0.1:{}\"", self.port);
        let _ = writeln!(c, "http: \"127.0.0.1:{}\"", self.monitor_port);
        if let Some(max) = self.max_payload {
            let _ = writeln!(c, "max_payload: {max}");
        }
        if self.jetstream {
            let _ = writeln!(
                c,
                "jetstream {{\n  store_dir: {}\n  max_memory_store: 1GB\n  max_file_store: 20GB\n}}",
                q(&self.store_dir().display().to_string())
            );
        }
        if self.tls {
            let _ = writeln!(
                c,
                "tls {{\n  cert_file: {}\n  key_file: {}\n  ca_file: {}\n  verify: {}\n}}",
                q(&self
                    .dir
                    .path()
                    .join("server-cert.pem")
                    .display()
                    .to_string()),
                q(&self.dir.path().join("server-key.pem").display().to_string()),
                q(&self.ca_path().display().to_string()),
                self.verify_clients
            );
        }
        match &self.auth {
            None => {}
            Some(Auth::UserPassword { user, password }) => {
                let _ = writeln!(
                    c,
                    "authorization {{\n  user: {}\n  password: {}\n}}",
                    q(user),
                    q(password)
                );
            }
            Some(Auth::Token(token)) => {
                let _ = writeln!(c, "authorization {{\n  token: {}\n}}", q(token));
            }
            Some(Auth::Operator(lines)) => c.push_str(lines),
            Some(Auth::NKey(public)) => {
                let _ = writeln!(
                    c,
                    "authorization {{\n  users: [ {{ nkey: {} }} ]\n}}",
                    q(public)
                );
            }
        }
        if let Some(cl) = &self.cluster {
            let routes = cl
                .routes
                .iter()
                .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                c,
                "cluster {{\n  name: {}\n  listen: \"127.0.0.1:{}\"\n  routes: [{routes}]\n}}",
                q(&cl.name),
                cl.port
            );
        }
        c
    }

    fn spawn(&self) -> Child {
        std::fs::write(self.config_path(), self.config()).expect("writing the nats-server config");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("opening the nats-server log");
        let log2 = log.try_clone().expect("cloning the log file handle");
        Command::new(server_bin())
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start nats-server {}: {e} (run server-backed tests with `cargo xtask itest`)",
                    server_bin().display()
                )
            })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// A `nats-server` process with its ports and store, killed and reaped on drop.
///
/// Start one with [`NatsServer::start`] (JetStream on) or [`NatsServer::builder`]. All
/// methods take `&self`, so a test can hand the server to other tasks behind an `Arc`.
#[derive(Debug)]
pub struct NatsServer {
    spec: Spec,
    child: Mutex<Option<Child>>,
}

/// Settings for a [`NatsServer`]: JetStream (on by default), max payload, authentication.
#[derive(Debug, Clone)]
pub struct NatsServerBuilder {
    jetstream: bool,
    max_payload: Option<u32>,
    auth: Option<Auth>,
    tls: bool,
    verify_clients: bool,
}

impl Default for NatsServerBuilder {
    fn default() -> Self {
        NatsServerBuilder {
            jetstream: true,
            max_payload: None,
            auth: None,
            tls: false,
            verify_clients: false,
        }
    }
}

impl NatsServerBuilder {
    /// Turns JetStream on (the default) or off.
    pub fn jetstream(mut self, on: bool) -> Self {
        self.jetstream = on;
        self
    }

    /// Sets the server's `max_payload` in bytes (headers included; the default is 1 MiB).
    pub fn max_payload(mut self, bytes: u32) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// Requires clients to authenticate.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Requires TLS, with a certificate for `127.0.0.1` and `localhost` signed by a CA
    /// made for this server alone (its certificate: [`NatsServer::ca_certificate`]).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Like [`tls`](Self::tls), and clients must present a certificate signed by the same
    /// CA (one is made: [`NatsServer::client_certificate`]).
    pub fn mutual_tls(mut self) -> Self {
        self.tls = true;
        self.verify_clients = true;
        self
    }

    /// Starts the server and waits until it is ready.
    ///
    /// # Panics
    /// When no server binary is configured or the server does not become ready (see the
    /// [module docs](self)).
    pub fn start(self) -> NatsServer {
        retry_on_taken_port(|| {
            let spec = Spec {
                name: "aether-test".to_owned(),
                port: free_port(),
                monitor_port: free_port(),
                jetstream: self.jetstream,
                max_payload: self.max_payload,
                auth: self.auth.clone(),
                tls: self.tls,
                verify_clients: self.verify_clients,
                cluster: None,
                dir: tempdir(),
            };
            if spec.tls {
                write_certificates(spec.dir.path());
            }
            let server = NatsServer::spawn(spec);
            server.try_wait_ready(SERVER_READY_TIMEOUT)?;
            Ok(server)
        })
    }
}

/// Writes a fresh CA (`ca.pem`), a server certificate it signed for `127.0.0.1` and
/// `localhost` (`server-cert.pem`, `server-key.pem`) and a client certificate it signed
/// (`client-cert.pem`, `client-key.pem`) into `dir`.
fn write_certificates(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("generating a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Aether test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("self-signing the CA");
    let server_key = KeyPair::generate().expect("generating a server key");
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server certificate parameters");
    let server_cert = server
        .signed_by(&server_key, &ca_cert, &ca_key)
        .expect("signing the server certificate");
    let client_key = KeyPair::generate().expect("generating a client key");
    let mut client = CertificateParams::new(Vec::<String>::new()).expect("client parameters");
    client
        .distinguished_name
        .push(DnType::CommonName, "aether-test-client");
    client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client
        .signed_by(&client_key, &ca_cert, &ca_key)
        .expect("signing the client certificate");
    for (name, pem) in [
        ("ca.pem", ca_cert.pem()),
        ("server-cert.pem", server_cert.pem()),
        ("server-key.pem", server_key.serialize_pem()),
        ("client-cert.pem", client_cert.pem()),
        ("client-key.pem", client_key.serialize_pem()),
    ] {
        std::fs::write(dir.join(name), pem).expect("writing a certificate file");
    }
}

fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("aether-nats-")
        .tempdir()
        .expect("creating a temporary directory for nats-server")
}

impl NatsServer {
    /// Starts a JetStream server with default settings and waits until it is ready.
    ///
    /// # Panics
    /// When no server binary is configured or the server does not become ready.
    pub fn start() -> NatsServer {
        NatsServer::builder().start()
    }

    /// Settings for a server: JetStream, max payload, authentication.
    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::default()
    }

    /// Starts the process of `spec` (without waiting for it).
    fn spawn(spec: Spec) -> NatsServer {
        NatsServer {
            child: Mutex::new(Some(spec.spawn())),
            spec,
        }
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        aether_core::support::lock(&self.child)
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.spec.port)
    }

    /// The PEM file of the CA that signed the server's certificate, when the server was
    /// built with [`NatsServerBuilder::tls`].
    pub fn ca_certificate(&self) -> Option<PathBuf> {
        self.spec.tls.then(|| self.spec.ca_path())
    }

    /// The PEM files of a client certificate and its key signed by the server's CA, when the
    /// server was built with [`NatsServerBuilder::tls`] or [`NatsServerBuilder::mutual_tls`].
    pub fn client_certificate(&self) -> Option<(PathBuf, PathBuf)> {
        self.spec.tls.then(|| {
            (
                self.spec.dir.path().join("client-cert.pem"),
                self.spec.dir.path().join("client-key.pem"),
            )
        })
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.spec.port
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.spec.port))
    }

    /// The monitoring (HTTP) port.
    pub fn monitor_port(&self) -> u16 {
        self.spec.monitor_port
    }

    /// The server's name (`server_name`).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The JetStream store directory (kept across [`restart`](Self::restart)).
    pub fn store_dir(&self) -> PathBuf {
        self.spec.store_dir()
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.spec.log_path()
    }

    /// The process id, while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(Child::id)
    }

    /// The subscriptions of a client connection, by the connection id the server gave it
    /// (`async_nats::Client::server_info().client_id`), from the monitoring endpoint
    /// `/connz`: their subjects and how many messages each was delivered; for instance to
    /// check that a subscription has ended, or that it was used.
    ///
    /// # Errors
    /// When the monitoring endpoint cannot be reached, does not know the connection, or
    /// answers something unexpected.
    pub fn subscriptions_of(&self, client_id: u64) -> std::io::Result<Vec<SubscriptionInfo>> {
        let (code, body) = http_get(
            self.monitor_port(),
            &format!("/connz?subs=detail&cid={client_id}"),
        )?;
        let json: serde_json::Value = serde_json::from_str(&body).map_err(std::io::Error::other)?;
        let connection = json["connections"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["cid"].as_u64() == Some(client_id)));
        match (code, connection) {
            (200, Some(c)) => Ok(c["subscriptions_list_detail"]
                .as_array()
                .map(|subs| {
                    subs.iter()
                        .filter_map(|s| {
                            Some(SubscriptionInfo {
                                subject: s["subject"].as_str()?.to_owned(),
                                messages: s["msgs"].as_u64().unwrap_or(0),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default()),
            _ => Err(std::io::Error::other(format!(
                "no connection {client_id} in the /connz answer {code}: {body}"
            ))),
        }
    }

    /// GETs `path` (with its query, e.g. `/healthz?js-enabled-only=true`) from the server's
    /// monitoring port: the HTTP status and body.
    ///
    /// # Errors
    /// When the port does not answer (the server is down or starting) or the answer is not
    /// HTTP.
    pub fn monitor_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        http_get(self.spec.monitor_port, path)
    }

    /// Whether the process is running (it may be paused).
    pub fn is_running(&self) -> bool {
        let mut child = self.child();
        match child.as_mut() {
            None => false,
            Some(c) => matches!(c.try_wait(), Ok(None)),
        }
    }

    /// Kills the server with SIGKILL (no shutdown, no flush) and reaps it. Does nothing if
    /// it is not running.
    pub fn kill(&self) {
        if let Some(mut c) = self.child().take() {
            let _ = signal(c.id(), "CONT"); // a stopped process dies on SIGKILL too; be sure
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port with the same store directory and waits
    /// until it is ready; kills it first if it is still running.
    ///
    /// # Panics
    /// When the server does not become ready (for instance the port was taken meanwhile).
    pub fn restart(&self) {
        self.kill();
        *self.child() = Some(self.spec.spawn());
        self.wait_ready(SERVER_READY_TIMEOUT);
    }

    /// Pauses the process with SIGSTOP: it keeps its sockets but answers nothing. Returns
    /// once every thread of the process has stopped (on Linux, where `/proc` tells), not
    /// merely once the signal is sent.
    ///
    /// # Panics
    /// When the server is not running, the signal cannot be sent, or the process has not
    /// stopped within 5 seconds.
    pub fn pause(&self) {
        let pid = self.pid().expect("pause: the nats-server is not running");
        signal(pid, "STOP").expect("sending SIGSTOP to nats-server");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(pid) {
            assert!(
                Instant::now() < deadline,
                "nats-server {pid} did not stop within 5 s of SIGSTOP"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Resumes a paused process with SIGCONT.
    ///
    /// # Panics
    /// When the server is not running or the signal cannot be sent.
    pub fn resume(&self) {
        let pid = self.pid().expect("resume: the nats-server is not running");
        signal(pid, "CONT").expect("sending SIGCONT to nats-server");
    }

    /// Waits until the server is ready again (for instance after [`resume`](Self::resume)).
    ///
    /// # Panics
    /// When it does not become ready within the timeout.
    pub fn wait_ready(&self, timeout: Duration) {
        if let Err(failure) = self.try_wait_ready(timeout) {
            panic!("{}", failure.message());
        }
    }

    fn try_wait_ready(&self, timeout: Duration) -> Result<(), StartFailure> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut child = self.child();
                let Some(c) = child.as_mut() else {
                    return Err(StartFailure::Other(format!(
                        "nats-server {} is not running",
                        self.spec.name
                    )));
                };
                if let Ok(Some(status)) = c.try_wait() {
                    child.take();
                    let log = self.spec.log_tail();
                    let message = format!(
                        "nats-server {} exited during start-up ({status}); is port {} taken? \
                         Log tail:\n{log}\n(server-backed tests run with `cargo xtask itest`)",
                        self.spec.name, self.spec.port,
                    );
                    return Err(if log.contains("address already in use") {
                        StartFailure::PortTaken(message)
                    } else {
                        StartFailure::Other(message)
                    });
                }
            }
            let last = match http_get(self.spec.monitor_port, READY_PATH) {
                // Ours: a server of another process on this port would not count.
                Ok((200, _)) if self.owns_monitor_port() => return Ok(()),
                Ok((code, body)) => format!("HTTP {code}: {}", body.trim()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(StartFailure::Other(format!(
                    "nats-server {} not ready after {timeout:?} (last health check: {last}). \
                     Log tail:\n{}\n(server-backed tests run with `cargo xtask itest`)",
                    self.spec.name,
                    self.spec.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answering on the monitor port is this process (its `/varz` names
    /// this server's client port).
    fn owns_monitor_port(&self) -> bool {
        match http_get(self.spec.monitor_port, "/varz") {
            Ok((200, body)) => {
                body.contains(&format!("\"port\": {},", self.spec.port))
                    || body.contains(&format!("\"port\":{},", self.spec.port))
            }
            _ => false,
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a signal (by name, e.g. `STOP`) to a process with the system's `kill` command.
fn signal(pid: u32, name: &str) -> std::io::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "kill -{name} {pid}: {status}"
        )))
    }
}

/// A subscription of a client connection, as the server's monitoring endpoint reports it
/// ([`NatsServer::subscriptions_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// The subject (possibly with wildcards).
    pub subject: String,
    /// How many messages the server delivered to it.
    pub messages: u64,
}

/// Whether every thread of process `pid` is stopped (state `T` in `/proc`); `true` where
/// `/proc` does not exist, since there is nothing to wait on.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|stat| {
                // The state follows the command name, which is in parentheses.
                let state = stat
                    .rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .next()?
                    .to_owned();
                Some(state == "T" || state == "t")
            })
            // A thread that has exited is not running either.
            .unwrap_or(true)
    })
}

/// A minimal HTTP/1.0 GET on 127.0.0.1: returns the status code and the body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP answer: {buf:?}")))?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// A cluster of JetStream servers with routes between them, each with its own store,
/// killed and reaped on drop.
///
/// [`NatsCluster::start`] returns once every server reports `/healthz` ok, which includes
/// contact with an elected JetStream meta leader. Clients may still see short unavailability right after start or after a kill
/// (stream leader elections): retry with short timeouts.
#[derive(Debug)]
pub struct NatsCluster {
    name: String,
    servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `n` JetStream servers (named `n0`, `n1`, ...) in a cluster and waits for a
    /// meta leader.
    ///
    /// # Panics
    /// When `n` is 0, no server binary is configured, or the cluster does not become ready.
    pub fn start(n: usize) -> NatsCluster {
        NatsCluster::start_with(n, NatsServer::builder())
    }

    /// Like [`start`](Self::start), with the given settings (max payload, authentication)
    /// for every server. JetStream is always on.
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn start_with(n: usize, settings: NatsServerBuilder) -> NatsCluster {
        assert!(
            !settings.tls,
            "the testkit starts TLS servers alone, not in clusters"
        );
        assert!(n > 0, "a cluster needs at least one server");
        retry_on_taken_port(|| NatsCluster::try_start(n, &settings))
    }

    fn try_start(n: usize, settings: &NatsServerBuilder) -> Result<NatsCluster, StartFailure> {
        let name = format!("aether-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let cluster_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let specs: Vec<Spec> = (0..n)
            .map(|i| Spec {
                name: format!("n{i}"),
                port: free_port(),
                monitor_port: free_port(),
                jetstream: true,
                max_payload: settings.max_payload,
                auth: settings.auth.clone(),
                tls: false,
                verify_clients: false,
                cluster: Some(ClusterSpec {
                    name: name.clone(),
                    port: cluster_ports[i],
                    routes: cluster_ports
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, p)| *p)
                        .collect(),
                }),
                dir: tempdir(),
            })
            .collect();
        // Spawn them all first: a node only finds a meta leader once a quorum runs.
        let servers: Vec<NatsServer> = specs.into_iter().map(NatsServer::spawn).collect();
        for s in &servers {
            // On failure the servers already started are killed as they drop.
            s.try_wait_ready(CLUSTER_READY_TIMEOUT)?;
        }
        Ok(NatsCluster { name, servers })
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Always false: a cluster has at least one server.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Server `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn server(&self, i: usize) -> &NatsServer {
        &self.servers[i]
    }

    /// All servers.
    pub fn servers(&self) -> &[NatsServer] {
        &self.servers
    }

    /// The client URL of every server, in order.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(NatsServer::url).collect()
    }

    /// The client URLs joined by commas, for configurations that take a list in one string.
    /// (`async_nats::connect` takes one URL or a slice of them; given one, it learns the
    /// others from the cluster.)
    pub fn url(&self) -> String {
        self.urls().join(",")
    }

    /// Kills server `i` with SIGKILL.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn kill(&self, i: usize) {
        self.servers[i].kill();
    }

    /// Restarts server `i` on its ports with its store and waits until it is healthy again:
    /// in contact with the JetStream meta leader and its streams current.
    ///
    /// # Panics
    /// When `i` is out of range or the server does not become ready.
    pub fn restart(&self, i: usize) {
        let s = &self.servers[i];
        s.kill();
        *s.child() = Some(s.spec.spawn());
        s.wait_ready(CLUSTER_READY_TIMEOUT);
    }

    /// Pauses server `i` with SIGSTOP.
    ///
    /// # Panics
    /// When `i` is out of range or the server is not running.
    pub fn pause(&self, i: usize) {
        self.servers[i].pause();
    }

    /// Resumes server `i` with SIGCONT.
    ///
    /// # Panics
    /// When `i` is out of range or the server is not running.
    pub fn resume(&self, i: usize) {
        self.servers[i].resume();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_quotes_values_and_lists_routes() {
        let spec = Spec {
            name: "n0".into(),
            port: 1000,
            monitor_port: 1001,
            jetstream: true,
            max_payload: Some(4096),
            auth: Some(Auth::user_password("u", "p\"q")),
            tls: false,
            verify_clients: false,
            cluster: Some(ClusterSpec {
                name: "c".into(),
                port: 1002,
                routes: vec![1003, 1004],
            }),
            dir: tempdir(),
        };
        let c = spec.config();
        assert!(c.contains("listen: \"127.0.0.1:1000\""), "{c}");
        assert!(c.contains("http: \"127.0.0.1:1001\""), "{c}");
        assert!(c.contains("max_payload: 4096"), "{c}");
        assert!(c.contains("password: \"p\\\"q\""), "{c}");
        assert!(
            c.contains(
                "routes: [\"nats-route://127.0.0.1:1003\", \"nats-route://127.0.0.1:1004\"]"
            ),
            "{c}"
        );
        assert!(c.contains("store_dir:"), "{c}");
    }

    #[test]
    fn free_ports_are_nonzero() {
        assert_ne!(free_port(), 0);
    }

    #[test]
    fn free_ports_are_never_handed_out_twice() {
        let ports: Vec<u16> = (0..300).map(|_| free_port()).collect();
        let unique: std::collections::HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len());
    }
}
