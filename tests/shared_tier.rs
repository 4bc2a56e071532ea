//! The shared tier against a real `redis-server` started per test: replicas
//! (separate `SharedTier`s in one process) share values, loads and
//! invalidations; bad bytes are misses; an outage falls back to memory.

#[path = "support/holding_proxy.rs"]
mod holding_proxy;
#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use memo_runtime::{SharedCache, SharedTier};
use redis::Commands;
use redis_server::RedisServer;

/// Far above anything a healthy loopback Redis needs.
const PATIENCE: Duration = Duration::from_secs(10);

async fn tier(server: &RedisServer) -> SharedTier {
    let tier = SharedTier::builder(&server.url())
        .prefix("test")
        .timeout(Duration::from_millis(200))
        .lock_lease(Duration::from_secs(5))
        .build()
        .expect("a valid URL");
    assert!(tier.wait_available(PATIENCE).await, "the tier came up");
    tier
}

fn cache(tier: &SharedTier, name: &str) -> SharedCache {
    SharedCache::builder(name, tier.clone())
        .default_ttl(Duration::from_secs(60))
        .max_size(1000)
        .build()
        .expect("valid settings")
}

/// Waits for `done`, polling, at most `PATIENCE`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_value_set_by_one_replica_is_read_by_another() {
    let server = RedisServer::start();
    let tb = tier(&server).await;
    let (a, b) = (cache(&tier(&server).await, "users"), cache(&tb, "users"));
    a.set(&7u64, String::from("Ada")).await;
    // The set's invalidation reaches b; a read it overlapped would keep no
    // copy (rightly), so wait for it before reading.
    eventually("b heard of the set", || tb.invalidations_received() == 1).await;
    assert_eq!(b.get::<_, String>(&7u64).await.as_deref(), Some("Ada"));
    let stats = b.stats();
    assert_eq!((stats.shared_hits, stats.shared_misses), (1, 0));
    // Now in b's memory: a second read does not ask Redis.
    assert_eq!(b.len(), 1);
    assert_eq!(b.get::<_, String>(&7u64).await.as_deref(), Some("Ada"));
    assert_eq!(b.stats().shared_hits, 1);
    assert_eq!(b.stats().hits, 1);

    // The key in Redis is printable: prefix, hash-tagged name, key hex.
    let keys: Vec<String> = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("test:*")
        .query::<(u64, Vec<String>)>(&mut server.connection())
        .unwrap()
        .1;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("test:{users}:"), "{keys:?}");
    assert!(keys[0].bytes().all(|b| b.is_ascii_graphic()));
}

/// Waits until `tier` has applied `count` invalidations from other tiers.
async fn received(tier: &SharedTier, count: u64) {
    eventually("the invalidation arrives", || {
        tier.invalidations_received() >= count
    })
    .await;
}

#[tokio::test]
async fn a_delete_reaches_every_replicas_memory() {
    let server = RedisServer::start();
    let tiers = [
        tier(&server).await,
        tier(&server).await,
        tier(&server).await,
    ];
    let caches: Vec<SharedCache> = tiers.iter().map(|t| cache(t, "prices")).collect();
    caches[0].set("sku-1", 100u32).await;
    for (replica, tier) in caches[1..].iter().zip(&tiers[1..]) {
        // The set's own invalidation first, so it cannot drop the copy below.
        received(tier, 1).await;
        assert_eq!(replica.get::<_, u32>("sku-1").await, Some(100));
        assert_eq!(replica.len(), 1, "copied into memory");
    }
    assert!(caches[0].delete("sku-1").await);
    for (replica, tier) in caches[1..].iter().zip(&tiers[1..]) {
        received(tier, 2).await;
        assert!(replica.is_empty(), "the delete dropped the copy");
        assert_eq!(replica.get::<_, u32>("sku-1").await, None);
    }
    assert!(!caches[0].delete("sku-1").await, "gone from both tiers");
}

#[tokio::test]
async fn a_set_replaces_other_replicas_copies() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let (a, b) = (cache(&ta, "rates"), cache(&tb, "rates"));
    a.set("eur", 1.08f64).await;
    received(&tb, 1).await;
    assert_eq!(b.get::<_, f64>("eur").await, Some(1.08));
    assert_eq!(b.len(), 1);
    a.set("eur", 1.10f64).await;
    received(&tb, 2).await;
    assert!(b.is_empty(), "the old copy was dropped");
    assert_eq!(b.get::<_, f64>("eur").await, Some(1.10));
}

#[tokio::test]
async fn clear_empties_both_tiers_of_one_name_only() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let (a, b, other) = (
        cache(&ta, "carts"),
        cache(&tb, "carts"),
        cache(&ta, "orders"),
    );
    for k in 0..50u32 {
        a.set(&k, k).await;
    }
    other.set(&1u32, 1u32).await;
    received(&tb, 51).await;
    assert_eq!(b.get::<_, u32>(&3u32).await, Some(3));
    assert_eq!(b.len(), 1);
    a.clear().await;
    assert!(a.is_empty());
    received(&tb, 52).await;
    assert!(b.is_empty(), "b's memory is cleared");
    assert_eq!(b.get::<_, u32>(&4u32).await, None, "gone from Redis");
    assert_eq!(
        other.get::<_, u32>(&1u32).await,
        Some(1),
        "another name stays"
    );
}

#[tokio::test]
async fn three_replicas_loading_one_cold_key_run_the_body_once() {
    let server = RedisServer::start();
    let mut tiers = Vec::new();
    for _ in 0..3 {
        tiers.push(tier(&server).await);
    }
    let tiers = Arc::new(tiers);
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(3));
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let (runs, start, tiers) = (runs.clone(), start.clone(), tiers.clone());
            let replica = cache(&tiers[i], "reports");
            tokio::spawn(async move {
                start.wait().await;
                replica
                    .get_or_insert_with("q3", async {
                        runs.fetch_add(1, SeqCst);
                        // Hold the load until both other replicas wait on it.
                        let waiting = || {
                            tiers
                                .iter()
                                .map(SharedTier::loads_waited_for)
                                .sum::<usize>()
                        };
                        eventually("the other replicas wait", || waiting() == 2).await;
                        String::from("report")
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "report");
    }
    assert_eq!(runs.load(SeqCst), 1, "one body across three replicas");
}

#[tokio::test]
async fn garbage_in_redis_is_a_miss_and_the_next_load_overwrites_it() {
    let server = RedisServer::start();
    let replica = cache(&tier(&server).await, "profiles");
    replica.set(&1u32, String::from("real")).await;
    let key: String = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("test:{profiles}:*")
        .query::<(u64, Vec<String>)>(&mut server.connection())
        .unwrap()
        .1
        .remove(0);
    let fresh = cache(&tier(&server).await, "profiles");
    for garbage in [&b"garbage"[..], b"memo\x01", b""] {
        let _: () = server.connection().set(&key, garbage).unwrap();
        assert_eq!(fresh.get::<_, String>(&1u32).await, None);
    }
    assert_eq!(fresh.stats().shared_errors, 3);
    // A value of another type is a miss too.
    let numbers = cache(&tier(&server).await, "profiles");
    replica.set(&2u32, String::from("text")).await;
    assert_eq!(numbers.get::<_, u64>(&2u32).await, None);

    let loaded = fresh
        .get_or_insert_with(&1u32, async { String::from("reloaded") })
        .await;
    assert_eq!(loaded, "reloaded");
    let third = cache(&tier(&server).await, "profiles");
    assert_eq!(
        third.get::<_, String>(&1u32).await.as_deref(),
        Some("reloaded")
    );
}

#[tokio::test]
async fn versions_keep_older_values_apart() {
    let server = RedisServer::start();
    let v1 = SharedCache::builder("items", tier(&server).await)
        .version(1)
        .build()
        .unwrap();
    v1.set("a", 1u32).await;
    let v2 = SharedCache::builder("items", tier(&server).await)
        .version(2)
        .build()
        .unwrap();
    assert_eq!(v2.get::<_, u32>("a").await, None, "written by version 1");
    let v1_again = SharedCache::builder("items", tier(&server).await)
        .version(1)
        .build()
        .unwrap();
    assert_eq!(v1_again.get::<_, u32>("a").await, Some(1));
}

#[tokio::test]
async fn while_redis_is_down_calls_are_answered_from_memory_and_local_loads() {
    let mut server = RedisServer::start();
    let shared = tier(&server).await;
    let replica = cache(&shared, "sessions");
    replica.set("kept", 1u32).await;
    server.kill();
    eventually("the tier notices the outage", || !shared.is_available()).await;

    let started = Instant::now();
    assert_eq!(
        replica.get::<_, u32>("kept").await,
        Some(1),
        "memory still serves"
    );
    let loaded = replica.get_or_insert_with("new", async { 2u32 }).await;
    assert_eq!(loaded, 2);
    replica.set("other", 3u32).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no call waited on Redis"
    );
    assert!(replica.stats().shared_errors > 0);

    server.restart();
    eventually("the tier comes back by itself", || shared.is_available()).await;
    // Copies that may have missed invalidations were dropped on the way.
    assert!(replica.is_empty());
    replica.set("after", 4u32).await;
    let other = cache(&tier(&server).await, "sessions");
    assert_eq!(other.get::<_, u32>("after").await, Some(4));
}

#[tokio::test]
async fn a_hung_redis_costs_each_call_about_one_deadline() {
    let server = RedisServer::start();
    let shared = tier(&server).await;
    let replica = cache(&shared, "hung");
    replica.set("k", 1u32).await;
    server.pause(true);
    let started = Instant::now();
    assert_eq!(replica.get::<_, u32>("k").await, Some(1));
    assert_eq!(replica.get::<_, u32>("absent").await, None);
    let loaded = replica.get_or_insert_with("load", async { 5u32 }).await;
    assert_eq!(loaded, 5);
    // At most three 200 ms deadlines (a read, a read and a lock attempt;
    // then the breaker is open), with a margin for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    server.pause(false);
    eventually("available again", || shared.is_available()).await;
}

/// A tier made on one runtime keeps working on the next after the first
/// is gone: it runs on its own (as a `static` tier used by one
/// `#[tokio::test]` after another must).
#[test]
fn a_tier_outlives_the_runtime_that_made_it() {
    let server = RedisServer::start();
    let first = tokio::runtime::Runtime::new().unwrap();
    let tier = first.block_on(async {
        let tier = tier(&server).await;
        cache(&tier, "outlive").set("k", 1u32).await;
        tier
    });
    drop(first);
    for _ in 0..2 {
        let next = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        next.block_on(async {
            let reader = cache(&tier, "outlive");
            assert_eq!(reader.get::<_, u32>("k").await, Some(1));
            assert!(tier.is_available());
        });
    }
}

/// A delete made while Redis is down is replayed when it is back: here the
/// server restarts from a snapshot that still holds the value, so only the
/// replay removes it.
#[tokio::test]
async fn a_delete_lost_in_an_outage_is_replayed_when_redis_is_back() {
    let mut server = RedisServer::start();
    let shared = tier(&server).await;
    let replica = cache(&shared, "tokens");
    replica.set("k", 1u32).await;
    replica.set("control", 2u32).await;
    let _: () = redis::cmd("SAVE").query(&mut server.connection()).unwrap();
    server.kill();
    eventually("the outage is noticed", || !shared.is_available()).await;

    assert!(replica.delete("k").await, "removed from memory at once");
    assert_eq!(shared.invalidations_pending(), 1);

    server.restart();
    eventually("the replay ran", || shared.invalidations_pending() == 0).await;
    let other = cache(&tier(&server).await, "tokens");
    assert_eq!(
        other.get::<_, u32>("k").await,
        None,
        "the replay deleted it"
    );
    assert_eq!(
        other.get::<_, u32>("control").await,
        Some(2),
        "the snapshot did bring back what was saved"
    );
}

/// A copy in memory never outlives the Redis entry it came from: its TTL
/// is what Redis had left, not the cache's default.
#[tokio::test]
async fn a_memory_copy_expires_with_the_redis_entry() {
    let server = RedisServer::start();
    let writer = cache(&tier(&server).await, "ttl");
    writer.set("k", 1u32).await;
    // Redis has 30 s left, the reader's default would be 60 s.
    let key: String = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("test:{ttl}:*")
        .query::<(u64, Vec<String>)>(&mut server.connection())
        .unwrap()
        .1
        .remove(0);
    let _: () = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(30_000)
        .query(&mut server.connection())
        .unwrap();
    let clock = memo_runtime::ManualClock::new();
    let reader = SharedCache::builder("ttl", tier(&server).await)
        .default_ttl(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(reader.get::<_, u32>("k").await, Some(1));
    clock.advance(Duration::from_secs(29));
    assert_eq!(reader.get::<_, u32>("k").await, Some(1));
    assert_eq!(reader.stats().hits, 1, "29 s: still the memory copy");
    clock.advance(Duration::from_secs(1));
    assert_eq!(reader.get::<_, u32>("k").await, Some(1));
    assert_eq!(
        reader.stats().hits,
        1,
        "30 s: the copy expired with Redis's TTL"
    );
    assert_eq!(reader.stats().shared_hits, 2);
}

/// Values over the size cap stay in the memory of the process that has them.
#[tokio::test]
async fn values_over_the_size_cap_stay_in_memory() {
    let server = RedisServer::start();
    let small = |tier: &SharedTier| {
        SharedCache::builder("big", tier.clone())
            .max_value_bytes(64)
            .build()
            .unwrap()
    };
    let (a, b) = (small(&tier(&server).await), small(&tier(&server).await));
    let big = "x".repeat(1000);
    a.set("k", big.clone()).await;
    assert_eq!(a.get::<_, String>("k").await, Some(big), "in a's memory");
    assert_eq!(
        b.get::<_, String>("k").await,
        None,
        "never written to Redis"
    );
    a.set("small", String::from("ok")).await;
    assert_eq!(b.get::<_, String>("small").await.as_deref(), Some("ok"));
}

/// A delete while a load runs wins in Redis too: the loader's value goes
/// back to its caller, but it is not stored for anyone.
#[tokio::test]
async fn a_delete_during_a_load_keeps_the_loaded_value_out_of_redis() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let (a, b) = (cache(&ta, "race"), cache(&tb, "race"));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let loading = {
        let (a, release) = (a.clone(), release.clone());
        tokio::spawn(async move {
            a.get_or_insert_with("k", async move {
                let _ = started_tx.send(());
                release.notified().await;
                String::from("old")
            })
            .await
        })
    };
    started_rx.await.unwrap();
    let before = ta.invalidations_received();
    b.delete("k").await;
    received(&ta, before + 1).await;
    release.notify_one();
    assert_eq!(loading.await.unwrap(), "old", "its caller still gets it");
    assert!(a.is_empty(), "not kept in the loader's memory");
    let fresh = cache(&tier(&server).await, "race");
    assert_eq!(fresh.get::<_, String>("k").await, None, "nor in Redis");
}

/// A waiter for another process's load does not wait out the lease when
/// that load fails: the holder releases the lock and the waiter loads.
#[tokio::test]
async fn a_failed_load_elsewhere_does_not_cost_a_lease() {
    let server = RedisServer::start();
    let (ta, tb) = (tier(&server).await, tier(&server).await);
    let (a, b) = (cache(&ta, "fail"), cache(&tb, "fail"));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let failing = {
        let (a, release) = (a.clone(), release.clone());
        tokio::spawn(async move {
            a.try_get_or_insert_with("k", async move {
                let _ = started_tx.send(());
                release.notified().await;
                Err::<u32, &str>("down")
            })
            .await
        })
    };
    started_rx.await.unwrap();
    let waiting = {
        let b = b.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let value = b.get_or_insert_with("k", async { 7u32 }).await;
            (value, started.elapsed())
        })
    };
    // Once the waiter waits on the lock, fail the holder's load.
    eventually("b waits for a's load", || tb.loads_waited_for() == 1).await;
    release.notify_one();
    assert_eq!(failing.await.unwrap(), Err("down"));
    let (value, waited) = waiting.await.unwrap();
    assert_eq!(value, 7);
    assert!(
        waited < Duration::from_secs(3),
        "waited {waited:?} of a 5 s lease"
    );
}

/// Which of b's calls reads Redis while a deletes the key.
#[derive(Clone, Copy, Debug)]
enum Reader {
    Get,
    Load,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_a_redis_read_keeps_the_read_out_of_memory() {
    for reader in [Reader::Get, Reader::Load] {
        invalidation_during_a_read(reader).await;
    }
}

async fn invalidation_during_a_read(reader: Reader) {
    let server = RedisServer::start();
    // b reaches Redis through a proxy that can hold its replies back.
    let proxy = holding_proxy::HoldingProxy::start(server.port).await;
    let tb = SharedTier::builder(&proxy.url())
        .prefix("test")
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a valid URL");
    assert!(tb.wait_available(PATIENCE).await);
    let (a, b) = (cache(&tier(&server).await, "race"), cache(&tb, "race"));
    let old = String::from("the-old-value-5f2c");
    a.set(&1u64, old.clone()).await;
    eventually("b heard of the set", || tb.invalidations_received() == 1).await;

    // b's read reaches Redis and finds the old value; the reply is held.
    proxy.hold_replies(true);
    let read = {
        let b = b.clone();
        tokio::spawn(async move {
            match reader {
                Reader::Get => b.get::<_, String>(&1u64).await,
                Reader::Load => Some(b.get_or_insert_with(&1u64, async { "loaded".into() }).await),
            }
        })
    };
    eventually("b's read is answered and held", || {
        proxy.held_replies_contain(old.as_bytes())
    })
    .await;
    // Meanwhile a deletes it, and b's subscriber (never held) hears of it.
    assert!(a.delete(&1u64).await);
    eventually("b heard of the delete", || tb.invalidations_received() == 2).await;
    proxy.hold_replies(false);

    // The read was concurrent with the delete, so the old value may be its
    // answer; but it must not stay in b's memory after the delete.
    assert_eq!(read.await.unwrap(), Some(old), "{reader:?}");
    assert_eq!(b.len(), 0, "{reader:?}: the stale read was kept");
    assert_eq!(b.get::<_, String>(&1u64).await, None, "{reader:?}");
}

#[tokio::test]
async fn a_value_kept_in_redis_stands_in_for_a_failed_load_in_another_replica() {
    let server = RedisServer::start();
    let ttl = Duration::from_millis(300);
    let stale = Duration::from_secs(60);
    let replica = |tier: SharedTier| {
        SharedCache::builder("rates", tier)
            .default_ttl(ttl)
            .stale(stale)
            .build()
            .expect("valid settings")
    };
    let (a, b, c) = (
        replica(tier(&server).await),
        replica(tier(&server).await),
        replica(tier(&server).await),
    );
    assert_eq!(a.get_or_insert_with(&1u32, async { 7u32 }).await, 7);

    // Redis keeps the value `ttl + stale`; wait (on Redis's own clock) until
    // only the stale window is left.
    let mut conn = server.connection();
    let key: String = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("test:{rates}:*")
        .query::<(u64, Vec<String>)>(&mut conn)
        .unwrap()
        .1
        .into_iter()
        .find(|key| !key.contains(":lock:"))
        .expect("the value is in Redis");
    let pttl = |conn: &mut redis::Connection| -> i64 { conn.pttl(&key).unwrap() };
    assert!(
        pttl(&mut conn) > stale.as_millis() as i64,
        "kept past the TTL"
    );
    eventually("the value went stale in Redis", || {
        pttl(&mut server.connection()) <= stale.as_millis() as i64
    })
    .await;

    // Another replica with nothing in memory: not a hit...
    assert_eq!(c.get::<_, u32>(&1u32).await, None);
    // ...but a failed load is answered by the value Redis kept.
    let fallback = b
        .try_get_or_insert_with(&1u32, async { Err::<u32, _>("backend down") })
        .await;
    assert_eq!(fallback, Ok(7));
    assert_eq!(b.stats().stale_served, 1);
    // And a successful load replaces it, in Redis too.
    assert_eq!(
        c.try_get_or_insert_with(&1u32, async { Ok::<_, ()>(8u32) })
            .await,
        Ok(8)
    );
    assert!(pttl(&mut conn) > stale.as_millis() as i64, "fresh again");
}

#[tokio::test]
async fn jitter_spreads_the_redis_ttls_of_loaded_values() {
    let server = RedisServer::start();
    let cache = SharedCache::builder("spread", tier(&server).await)
        .default_ttl(Duration::from_secs(100))
        .jitter(0.5)
        .build()
        .expect("valid settings");
    for key in 0..40u32 {
        cache.get_or_insert_with(&key, async move { key }).await;
    }
    let mut conn = server.connection();
    let keys: Vec<String> = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("test:{spread}:*")
        .arg("COUNT")
        .arg(1000)
        .query::<(u64, Vec<String>)>(&mut conn)
        .unwrap()
        .1;
    assert_eq!(keys.len(), 40);
    let ttls: Vec<i64> = keys.iter().map(|key| conn.pttl(key).unwrap()).collect();
    assert!(
        ttls.iter().all(|ms| (49_000..=100_000).contains(ms)),
        "{ttls:?}"
    );
    let (low, high) = (ttls.iter().min().unwrap(), ttls.iter().max().unwrap());
    assert!(high - low > 10_000, "spread over the last half: {ttls:?}");
}
