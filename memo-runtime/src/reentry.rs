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

use crate::flight::{LeaderGuard, LoadId};

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

#[cold]
#[inline(never)]
fn waits_for_itself(namespace: &str) -> ! {
    if namespace.is_empty() {
        panic!(
            "memo: this key was loaded again (`get_or_insert_with` or `try_get_or_insert_with`) \
             while its `init` was computing that very value (it needs its own result, directly \
             or through other functions); it would wait for itself forever. Break the cycle, \
             or compute the inner value without the cache."
        )
    }
    panic!(
        "memo: `{namespace}` was called again with the same arguments while computing that very \
         result (it calls itself, directly or through other functions); it would wait for itself \
         forever. Break the cycle, or make the inner call through its `uncached` companion (which \
         runs the body without the cache)."
    )
}

/// An async leader's body, polled with its load on the thread's stack.
pub(crate) struct Running<'a, F> {
    leader: &'a LeaderGuard,
    body: Pin<&'a mut F>,
}

impl<'a, F> Running<'a, F> {
    pub(crate) fn new(leader: &'a LeaderGuard, body: Pin<&'a mut F>) -> Self {
        Running { leader, body }
    }
}

impl<F: Future> Future for Running<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        running(this.leader.load(), || this.body.as_mut().poll(cx))
    }
}
