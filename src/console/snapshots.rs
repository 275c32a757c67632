//! Results counted over every answer of a flow, kept for a while when counting them is slow.
//!
//! Counting a flow's answers by question and category reads every answer: on a database of a
//! million answers that takes longer than a page may (see docs/adr/0017). A count that took
//! less than [`SLOW`] is made again on every page, so small installations always see live
//! numbers; a slower one is kept as a snapshot, served for up to [`FRESH`], then recounted in
//! the background while the previous snapshot is still served, and never served older than
//! [`MAX_AGE`] (past it the page waits for a new count). Each replica keeps its own snapshots.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::store::StoreError;

/// A count that took at least this long is kept as a snapshot.
pub const SLOW: Duration = Duration::from_millis(50);
/// How long a snapshot is served before it is recounted in the background.
pub const FRESH: Duration = Duration::from_secs(60);
/// The oldest snapshot ever served.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// The words a page shows under numbers from a snapshot counted at `at`.
pub fn describe(zone: &jiff::tz::TimeZone, at: Timestamp) -> String {
    format!(
        "Counted at {}: on a database this large, counts are refreshed every minute.",
        super::clock::time_of_day(zone, at)
    )
}

/// A value and when it was counted (`None` when it was counted for this page).
#[derive(Debug, Clone)]
pub struct Counted<V> {
    pub value: Arc<V>,
    /// When the snapshot served was counted; None for a live count.
    pub snapshot_of: Option<Timestamp>,
}

#[derive(Debug)]
struct Slot<V> {
    value: Arc<V>,
    counted: Instant,
    counted_at: Timestamp,
    took: Duration,
    refreshing: bool,
}

/// Snapshots of slow counts, by key.
#[derive(Debug)]
pub struct Snapshots<K, V> {
    slots: Arc<Mutex<HashMap<K, Slot<V>>>>,
}

impl<K, V> Default for Snapshots<K, V> {
    fn default() -> Self {
        Snapshots {
            slots: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K, V> Clone for Snapshots<K, V> {
    fn clone(&self) -> Self {
        Snapshots {
            slots: self.slots.clone(),
        }
    }
}

impl<K, V> Snapshots<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Send + Sync + 'static,
{
    /// The value of `key`: counted now with `count`, or a snapshot if counting it is slow.
    pub async fn get<F, Fut>(&self, key: K, count: F) -> Result<Counted<V>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, StoreError>> + Send + 'static,
    {
        let served = {
            let mut slots = self.slots.lock().expect("snapshot lock");
            match slots.get_mut(&key) {
                Some(slot) if slot.took >= SLOW && slot.counted.elapsed() < MAX_AGE => {
                    let refresh = slot.counted.elapsed() >= FRESH && !slot.refreshing;
                    if refresh {
                        slot.refreshing = true;
                    }
                    Some((
                        Counted {
                            value: slot.value.clone(),
                            snapshot_of: Some(slot.counted_at),
                        },
                        refresh,
                    ))
                }
                _ => None,
            }
        };
        match served {
            Some((counted, refresh)) => {
                if refresh {
                    let this = self.clone();
                    let work = count();
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let result = work.await;
                        this.keep(key, result, started);
                    });
                }
                Ok(counted)
            }
            None => {
                let started = Instant::now();
                let value = Arc::new(count().await?);
                self.keep(key, Ok(value.clone()), started);
                Ok(Counted {
                    value,
                    snapshot_of: None,
                })
            }
        }
    }

    fn keep<T: Into<Arc<V>>>(&self, key: K, result: Result<T, StoreError>, started: Instant) {
        let mut slots = self.slots.lock().expect("snapshot lock");
        match result {
            Ok(value) => {
                slots.insert(
                    key,
                    Slot {
                        value: value.into(),
                        counted: started,
                        counted_at: Timestamp::now(),
                        took: started.elapsed(),
                        refreshing: false,
                    },
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "console: recounting results failed; the last count is kept");
                if let Some(slot) = slots.get_mut(&key) {
                    slot.refreshing = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fast_count_is_made_again_for_every_page() {
        let snapshots: Snapshots<&str, u32> = Snapshots::default();
        let first = snapshots.get("flow", || async { Ok(1) }).await.unwrap();
        let second = snapshots.get("flow", || async { Ok(2) }).await.unwrap();
        assert_eq!((*first.value, *second.value), (1, 2));
        assert!(second.snapshot_of.is_none());
    }

    #[tokio::test]
    async fn a_slow_count_is_served_as_a_snapshot_until_it_is_due() {
        let snapshots: Snapshots<&str, u32> = Snapshots::default();
        let slow = || async {
            tokio::time::sleep(SLOW + Duration::from_millis(10)).await;
            Ok(1)
        };
        let first = snapshots.get("flow", slow).await.unwrap();
        assert!(
            first.snapshot_of.is_none(),
            "the first page waits for the count"
        );
        let second = snapshots.get("flow", || async { Ok(2) }).await.unwrap();
        assert_eq!(*second.value, 1);
        assert!(second.snapshot_of.is_some());
        // Another key is counted on its own.
        let other = snapshots.get("other", || async { Ok(3) }).await.unwrap();
        assert_eq!(*other.value, 3);
    }
}
