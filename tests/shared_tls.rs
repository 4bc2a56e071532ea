//! The shared tier over TLS (`rediss://`, feature `redis-tls`) against a
//! real `redis-server` listening for TLS with certificates of a private
//! authority made by the test: values, loads and invalidations travel over
//! it; a server the tier cannot verify, or one that wants a client
//! certificate the tier lacks, is never used, and calls are answered from
//! memory.

#[path = "support/certificates.rs"]
mod certificates;
#[path = "support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use certificates::Certificates;
use memo_runtime::{SharedCache, SharedTier, SharedTierBuilder, SharedTierError};
use redis_server::{RedisServer, ServerTls};

const PATIENCE: Duration = Duration::from_secs(10);
/// Long enough for a tier that can connect to have connected many times.
const NEVER_UP: Duration = Duration::from_secs(2);

static AUTHORITY: LazyLock<Certificates> =
    LazyLock::new(|| Certificates::generate("memo test authority"));

fn server(require_client_certificate: bool) -> RedisServer {
    RedisServer::start_tls(&ServerTls {
        certificate_pem: &AUTHORITY.server_pem,
        key_pem: &AUTHORITY.server_key_pem,
        client_ca_pem: &AUTHORITY.ca_pem,
        require_client_certificate,
    })
}

fn builder(server: &RedisServer) -> SharedTierBuilder {
    SharedTier::builder(&server.tls_url())
        .prefix("tls")
        .timeout(Duration::from_millis(300))
}

fn trusted(server: &RedisServer) -> SharedTier {
    builder(server)
        .tls_root_certificates(AUTHORITY.ca_pem.as_bytes())
        .tls_client_certificate(
            AUTHORITY.client_pem.as_bytes(),
            AUTHORITY.client_key_pem.as_bytes(),
        )
        .build()
        .expect("valid TLS settings")
}

fn cache(tier: &SharedTier) -> SharedCache {
    SharedCache::builder("users", tier.clone())
        .default_ttl(Duration::from_secs(60))
        .build()
        .expect("valid settings")
}

fn keys_in_redis(server: &RedisServer) -> usize {
    redis::cmd("DBSIZE")
        .query(&mut server.connection())
        .expect("DBSIZE on the plain port")
}

#[tokio::test]
async fn values_loads_and_invalidations_travel_over_mutual_tls() {
    let server = server(true);
    let (tier_a, tier_b) = (trusted(&server), trusted(&server));
    assert!(tier_a.wait_available(PATIENCE).await, "tier a connected");
    assert!(tier_b.wait_available(PATIENCE).await, "tier b connected");
    let (a, b) = (cache(&tier_a), cache(&tier_b));
    let loads = AtomicUsize::new(0);
    let load = || async {
        loads.fetch_add(1, SeqCst);
        String::from("Ada")
    };

    assert_eq!(a.get_or_insert_with(&1u64, load()).await, "Ada");
    assert_eq!(keys_in_redis(&server), 1, "written to Redis over TLS");
    assert_eq!(b.get_or_insert_with(&1u64, load()).await, "Ada");
    assert_eq!(loads.load(SeqCst), 1, "b read a's value from Redis");
    assert_eq!(b.stats().shared_hits, 1);

    // The invalidation bus (a second connection, pub/sub) is TLS too.
    let received = tier_b.invalidations_received();
    assert!(a.delete(&1u64).await);
    let started = Instant::now();
    while tier_b.invalidations_received() == received {
        assert!(started.elapsed() < PATIENCE, "b never heard of the delete");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(b.len(), 0, "b's memory copy was dropped");
    assert_eq!(b.get::<_, String>(&1u64).await, None);
}

#[tokio::test]
async fn a_server_the_tier_cannot_verify_is_never_used() {
    let server = server(false);
    let stranger = Certificates::generate("another authority");
    let tiers = [
        // The system's roots do not include the test's authority.
        builder(&server).build().expect("valid settings"),
        builder(&server)
            .tls_root_certificates(stranger.ca_pem.as_bytes())
            .build()
            .expect("valid settings"),
    ];
    for tier in &tiers {
        assert!(!tier.wait_available(NEVER_UP).await, "verification failed");
        let cache = cache(tier);
        let loads = AtomicUsize::new(0);
        for _ in 0..2 {
            let value = cache
                .get_or_insert_with(&1u64, async {
                    loads.fetch_add(1, SeqCst);
                    7u32
                })
                .await;
            assert_eq!(value, 7);
        }
        assert_eq!(loads.load(SeqCst), 1, "memory still serves");
        assert!(
            cache.stats().shared_errors >= 1,
            "the skipped tier is counted"
        );
    }
    assert_eq!(keys_in_redis(&server), 0, "nothing reached Redis");
}

#[tokio::test]
async fn a_server_that_wants_a_client_certificate_refuses_a_tier_without_one() {
    let server = server(true);
    let without = builder(&server)
        .tls_root_certificates(AUTHORITY.ca_pem.as_bytes())
        .build()
        .expect("valid settings");
    assert!(!without.wait_available(NEVER_UP).await);
    let with = trusted(&server);
    assert!(
        with.wait_available(PATIENCE).await,
        "the same server, with one"
    );
}

#[test]
fn tls_settings_are_checked_when_the_tier_is_built() {
    let setting = |result: Result<SharedTier, SharedTierError>| match result {
        Err(SharedTierError::Setting(message)) => message,
        other => panic!("expected a setting error, got {other:?}"),
    };
    let plain = setting(
        SharedTier::builder("redis://127.0.0.1:6379")
            .tls_root_certificates(AUTHORITY.ca_pem.as_bytes())
            .build(),
    );
    assert!(plain.contains("not a `rediss://` URL"), "{plain}");

    let garbage = setting(
        SharedTier::builder("rediss://127.0.0.1:6380")
            .tls_root_certificates("not a certificate")
            .build(),
    );
    assert!(garbage.contains("no PEM certificate"), "{garbage}");

    let bad_key = setting(
        SharedTier::builder("rediss://127.0.0.1:6380")
            .tls_client_certificate(AUTHORITY.client_pem.as_bytes(), "s3cret-not-a-key")
            .build(),
    );
    assert!(!bad_key.contains("s3cret"), "{bad_key}");
}

#[test]
fn debug_shows_neither_the_password_nor_the_key() {
    let builder = SharedTier::builder("rediss://ada:s3cret@127.0.0.1:6380/0")
        .tls_root_certificates(AUTHORITY.ca_pem.as_bytes())
        .tls_client_certificate(
            AUTHORITY.client_pem.as_bytes(),
            AUTHORITY.client_key_pem.as_bytes(),
        );
    let shown = format!("{builder:?}");
    let key_body = AUTHORITY.client_key_pem.lines().nth(1).unwrap();
    assert!(
        !shown.contains("s3cret") && !shown.contains(key_body),
        "{shown}"
    );
    assert!(shown.contains("client_identity: true"), "{shown}");
    let tier = builder.build().expect("valid settings");
    assert!(!format!("{tier:?}").contains("s3cret"));
}
