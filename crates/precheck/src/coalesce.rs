//! Coalescing: identical requests running at the same time share one result.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

/// Merges identical requests made at the same moment. A run first waits [`GATHER`], so callers arriving
/// meanwhile join it; once its request is on its way, later callers start a new run. So every caller gets
/// an answer to a request sent after its own call — never an older one.
/// How long a run waits for identical calls before sending its request. Parallel tests that reach the
/// same step together arrive within microseconds; a millisecond is nothing next to an API round trip.
pub(crate) const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// A run: its id, whether its request has been sent, and the future every caller awaits.
type Run<V> = (u64, Arc<AtomicBool>, Shared<BoxFuture<'static, V>>);

pub(crate) struct Coalescer<K, V: Clone> {
    inflight: Mutex<HashMap<K, Run<V>>>,
    next_id: AtomicU64,
}

impl<K: Hash + Eq + Clone, V: Clone + Send + 'static> Coalescer<K, V> {
    pub(crate) fn new() -> Self {
        Self { inflight: Mutex::new(HashMap::new()), next_id: AtomicU64::new(0) }
    }

    /// The result for `key`: from the run already in flight, or from `start()`.
    pub(crate) async fn run(&self, key: K, start: impl FnOnce() -> BoxFuture<'static, V>) -> V {
        let (id, future) = {
            let mut inflight = self.inflight.lock().expect("coalescer lock");
            match inflight.get(&key) {
                Some((id, sent, future)) if !sent.load(Ordering::SeqCst) => (*id, future.clone()),
                _ => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let sent = Arc::new(AtomicBool::new(false));
                    let request = start();
                    let flag = sent.clone();
                    let future = async move {
                        // A timer, not a yield: clones of a shared future poll it, so a yield would end
                        // at the second caller's poll.
                        tokio::time::sleep(GATHER).await;
                        flag.store(true, Ordering::SeqCst);
                        request.await
                    }
                    .boxed()
                    .shared();
                    inflight.insert(key.clone(), (id, sent, future.clone()));
                    (id, future)
                }
            }
        };
        let value = future.await;
        let mut inflight = self.inflight.lock().expect("coalescer lock");
        if inflight.get(&key).is_some_and(|(current, _, _)| *current == id) {
            inflight.remove(&key);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    // Paused time: the gathering window ends only when every task is idle, so the test is deterministic.
    #[tokio::test(start_paused = true)]
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

        // A caller arriving after the request went out does not join it.
        let coalescer = Arc::new(coalescer);
        let (release, gate) = tokio::sync::oneshot::channel::<u32>();
        let gate = gate.shared();
        let first = {
            let (c, gate) = (coalescer.clone(), gate.clone());
            tokio::spawn(async move { c.run("pods", move || async move { gate.await.unwrap_or(0) }.boxed()).await })
        };
        tokio::time::sleep(GATHER * 2).await; // the first run sends its request
        let late = coalescer.run("pods", || async { 9 }.boxed()).await;
        release.send(8).unwrap();
        assert_eq!((first.await.unwrap(), late), (8, 9));

        // Other keys run on their own, and a finished run is not reused.
        let other = coalescer.run("svc", || async { 1 }.boxed()).await;
        let again = coalescer.run("pods", || async { 2 }.boxed()).await;
        assert_eq!((other, again), (1, 2));
    }
}
