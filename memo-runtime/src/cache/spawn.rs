//! Where detached reloads run: on the current tokio runtime, or on a thread
//! of their own (plain functions, callers outside any runtime).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// Runs `task` on the current tokio runtime, or on a thread of its own
/// outside one. If the thread cannot start, `task` is dropped, and the
/// leader in it abandons its load.
pub(crate) fn spawn_detached(task: impl Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn(task)),
        Err(_) => spawn_thread(move || block_on(task)),
    }
}

/// Runs `work` on a thread of its own. If the thread cannot start, `work`
/// is dropped, and the leader in it abandons its load: the next caller
/// loads.
pub(crate) fn spawn_thread(work: impl FnOnce() + Send + 'static) {
    drop(
        std::thread::Builder::new()
            .name("memo-reload".into())
            .spawn(work),
    );
}

/// Runs a future to completion on this thread (a reload started outside
/// any tokio runtime).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}
