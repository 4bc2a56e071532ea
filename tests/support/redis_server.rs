//! A real `redis-server` for one test: started on a free loopback port,
//! killed when dropped. Never a mock.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    /// The TLS port, for a server started by [`RedisServer::start_tls`].
    pub tls_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
}

/// What a TLS server is given: its certificate and key, and the root that
/// client certificates must chain to, all PEM.
pub struct ServerTls<'a> {
    pub certificate_pem: &'a str,
    pub key_pem: &'a str,
    pub client_ca_pem: &'a str,
    /// Whether clients must present a certificate (mutual TLS).
    pub require_client_certificate: bool,
}

const INSTALL: &str = "redis-server is not installed; install it with \
                       `apt-get update && apt-get install -y redis-server` \
                       (the README's test command, `.ci/run`, does this)";

impl RedisServer {
    /// A server on a free port, with `KEYS` renamed away (the tier must not
    /// need it) and no persistence unless `restart_from_disk` is used.
    pub fn start() -> RedisServer {
        let mut server = RedisServer::prepare();
        server.spawn(&[]);
        server
    }

    /// A server that also listens for TLS on [`tls_port`](Self::tls_port);
    /// the plain port stays open for the test's own commands.
    pub fn start_tls(tls: &ServerTls<'_>) -> RedisServer {
        let mut server = RedisServer::prepare();
        let tls_port = free_port();
        let file = |name: &str, pem: &str| {
            let path = server.dir.join(name);
            std::fs::write(&path, pem).expect("write a PEM file");
            path.to_str().unwrap().to_owned()
        };
        let args = [
            "--tls-port".to_owned(),
            tls_port.to_string(),
            "--tls-cert-file".to_owned(),
            file("server.pem", tls.certificate_pem),
            "--tls-key-file".to_owned(),
            file("server.key", tls.key_pem),
            "--tls-ca-cert-file".to_owned(),
            file("ca.pem", tls.client_ca_pem),
            "--tls-auth-clients".to_owned(),
            if tls.require_client_certificate {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
        ];
        server.tls_port = Some(tls_port);
        server.spawn(&args);
        server
    }

    fn prepare() -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("memo-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        RedisServer {
            port,
            tls_port: None,
            dir,
            child: None,
        }
    }

    /// The `rediss://` URL of a server started by [`start_tls`](Self::start_tls).
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("started with start_tls");
        format!("rediss://127.0.0.1:{port}/0")
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A plain connection for the test's own commands.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .expect("connect to the test server")
    }

    /// SIGKILL: the server dies at once, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (reading the RDB file if one was
    /// saved).
    pub fn restart(&mut self) {
        assert!(self.tls_port.is_none(), "restart is for plain servers");
        self.kill();
        self.spawn(&[]);
    }

    /// SIGSTOP / SIGCONT: the server hangs without closing connections.
    pub fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let signal = if paused { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }

    fn spawn(&mut self, extra_args: &[String]) {
        let binary = which("redis-server").unwrap_or_else(|| panic!("{INSTALL}"));
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(["--dbfilename", "dump.rdb"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--rename-command", "KEYS", ""])
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("starting redis-server: {err}; {INSTALL}"));
        self.child = Some(child);
        let started = Instant::now();
        while !ping(self.port) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused server cannot die of SIGKILL until it is resumed? It
            // can; resume anyway so nothing is left stopped.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut answer = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

fn which(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}
