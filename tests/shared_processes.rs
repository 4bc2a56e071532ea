//! Three OS processes (this test binary run again as children) load one
//! cold key through one Redis: the body runs once among them.

#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::process::Command;

use std::time::{Duration, Instant};

use memo_runtime::{SharedCache, SharedTier};
use redis::Commands;
use redis_server::RedisServer;

const CHILD_URL: &str = "MEMO_TEST_CHILD_REDIS_URL";
const CHILDREN: u64 = 3;

#[test]
fn three_processes_loading_one_cold_key_run_the_body_once() {
    let server = RedisServer::start();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_replica", "--ignored", "--nocapture"])
                .env(CHILD_URL, server.url())
                // The children's own test summaries would read like ours.
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("run the test binary as a child")
        })
        .collect();
    let mut redis = server.connection();
    // Every child is connected and waiting: start them at once.
    let started = Instant::now();
    while redis.get::<_, Option<u64>>("ready").unwrap().unwrap_or(0) < CHILDREN {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "children never got ready"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let _: () = redis.set("go", 1).unwrap();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child failed");
    }
    let runs: u64 = redis.get("runs").unwrap();
    assert_eq!(runs, 1, "one body across three processes");
}

/// The child's part of the test above; on its own it has nothing to do.
#[test]
#[ignore = "run by three_processes_loading_one_cold_key_run_the_body_once as a child"]
fn child_replica() {
    let url = std::env::var(CHILD_URL).expect("started by the parent test");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let tier = SharedTier::builder(&url).prefix("procs").build().unwrap();
        assert!(tier.wait_available(Duration::from_secs(10)).await);
        let cache = SharedCache::builder("reports", tier).build().unwrap();
        let mut redis = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let _: u64 = redis.incr("ready", 1).unwrap();
        while !redis.exists::<_, bool>("go").unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let value = cache
            .get_or_insert_with("q3", async {
                let mut redis = redis::Client::open(url.as_str())
                    .unwrap()
                    .get_connection()
                    .unwrap();
                let _: u64 = redis.incr("runs", 1).unwrap();
                // Long enough that the other processes arrive while it runs.
                tokio::time::sleep(Duration::from_millis(300)).await;
                String::from("report")
            })
            .await;
        assert_eq!(value, "report");
    });
}
