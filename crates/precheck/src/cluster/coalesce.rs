//! Coalescing: identical requests running at the same time share one result.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

/// Runs at most one future per key at a time; callers that ask for a key already running wait for that
/// run's result instead of starting another. Once it finishes, the next caller starts afresh, so nobody
/// gets a result older than their own call.
/// A run in flight: its id and the future every caller awaits.
type Run<V> = (u64, Shared<BoxFuture<'static, V>>);

pub(crate) struct Coalescer<K, V: Clone> {
    inflight: Mutex<HashMap<K, Run<V>>>,
    next_id: AtomicU64,
}

impl<K: Hash + Eq + Clone, V: Clone> Coalescer<K, V> {
    pub(crate) fn new() -> Self {
        Self { inflight: Mutex::new(HashMap::new()), next_id: AtomicU64::new(0) }
    }

    /// The result for `key`: from the run already in flight, or from `start()`.
    pub(crate) async fn run(&self, key: K, start: impl FnOnce() -> BoxFuture<'static, V>) -> V {
        let (id, future) = {
            let mut inflight = self.inflight.lock().expect("coalescer lock");
            match inflight.get(&key) {
                Some((id, future)) => (*id, future.clone()),
                None => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let future = start().shared();
                    inflight.insert(key.clone(), (id, future.clone()));
                    (id, future)
                }
            }
        };
        let value = future.await;
        let mut inflight = self.inflight.lock().expect("coalescer lock");
        if inflight.get(&key).is_some_and(|(current, _)| *current == id) {
            inflight.remove(&key);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn callers_during_a_run_share_it_and_later_callers_start_anew() {
        let coalescer = Coalescer::<&str, u32>::new();
        let started = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::oneshot::channel::<u32>();
        let gate = gate.shared();
        let calls = (0..20).map(|_| {
            let started = started.clone();
            let gate = gate.clone();
            coalescer.run("pods", move || {
                started.fetch_add(1, Ordering::SeqCst);
                async move { gate.await.unwrap_or(0) }.boxed()
            })
        });
        let all = futures::future::join_all(calls);
        let (values, ()) = tokio::join!(all, async move {
            tokio::task::yield_now().await;
            release.send(7).unwrap();
        });
        assert_eq!(values, vec![7; 20]);
        assert_eq!(started.load(Ordering::SeqCst), 1);

        // Other keys run on their own, and a finished run is not reused.
        let other = coalescer.run("svc", || async { 1 }.boxed()).await;
        let again = coalescer.run("pods", || async { 2 }.boxed()).await;
        assert_eq!((other, again), (1, 2));
    }
}
