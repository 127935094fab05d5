//! A step's attempts: a place in the run's and its stage's limits for each, the record updated at every
//! transition, retries after exponential backoff with jitter until the attempts or `max_duration` are
//! spent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::plan::RetryPolicy;
use crate::record::{StepStatus, now_ms};

use super::actions::attempt_node;
use super::{Event, Shared};

/// Delays between attempts: exponential from the policy's first delay, at most its maximum, with jitter.
fn delays(policy: &RetryPolicy) -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(policy.backoff)
        .with_max_delay(policy.max_backoff)
        .with_factor(policy.factor)
        .with_max_times(policy.attempts.saturating_sub(1) as usize)
        .with_jitter()
        .build()
}

/// The limits a step's attempts take a place in: the stage's own first (so steps queued behind a narrow
/// stage do not hold places of the whole run), then the run's.
pub(super) struct Slots {
    pub(super) global: Arc<Semaphore>,
    pub(super) stage: Option<Arc<Semaphore>>,
}

impl Slots {
    async fn take(&self) -> (Option<tokio::sync::OwnedSemaphorePermit>, Option<tokio::sync::OwnedSemaphorePermit>) {
        let stage = match &self.stage {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        };
        (stage, self.global.clone().acquire_owned().await.ok())
    }
}

pub(super) async fn run_node(shared: &Arc<Shared>, i: usize, slots: &Slots) {
    let node = &shared.graph.nodes[i];
    let first = Instant::now();
    let mut delays = delays(&node.retry);
    // Made from the step's id, never read from the record (a changed record must not choose the file).
    let log_path = shared.run.path().join(crate::record::log_path(&node.id));
    loop {
        let attempt = {
            let record = shared.record.lock().expect("record lock");
            record.steps[i].attempts + 1
        };
        // Places are held for an attempt only, not through the backoff after it.
        let places = slots.take().await;
        shared.update(i, Some(Event::Started { step: i }), |s| {
            s.status = StepStatus::Running;
            s.attempts = attempt;
            // What the cluster said of an earlier attempt is not this one's.
            s.diagnosis = None;
            s.retry_at_ms = None;
            s.started_ms.get_or_insert_with(now_ms);
        });
        let result = attempt_node(shared, i, node, &log_path, attempt).await;
        drop(places);
        let error = match result {
            Ok(()) => {
                shared.update(i, Some(Event::Finished { step: i }), |s| {
                    s.status = StepStatus::Succeeded;
                    s.message = None;
                    s.diagnosis = None;
                    s.finished_ms = Some(now_ms());
                });
                return;
            }
            Err(e) => e,
        };
        let next = delays.next().filter(|_| attempt < node.retry.attempts);
        let within = |delay: Duration| node.retry.max_duration.is_none_or(|max| first.elapsed() + delay < max);
        match next {
            Some(delay) if within(delay) => {
                shared.update(i, Some(Event::Retrying { step: i, delay }), |s| {
                    s.status = StepStatus::Retrying;
                    s.message = Some(error.into_message());
                    s.retry_at_ms = Some(now_ms() + delay.as_millis() as u64);
                });
                tokio::time::sleep(delay).await;
            }
            next => {
                let status = error.status();
                let why = match (next, node.retry.max_duration) {
                    (Some(_), Some(max)) => {
                        format!("{} (no more attempts: max_duration {max:?} reached)", error.message())
                    }
                    _ => error.into_message(),
                };
                shared.update(i, Some(Event::Finished { step: i }), |s| {
                    s.status = status;
                    s.message = Some(why);
                    s.retry_at_ms = None;
                    s.finished_ms = Some(now_ms());
                });
                return;
            }
        }
    }
}
