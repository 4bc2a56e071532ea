//! Three replicas of a service sharing one Redis: each has its own memory,
//! all share results, loads and invalidations.
//!
//! `cargo run --release --example replicas` starts a `redis-server` of its
//! own on a free loopback port (it must be installed: `apt-get install -y
//! redis-server`), or uses `REDIS_URL` if set.

#[path = "../tests/support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use memo_runtime::{SharedCache, SharedTier};

const IDS: u64 = 20;
const CALLS_PER_REPLICA: u64 = 200;

/// The slow upstream every replica would otherwise call.
async fn upstream(id: u64, calls: &AtomicUsize) -> String {
    calls.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    format!("user {id}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_server, url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let server = redis_server::RedisServer::start();
            let url = server.url();
            (Some(server), url)
        }
    };

    // Three replicas: in production, three processes; here, three tiers.
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let tier = SharedTier::builder(&url)
            .prefix("replicas-example")
            .build()?;
        tier.wait_available(Duration::from_secs(5)).await;
        let users = SharedCache::builder("users", tier.clone())
            .default_ttl(Duration::from_secs(60))
            .build()?;
        users.clear().await; // a clean start for the example
        replicas.push((tier, users));
    }

    let calls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = replicas
        .iter()
        .map(|(_, users)| {
            let (users, calls) = (users.clone(), calls.clone());
            tokio::spawn(async move {
                for i in 0..CALLS_PER_REPLICA {
                    let id = i % IDS;
                    users.get_or_insert_with(&id, upstream(id, &calls)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    println!(
        "memo replicas: 3 replicas x {CALLS_PER_REPLICA} calls over {IDS} ids in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "  upstream calls made : {} (one per distinct id; without the shared tier: up to {})",
        calls.load(SeqCst),
        3 * IDS
    );
    for (i, (_, users)) in replicas.iter().enumerate() {
        let stats = users.stats();
        println!(
            "  replica {i}            : {} memory hits, {} answered by Redis",
            stats.hits, stats.shared_hits
        );
    }

    // An invalidation on one replica reaches the others' memory.
    let (first, others) = replicas.split_first().expect("three replicas");
    let started = Instant::now();
    first.1.delete(&7u64).await;
    for (_, users) in others {
        while users.len() as u64 == IDS && started.elapsed() < Duration::from_secs(5) {
            tokio::task::yield_now().await;
        }
    }
    println!(
        "  delete on replica 0 : the others dropped their copy within {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
