//! Re-entry detection: a load that waits for itself.
//!
//! A memoized function that calls itself with the same arguments while
//! computing that result (directly or through other functions) would join its
//! own load in flight and wait for it forever. So each thread keeps a stack of
//! the loads whose body it is running *right now*: a blocking leader for the
//! duration of its body's call, an async leader for the duration of each poll
//! of its body. A nested call runs inside those (a nested future is polled
//! from within its caller's poll, on the same thread), so a caller about to
//! wait on a load that is on its own thread's stack is waiting on itself: it
//! panics with a message naming the function instead of hanging.
//!
//! Other callers are never flagged: another thread, or another task polled
//! while the leader's body is suspended, does not see the leader's frame and
//! waits as usual.
//!
//! Cost: nothing on the hit path; a push and a pop of a stack frame (a
//! thread-local pointer, no allocation) per leader's call or poll, and a walk
//! of the (short) stack when a caller is about to wait.
//!
//! Limits: only waits nested inside the body's own call or poll are seen. A
//! body that spawns a task (or starts a thread) that calls it back with the
//! same arguments, and then awaits (or joins) that task, still waits forever.
//! And a nested call whose wait would have been abandoned (a `select!` that a
//! timeout wins) panics too rather than waiting.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

use crate::flight::LoadId;

/// A load being run by this thread; frames form a stack through `outer`.
struct Frame {
    load: LoadId,
    outer: *const Frame,
}

thread_local! {
    /// The innermost load this thread is running, or null. No destructor, so
    /// usable at any point of a thread's life.
    static RUNNING: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// Pops a frame, on return or unwind.
struct Pop(*const Frame);

impl Drop for Pop {
    fn drop(&mut self) {
        RUNNING.set(self.0);
    }
}

/// Runs `body` with `load` on this thread's stack of loads being run.
#[inline]
pub(crate) fn running<R>(load: LoadId, body: impl FnOnce() -> R) -> R {
    let frame = Frame {
        load,
        outer: RUNNING.get(),
    };
    RUNNING.set(&frame);
    let _pop = Pop(frame.outer);
    body()
}

/// Whether this thread is running `load` (somewhere up its stack).
fn is_running(load: LoadId) -> bool {
    let mut frame = RUNNING.get();
    // SAFETY: every frame reachable from `RUNNING` lives in a `running` call
    // that is still active on this thread's stack: `running` pushes a frame
    // that outlives its `body` and pops it (restoring the outer one) when it
    // returns or unwinds, strictly in reverse order.
    while let Some(current) = unsafe { frame.as_ref() } {
        if current.load == load {
            return true;
        }
        frame = current.outer;
    }
    false
}

/// Called by a caller about to wait on `load`, of a key in `namespace`.
///
/// # Panics
///
/// If this thread is running `load`: the caller would wait for itself.
#[inline]
pub(crate) fn check_wait(load: LoadId, namespace: &str) {
    if is_running(load) {
        waits_for_itself(namespace);
    }
}

/// What every re-entry panic's message says, so that a load that catches
/// panics (for a `stale` fallback) can tell this bug from a failure and let
/// it go on.
const WAITS_FOR_ITSELF: &str = "it would wait for itself forever";

/// Whether `payload` is a re-entry panic's: a bug in the caller's code,
/// which no kept value may hide.
pub(crate) fn is_reentry(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = match payload.downcast_ref::<String>() {
        Some(message) => message.as_str(),
        None => payload.downcast_ref::<&str>().copied().unwrap_or_default(),
    };
    message.starts_with("memo: ") && message.contains(WAITS_FOR_ITSELF)
}

#[cold]
#[inline(never)]
fn waits_for_itself(namespace: &str) -> ! {
    if namespace.is_empty() {
        panic!(
            "memo: this key was loaded again (`get_or_insert_with` or `try_get_or_insert_with`) \
             while its `init` was computing that very value (it needs its own result, directly \
             or through other functions); {WAITS_FOR_ITSELF}. Break the cycle, or compute the \
             inner value without the cache."
        )
    }
    panic!(
        "memo: `{namespace}` was called again with the same arguments while computing that very \
         result (it calls itself, directly or through other functions); {WAITS_FOR_ITSELF}. Break \
         the cycle, or make the inner call through its `uncached` companion (which runs the body \
         without the cache)."
    )
}

/// An async leader's body, polled with its load on the thread's stack.
pub(crate) struct Running<'a, F> {
    load: LoadId,
    body: Pin<&'a mut F>,
}

impl<'a, F> Running<'a, F> {
    pub(crate) fn new(load: LoadId, body: Pin<&'a mut F>) -> Self {
        Running { load, body }
    }
}

impl<F: Future> Future for Running<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        running(this.load, || this.body.as_mut().poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::thread;

    use crate::__private::{
        AsyncCache, EncodedKey, Lookup, Site, SiteTtl, lookup, memoize, memoize_blocking,
    };

    static F: Site = Site::new("tests::", "", None);
    static G: Site = Site::new("tests::", "", None);

    const SELF_WAIT: &str = "was called again with the same arguments while computing that \
                             very result";

    fn encoded(k: u64) -> EncodedKey {
        let mut key = EncodedKey::new(1);
        key.part(&k);
        key.finish();
        key
    }

    fn new_cache() -> &'static AsyncCache {
        Box::leak(Box::new(
            AsyncCache::builder().max_size(100).build().unwrap(),
        ))
    }

    /// The function name a test site stands for: `tests::f` or `tests::g`.
    fn name_of(site: &'static Site) -> &'static str {
        if std::ptr::eq(site, &F) { "f" } else { "g" }
    }

    type BoxFuture = std::pin::Pin<Box<dyn Future<Output = u64> + Send>>;

    /// A memoized async fn of `site`, as generated code calls it, whose body
    /// is `body`.
    fn memoized(
        cache: &'static AsyncCache,
        site: &'static Site,
        k: u64,
        body: impl FnOnce() -> BoxFuture + Send + 'static,
    ) -> BoxFuture {
        Box::pin(async move {
            match lookup::<u64>(cache, site.namespace(name_of(site)), &encoded(k)) {
                Lookup::Hit(value) => value,
                Lookup::Miss(key) => memoize(cache, site, key, SiteTtl, body()).await,
            }
        })
    }

    /// `f(k)`: calls `f(next(k))` unless `k` is 0.
    fn f(cache: &'static AsyncCache, k: u64, next: fn(u64) -> u64) -> BoxFuture {
        memoized(cache, &F, k, move || {
            Box::pin(async move {
                if k == 0 {
                    return 0;
                }
                tokio::task::yield_now().await;
                f(cache, next(k), next).await + 1
            })
        })
    }

    /// `f(k)` that calls `g(k)`, which calls `f(k)`.
    fn f_through_g(cache: &'static AsyncCache, k: u64) -> BoxFuture {
        memoized(cache, &F, k, move || {
            Box::pin(memoized(cache, &G, k, move || f_through_g(cache, k)))
        })
    }

    /// The text of a panic's payload.
    fn message(payload: Box<dyn std::any::Any + Send>) -> String {
        match payload.downcast::<String>() {
            Ok(text) => *text,
            Err(payload) => payload.downcast_ref::<&str>().unwrap_or(&"?").to_string(),
        }
    }

    async fn panic_of(future: BoxFuture) -> String {
        let err = tokio::spawn(future)
            .await
            .expect_err("the call should panic");
        assert!(err.is_panic());
        message(err.into_panic())
    }

    #[tokio::test]
    async fn an_async_fn_awaiting_itself_panics_naming_it() {
        let cache = new_cache();
        let text = panic_of(f(cache, 5, |k| k)).await;
        assert!(text.contains("memo: `tests::f` "), "{text}");
        assert!(text.contains(SELF_WAIT), "{text}");
        assert!(text.contains("`uncached`"), "{text}");
        // The outer load was abandoned with its task, and this thread's stack
        // of running loads was unwound: the key loads normally now.
        assert_eq!(cache.loads_in_flight(), 0);
        assert_eq!(f(cache, 0, |k| k).await, 0);
    }

    #[tokio::test]
    async fn a_cycle_through_another_fn_panics() {
        let cache = new_cache();
        let text = panic_of(f_through_g(cache, 1)).await;
        assert!(text.contains("`tests::f`"), "{text}");
        assert!(text.contains(SELF_WAIT), "{text}");
        assert_eq!(cache.loads_in_flight(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nested_calls_with_other_arguments_are_fine() {
        let cache = new_cache();
        assert_eq!(f(cache, 10, |k| k - 1).await, 10);
        assert_eq!(cache.len(), 11);
        assert_eq!(f(cache, 10, |k| k - 1).await, 10);
        assert_eq!(cache.stats().hits, 1);
    }

    #[tokio::test]
    async fn callers_of_one_key_in_one_task_wait_normally() {
        // Both on this thread, but the second is not polled from inside the
        // first's body: it waits instead of panicking.
        let cache = new_cache();
        let runs = Arc::new(AtomicUsize::new(0));
        let call = || {
            let runs = runs.clone();
            memoized(cache, &F, 1, move || {
                Box::pin(async move {
                    runs.fetch_add(1, SeqCst);
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    7
                })
            })
        };
        assert_eq!(tokio::join!(call(), call(), call()), (7, 7, 7));
        assert_eq!(runs.load(SeqCst), 1);
        assert_eq!(cache.stats().coalesced, 2);
    }

    #[tokio::test]
    async fn get_or_insert_with_of_its_own_key_panics() {
        let cache = Arc::new(AsyncCache::new());
        let inner = cache.clone();
        let task = tokio::spawn(async move {
            let init = async { inner.get_or_insert_with(&1, async { 0u8 }).await + 1 };
            inner.get_or_insert_with(&1, init).await
        });
        let text = message(task.await.unwrap_err().into_panic());
        assert!(
            text.starts_with("memo: this key was loaded again"),
            "{text}"
        );
        assert!(text.contains("wait for itself forever"), "{text}");
        // Another key inside `init` is fine.
        let inner = cache.clone();
        let init = async move {
            let init = async { Ok::<_, ()>(inner.get_or_insert_with(&2, async { 1u8 }).await) };
            inner.try_get_or_insert_with(&3, init).await
        };
        assert_eq!(cache.get_or_insert_with(&1, init).await, Ok(1));
    }

    /// A sync memoized fn of `F`, as generated code calls it.
    fn sync_f(cache: &AsyncCache, k: u64, body: impl FnOnce() -> u64) -> u64 {
        match lookup::<u64>(cache, F.namespace("f"), &encoded(k)) {
            Lookup::Hit(value) => value,
            Lookup::Miss(key) => memoize_blocking(cache, &F, key, SiteTtl, body),
        }
    }

    /// `sync_f` calling itself with `next(k)` until `k` is 0.
    fn recurse(cache: &AsyncCache, k: u64, next: fn(u64) -> u64) -> u64 {
        sync_f(cache, k, || {
            if k == 0 {
                0
            } else {
                recurse(cache, next(k), next) + 1
            }
        })
    }

    #[test]
    fn a_sync_fn_calling_itself_panics_naming_it() {
        let cache = new_cache();
        let payload = catch_unwind(AssertUnwindSafe(|| recurse(cache, 3, |k| k)))
            .expect_err("the call should panic");
        let text = message(payload);
        assert!(text.contains("memo: `tests::f` "), "{text}");
        assert!(text.contains(SELF_WAIT), "{text}");
        assert_eq!(cache.loads_in_flight(), 0);
        assert!(cache.is_empty());
        // Nothing left on this thread's stack: the same key loads again.
        assert_eq!(sync_f(cache, 3, || 9), 9);
    }

    #[test]
    fn a_sync_fn_calling_itself_with_other_arguments_is_fine() {
        let cache = new_cache();
        assert_eq!(recurse(cache, 20, |k| k - 1), 20);
        assert_eq!(cache.len(), 21);
    }

    #[test]
    fn threads_waiting_on_one_key_are_not_flagged() {
        let cache = new_cache();
        let results: Vec<u64> = thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        sync_f(cache, 1000, || {
                            let start = std::time::Instant::now();
                            while cache.waiters_in_flight() < 3 {
                                assert!(start.elapsed().as_secs() < 10, "waiters hung");
                                thread::yield_now();
                            }
                            // Nested loads of other keys on the leader's
                            // thread, while it leads.
                            recurse(cache, 5, |k| k - 1) + 1
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results, [6; 4]);
        assert_eq!(cache.stats().coalesced, 3);
    }
}
