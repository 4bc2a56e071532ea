//! The tier's own runtime: one thread running a current-thread tokio
//! runtime, where its connections, driver tasks, subscriber and probe live.
//! Callers on any runtime (or none) hand it work and await the answer on a
//! oneshot channel, so a static tier outlives every `#[tokio::test]`
//! runtime that used it. The thread stops when the last tier handle drops.

use std::future::Future;
use std::thread;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

use super::SharedTierError;

pub(crate) struct Worker {
    handle: Handle,
    /// Dropped with the worker: the thread's `block_on` returns and the
    /// runtime, with every task on it, is dropped.
    _stop: oneshot::Sender<()>,
}

impl Worker {
    pub(crate) fn start() -> Result<Worker, SharedTierError> {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| SharedTierError::Runtime(err.to_string()))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        thread::Builder::new()
            .name("memo-shared-tier".into())
            .spawn(move || {
                // Returns when the worker is dropped (the sender with it).
                let _ = runtime.block_on(stopped);
            })
            .map_err(|err| SharedTierError::Runtime(err.to_string()))?;
        Ok(Worker {
            handle,
            _stop: stop,
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `task` on the tier's runtime and waits for its output from any
    /// executor. `None` if the runtime is gone (the tier is shutting down).
    pub(crate) async fn run<T, F>(&self, task: F) -> Option<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (done, output) = oneshot::channel();
        self.handle.spawn(async move {
            let _ = done.send(task.await);
        });
        output.await.ok()
    }

    /// Completes after `delay`, timed on the tier's runtime (so the caller
    /// needs no timer of its own).
    pub(crate) async fn after(&self, delay: std::time::Duration) {
        let (done, fired) = oneshot::channel::<()>();
        let timer = self.handle.spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = done.send(());
        });
        // Dropped before the deadline (the operation won): stop the timer.
        let _stop = AbortOnDrop(timer);
        let _ = fired.await;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
