//! Coalescing: identical requests running at the same time share one result.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

/// How long a run waits for identical calls before sending its request. Parallel tests that reach the
/// same step together arrive within microseconds; a millisecond is nothing next to an API round trip.
pub(crate) const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// A run: its id, whether its request has been sent, and the future every caller awaits.
type Run<V> = (u64, Arc<AtomicBool>, Shared<BoxFuture<'static, V>>);

/// Merges identical requests, at most one on its way per key. A run first waits [`GATHER`] — or, when an
/// identical request is on its way, until that one is answered — and callers arriving meanwhile join it;
/// once its request is sent, later callers gather into the next run. So every caller gets an answer to a
/// request sent after its own call, never an older one, and many parallel callers of one key cost about
/// two requests at a time instead of one each (the server answers the same question once, not N times
/// over).
pub(crate) struct Coalescer<K, V: Clone> {
    /// The latest run of each key: gathering, waiting for the one before it, or sent.
    latest: Mutex<HashMap<K, Run<V>>>,
    next_id: AtomicU64,
}

impl<K: Hash + Eq + Clone, V: Clone + Send + Sync + 'static> Coalescer<K, V> {
    pub(crate) fn new() -> Self {
        Self { latest: Mutex::new(HashMap::new()), next_id: AtomicU64::new(0) }
    }

    /// The result for `key`: from a run whose request is not yet sent, or from `start()`, sent once the
    /// request on its way (if any) is answered.
    pub(crate) async fn run(&self, key: K, start: impl FnOnce() -> BoxFuture<'static, V>) -> V {
        let (id, future) = {
            let mut latest = self.latest.lock().expect("coalescer lock");
            match latest.get(&key) {
                Some((id, sent, future)) if !sent.load(Ordering::SeqCst) => (*id, future.clone()),
                on_its_way => {
                    let before = on_its_way.map(|(_, _, future)| future.clone());
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let sent = Arc::new(AtomicBool::new(false));
                    let request = start();
                    let flag = sent.clone();
                    let future = async move {
                        match before {
                            // Its answer is older than some of this run's callers: wait for it, not use it.
                            Some(before) => drop(before.await),
                            // A timer, not a yield: clones of a shared future poll it, so a yield would end
                            // at the second caller's poll.
                            None => tokio::time::sleep(GATHER).await,
                        }
                        flag.store(true, Ordering::SeqCst);
                        request.await
                    }
                    .boxed()
                    .shared();
                    latest.insert(key.clone(), (id, sent, future.clone()));
                    (id, future)
                }
            }
        };
        let value = future.await;
        let mut latest = self.latest.lock().expect("coalescer lock");
        if latest.get(&key).is_some_and(|(current, _, _)| *current == id) {
            latest.remove(&key);
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
    async fn callers_during_a_run_share_it_and_later_callers_share_the_next_one() {
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

        // Callers arriving after the request went out do not join it: they gather into one next request,
        // sent once the first is answered.
        let coalescer = Arc::new(coalescer);
        let (release, gate) = tokio::sync::oneshot::channel::<u32>();
        let gate = gate.shared();
        let first = {
            let (c, gate) = (coalescer.clone(), gate.clone());
            tokio::spawn(async move { c.run("pods", move || async move { gate.await.unwrap_or(0) }.boxed()).await })
        };
        tokio::time::sleep(GATHER * 2).await; // the first run sends its request
        let (answered, sent_late) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let late: Vec<_> = (0..5)
            .map(|_| {
                let (c, answered, sent_late) = (coalescer.clone(), answered.clone(), sent_late.clone());
                tokio::spawn(async move {
                    c.run("pods", move || {
                        async move {
                            assert!(answered.load(Ordering::SeqCst), "sent while the first was on its way");
                            sent_late.fetch_add(1, Ordering::SeqCst);
                            9
                        }
                        .boxed()
                    })
                    .await
                })
            })
            .collect();
        tokio::time::sleep(GATHER * 10).await;
        assert_eq!(sent_late.load(Ordering::SeqCst), 0);
        answered.store(true, Ordering::SeqCst);
        release.send(8).unwrap();
        assert_eq!(first.await.unwrap(), 8);
        for late in late {
            assert_eq!(late.await.unwrap(), 9);
        }
        assert_eq!(sent_late.load(Ordering::SeqCst), 1, "the late callers shared one request");

        // Other keys run on their own, and a finished run is not reused.
        let other = coalescer.run("svc", || async { 1 }.boxed()).await;
        let again = coalescer.run("pods", || async { 2 }.boxed()).await;
        assert_eq!((other, again), (1, 2));
    }
}
