//! A TCP proxy in front of a test `redis-server` that can hold back the
//! replies of command connections while letting pub/sub through, so that a
//! test can keep a Redis read in flight while an invalidation arrives.
//! Connections that sent `SUBSCRIBE` are never held.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub struct HoldingProxy {
    pub port: u16,
    hold: watch::Sender<bool>,
    held: Arc<Mutex<Vec<u8>>>,
    // Aborts the accept loop and every connection's pumps when dropped.
    _tasks: JoinSet<()>,
}

impl HoldingProxy {
    /// Listens on a free loopback port and forwards to `upstream_port`.
    pub async fn start(upstream_port: u16) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().unwrap().port();
        let (hold, _) = watch::channel(false);
        let held = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = JoinSet::new();
        let (hold_for_loop, held_for_loop) = (hold.clone(), held.clone());
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let upstream = TcpStream::connect(("127.0.0.1", upstream_port))
                    .await
                    .expect("the test server");
                connections.spawn(pump(
                    client,
                    upstream,
                    hold_for_loop.subscribe(),
                    held_for_loop.clone(),
                ));
            }
        });
        HoldingProxy {
            port,
            hold,
            held,
            _tasks: tasks,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// While on, replies to command connections are read from Redis but
    /// not passed on; turning it off delivers them, in order.
    pub fn hold_replies(&self, on: bool) {
        self.hold.send_replace(on);
    }

    /// Whether a reply held back (now or before) contained `needle`.
    pub fn held_replies_contain(&self, needle: &[u8]) -> bool {
        let held = self.held.lock().unwrap();
        held.windows(needle.len()).any(|w| w == needle)
    }
}

async fn pump(
    client: TcpStream,
    upstream: TcpStream,
    mut hold: watch::Receiver<bool>,
    held: Arc<Mutex<Vec<u8>>>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let subscriber = Arc::new(AtomicBool::new(false));
    let marks = subscriber.clone();
    let requests = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if buf[..n]
                .windows(9)
                .any(|w| w.eq_ignore_ascii_case(b"SUBSCRIBE"))
            {
                marks.store(true, SeqCst);
            }
            if upstream_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let replies = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match upstream_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if *hold.borrow() && !subscriber.load(SeqCst) {
                held.lock().unwrap().extend_from_slice(&buf[..n]);
                if hold.wait_for(|held| !held).await.is_err() {
                    return;
                }
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(requests, replies);
}
