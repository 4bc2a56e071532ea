//! Invalidations that could not reach Redis (a delete, a clear, and the
//! invalidation a failed `set` implies), kept until Redis answers again and
//! then replayed: deleted there and published, so that no Redis entry and
//! no replica's memory keeps a value that was invalidated during an
//! outage. Bounded: one entry per key, and past [`MAX_KEYS`] the pending
//! keys of a namespace become one clear of it. A failed *write* is never
//! replayed: it could overwrite a newer value from another replica.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;
use redis::aio::ConnectionManager;

use super::bus::{Bus, Kind};
use super::{redis_key, unhex};

/// Pending keys past which a namespace is cleared whole instead.
pub(crate) const MAX_KEYS: usize = 10_000;

enum Pending {
    /// Hex keys to delete.
    Keys(HashSet<String>),
    /// The whole namespace.
    All,
}

#[derive(Default)]
pub(crate) struct Replay {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Replay {
    pub(crate) fn delete(&self, namespace: &str, key_hex: String) {
        let mut pending = self.pending.lock();
        let total = count(&pending);
        let entry = pending
            .entry(namespace.to_owned())
            .or_insert_with(|| Pending::Keys(HashSet::new()));
        let full = match entry {
            Pending::Keys(keys) => total >= MAX_KEYS && !keys.contains(&key_hex),
            Pending::All => false,
        };
        if full {
            *entry = Pending::All;
        } else if let Pending::Keys(keys) = entry {
            keys.insert(key_hex);
        }
    }

    pub(crate) fn clear(&self, namespace: &str) {
        self.pending
            .lock()
            .insert(namespace.to_owned(), Pending::All);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.lock().is_empty()
    }

    /// How many invalidations wait (a clear counts one), for tests.
    pub(crate) fn len(&self) -> usize {
        count(&self.pending.lock())
    }

    /// Replays what is pending, one namespace at a time; what fails (or is
    /// not reached before the caller's deadline drops this future) stays
    /// pending.
    pub(crate) async fn drain(&self, conn: &mut ConnectionManager, prefix: &str, bus: &Bus) {
        loop {
            let next = {
                let mut pending = self.pending.lock();
                let key = pending.keys().next().cloned();
                key.and_then(|key| pending.remove_entry(&key))
            };
            let Some((namespace, pending)) = next else {
                return;
            };
            // Put back if this future is dropped mid-way (a deadline).
            let mut restore = Restore {
                replay: self,
                item: Some((namespace.clone(), pending)),
            };
            let pending = &restore.item.as_ref().expect("just set").1;
            let done = match &pending {
                Pending::All => {
                    let pattern = namespace_pattern(prefix, &namespace);
                    let message = bus.message(Kind::Clear, &namespace, &[]);
                    async {
                        unlink_matching(conn, &pattern).await?;
                        publish(conn, &bus.channel, &message).await
                    }
                    .await
                    .is_ok()
                }
                Pending::Keys(keys) => {
                    let mut pipe = redis::pipe();
                    for key_hex in keys {
                        let id = unhex(key_hex).unwrap_or_default();
                        pipe.cmd("DEL")
                            .arg(redis_key(prefix, &namespace, key_hex))
                            .ignore()
                            .cmd("PUBLISH")
                            .arg(&bus.channel)
                            .arg(bus.message(Kind::Delete, &namespace, &id))
                            .ignore();
                    }
                    pipe.query_async::<()>(conn).await.is_ok()
                }
            };
            let (namespace, pending) = restore.item.take().expect("still held");
            if !done {
                self.put_back(namespace, pending);
                return;
            }
        }
    }

    fn put_back(&self, namespace: String, pending: Pending) {
        let mut pending_now = self.pending.lock();
        match pending {
            Pending::All => {
                pending_now.insert(namespace, Pending::All);
            }
            Pending::Keys(keys) => {
                // Under a clear of the namespace, the keys are covered.
                if let Pending::Keys(now) = pending_now
                    .entry(namespace)
                    .or_insert_with(|| Pending::Keys(HashSet::new()))
                {
                    now.extend(keys);
                }
            }
        }
    }
}

/// Puts an item being replayed back in the queue if the replay is dropped
/// before it is done.
struct Restore<'a> {
    replay: &'a Replay,
    item: Option<(String, Pending)>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Some((namespace, pending)) = self.item.take() {
            self.replay.put_back(namespace, pending);
        }
    }
}

/// Pending invalidations, a clear counting one.
fn count(pending: &HashMap<String, Pending>) -> usize {
    pending
        .values()
        .map(|p| match p {
            Pending::Keys(keys) => keys.len(),
            Pending::All => 1,
        })
        .sum()
}

/// The `SCAN MATCH` pattern of every key of `namespace` (values and locks).
pub(crate) fn namespace_pattern(prefix: &str, namespace: &str) -> String {
    let mut pattern = String::new();
    for c in redis_key(prefix, namespace, "").chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

/// Deletes every key matching `pattern`, found by `SCAN` (never `KEYS`).
pub(crate) async fn unlink_matching(
    conn: &mut ConnectionManager,
    pattern: &str,
) -> redis::RedisResult<()> {
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<()>(conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

pub(crate) async fn publish(
    conn: &mut ConnectionManager,
    channel: &str,
    message: &str,
) -> redis::RedisResult<()> {
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(message)
        .query_async(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_key_and_a_clear_past_the_bound() {
        let replay = Replay::default();
        replay.delete("ns", "01".into());
        replay.delete("ns", "01".into());
        replay.delete("ns", "02".into());
        assert_eq!(replay.len(), 2);
        for i in 0..MAX_KEYS {
            replay.delete("big", format!("{i:08x}"));
        }
        assert!(replay.len() <= MAX_KEYS + 2);
        replay.clear("ns");
        assert_eq!(
            replay
                .pending
                .lock()
                .get("ns")
                .map(|p| matches!(p, Pending::All)),
            Some(true)
        );
    }

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(namespace_pattern("p", "a*b"), "p:{a\\*b}:*");
    }
}
