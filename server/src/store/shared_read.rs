//! A read that callers asking at the same time share, without any of them getting a stale answer.
//!
//! Why: when many connections join the same room at once (500 agents rejoining the `desk` after a network
//! blip), each would read the same state from Redis and encode the same snapshot, and the reads queue behind
//! each other. Here they share: a caller gets the result of a read that *started after it asked*, so it is as
//! fresh as a read of its own (a join has subscribed and is listening before it asks, so nothing between the
//! read and the live events is missed), yet one read serves everyone who asked while the previous one ran: a
//! burst of any size costs at most two reads.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

pub struct SharedRead<T> {
    /// Reads started so far; a read's number is the value after its start.
    started: AtomicU64,
    /// One read at a time, and the last one that succeeded with its number.
    last: Mutex<Option<(u64, T)>>,
}

impl<T: Clone> Default for SharedRead<T> {
    fn default() -> Self {
        SharedRead { started: AtomicU64::new(0), last: Mutex::new(None) }
    }
}

impl<T: Clone> SharedRead<T> {
    /// The result of `read`, run now or shared with a caller whose read started after this call began. An
    /// error goes to the caller whose read it was; the others waiting then read again.
    pub async fn get<E, F>(&self, read: impl FnOnce() -> F) -> Result<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let asked = self.started.load(Ordering::SeqCst);
        let mut last = self.last.lock().await;
        if let Some((number, value)) = last.as_ref() {
            if *number > asked {
                return Ok(value.clone());
            }
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let value = read().await?;
        *last = Some((number, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::*;

    #[tokio::test]
    async fn callers_who_ask_while_a_read_runs_share_the_next_read_not_the_running_one() {
        let shared = Arc::new(SharedRead::<u64>::default());
        let reads = Arc::new(AtomicU64::new(0));
        let release = Arc::new(Notify::new());
        // The first read starts and is held open; it began before the others asked.
        let first = {
            let (shared, reads, release) = (Arc::clone(&shared), Arc::clone(&reads), Arc::clone(&release));
            tokio::spawn(async move {
                shared
                    .get(|| async {
                        let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
                        release.notified().await;
                        Ok::<_, ()>(n)
                    })
                    .await
            })
        };
        while reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let asking = Arc::new(AtomicU64::new(0));
        let later: Vec<_> = (0..50)
            .map(|_| {
                let (shared, reads, asking) = (Arc::clone(&shared), Arc::clone(&reads), Arc::clone(&asking));
                tokio::spawn(async move {
                    // Counted in the same poll as `get` begins, so once all fifty counted all fifty have asked.
                    asking.fetch_add(1, Ordering::SeqCst);
                    shared.get(|| async { Ok::<_, ()>(reads.fetch_add(1, Ordering::SeqCst) + 1) }).await
                })
            })
            .collect();
        while asking.load(Ordering::SeqCst) < 50 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        assert_eq!(first.await.expect("BUG: task"), Ok(1));
        for task in later {
            assert_eq!(task.await.expect("BUG: task"), Ok(2), "each later caller gets the read after theirs began");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2, "fifty callers at once cost one more read");
    }

    #[tokio::test]
    async fn a_caller_after_a_read_finished_reads_again() {
        let shared = SharedRead::<u64>::default();
        assert_eq!(shared.get(|| async { Ok::<_, ()>(1) }).await, Ok(1));
        assert_eq!(shared.get(|| async { Ok::<_, ()>(2) }).await, Ok(2));
    }

    #[tokio::test]
    async fn a_failed_read_is_not_shared() {
        let shared = SharedRead::<u64>::default();
        assert_eq!(shared.get(|| async { Err::<u64, _>("down") }).await, Err("down"));
        assert_eq!(shared.get(|| async { Ok::<_, &str>(3) }).await, Ok(3));
    }
}
