//! The `metrics` facade (feature `metrics`): `publish_metrics()` hands every
//! cache's counters and sizes to the installed recorder, labelled by the
//! cache's name; a test recorder (metrics-util's) captures them.

use memo_runtime::{AsyncCache, cached, publish_metrics};
use metrics::{SharedString, Unit};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

#[cached(max_size = 40)]
fn square(n: u64) -> u64 {
    n * n
}

/// What the recorder holds (a snapshot resets its counters, so take one
/// per publication).
type Published = Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)>;

fn published(snapshotter: &Snapshotter) -> Published {
    snapshotter.snapshot().into_vec()
}

/// The value of `metric` for the cache named `cache`.
fn value_of(published: &Published, metric: &str, cache: &str) -> Option<DebugValue> {
    published
        .iter()
        .find(|(key, _, _, _)| {
            let key = key.key();
            key.name() == metric
                && key
                    .labels()
                    .any(|label| label.key() == "cache" && label.value() == cache)
        })
        .map(|(_, _, _, value)| match value {
            DebugValue::Counter(count) => DebugValue::Counter(*count),
            DebugValue::Gauge(level) => DebugValue::Gauge(*level),
            DebugValue::Histogram(samples) => DebugValue::Histogram(samples.clone()),
        })
}

#[tokio::test]
async fn every_cache_is_published_with_its_counters_and_sizes() {
    square(2);
    square(2);
    square(3);
    let named = AsyncCache::builder()
        .name("metered")
        .max_size(9)
        .build()
        .unwrap();
    named.set("a", 1u8).await;
    let _ = named.get::<_, u8>("b").await;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, publish_metrics);

    let function = memo_runtime::caches()
        .into_iter()
        .find(|cache| cache.name.ends_with("::square"))
        .unwrap()
        .name;
    let first = published(&snapshotter);
    let counter = |metric, cache| value_of(&first, metric, cache);
    assert_eq!(
        counter("memo_hits_total", &function),
        Some(DebugValue::Counter(1))
    );
    assert_eq!(
        counter("memo_misses_total", &function),
        Some(DebugValue::Counter(2))
    );
    assert_eq!(
        counter("memo_loads_total", &function),
        Some(DebugValue::Counter(2))
    );
    assert_eq!(
        counter("memo_inserts_total", &function),
        Some(DebugValue::Counter(2))
    );
    assert_eq!(
        counter("memo_entries", &function),
        Some(DebugValue::Gauge(2.0.into()))
    );
    assert_eq!(
        counter("memo_max_entries", &function),
        Some(DebugValue::Gauge(40.0.into()))
    );
    assert_eq!(
        counter("memo_misses_total", "metered"),
        Some(DebugValue::Counter(1))
    );
    assert_eq!(
        counter("memo_entries", "metered"),
        Some(DebugValue::Gauge(1.0.into()))
    );

    // Published again later: the totals, not increments.
    square(2);
    metrics::with_local_recorder(&recorder, publish_metrics);
    assert_eq!(
        value_of(&published(&snapshotter), "memo_hits_total", &function),
        Some(DebugValue::Counter(2))
    );
}
