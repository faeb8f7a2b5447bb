//! A bounded map whose entries expire at most a fixed time after they were stored, and which
//! says when an entry in use is due to be read again, so that copies of what is read all the
//! time are renewed in the background instead of all expiring under load.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use quick_cache::Equivalent;

/// quick_cache (S3-FIFO eviction) does the bounding: a lookup is one hash and a shard's read
/// lock, and a lookup by a borrowed key allocates nothing.
pub struct Expiring<K, V> {
    entries: quick_cache::sync::Cache<K, Slot<V>>,
    ttl: Duration,
    /// Spreads lifetimes over `ttl`'s last quarter by key, so entries stored together expire apart.
    spread: std::collections::hash_map::RandomState,
    /// Numbers every stored entry, so that a claim names the entry it was made for.
    stamps: AtomicU32,
    /// By stamp (modulo its length), the stamp of the last entry a lookup was told was due:
    /// one renewal per entry, without a lock or an allocation per entry. Two entries sharing a
    /// place can each be told twice; a renewal read twice is harmless.
    claims: Box<[AtomicU32]>,
}

#[derive(Clone)]
struct Slot<V> {
    value: V,
    expires: Instant,
    /// The entry is due this many milliseconds before it expires (halfway through its life).
    due_before_ms: u32,
    stamp: u32,
}

/// What a lookup found.
pub struct Found<V> {
    pub value: V,
    /// The entry is past half its lifetime and this lookup is the first to be told: the
    /// caller should have it read again (it stays valid until it expires).
    pub due: bool,
}

impl<K: Eq + Hash + Clone, V: Clone> Expiring<K, V> {
    pub fn new(capacity: usize, ttl: Duration) -> Expiring<K, V> {
        Expiring {
            entries: quick_cache::sync::Cache::new(capacity),
            ttl,
            spread: Default::default(),
            stamps: AtomicU32::new(1),
            claims: (0..(capacity / 2).next_power_of_two().max(64))
                .map(|_| AtomicU32::new(0))
                .collect(),
        }
    }

    /// How long the entry of `key` lives: between three quarters of `ttl` and all of it.
    fn lifetime(&self, key: &K) -> Duration {
        let quarter = (self.spread.hash_one(key) % 1024) as f64 / 4096.0;
        self.ttl.mul_f64(1.0 - quarter)
    }

    fn slot<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q, now: Instant) -> Option<Slot<V>> {
        let slot = self.entries.get(key)?;
        if now < slot.expires {
            return Some(slot);
        }
        self.entries.remove(key);
        None
    }

    pub fn get<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) -> Option<V> {
        Some(self.slot(key, Instant::now())?.value)
    }

    /// As [`Expiring::get`], and whether the entry is due to be read again (see [`Found`]).
    pub fn find<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) -> Option<Found<V>> {
        let now = Instant::now();
        let slot = self.slot(key, now)?;
        let due = now + Duration::from_millis(slot.due_before_ms.into()) >= slot.expires && {
            let claim = &self.claims[slot.stamp as usize % self.claims.len()];
            claim.load(Ordering::Relaxed) != slot.stamp
                && claim.swap(slot.stamp, Ordering::Relaxed) != slot.stamp
        };
        Some(Found {
            value: slot.value,
            due,
        })
    }

    pub fn insert(&self, key: K, value: V) {
        let lifetime = self.lifetime(&key);
        let slot = Slot {
            value,
            expires: Instant::now() + lifetime,
            due_before_ms: u32::try_from((lifetime / 2).as_millis()).unwrap_or(u32::MAX),
            // Never 0, the value of a place no claim was made in.
            stamp: self.stamps.fetch_add(1, Ordering::Relaxed).max(1),
        };
        self.entries.insert(key, slot);
    }

    /// Gives a held entry a new value that was derived from its old one, keeping its lifetime:
    /// the entry still expires (and is read again) when the read it came from says.
    pub fn replace<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q, owned: K, value: V) {
        let Some(old) = self.slot(key, Instant::now()) else {
            return;
        };
        self.entries.insert(owned, Slot { value, ..old });
    }

    pub fn remove<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) {
        self.entries.remove(key);
    }

    pub fn clear(&self) {
        self.entries.clear();
    }

    /// Entries held, expired ones included until looked up or evicted.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stored_together_expire_spread_over_the_last_quarter_of_their_lifetime() {
        let ttl = Duration::from_secs(100);
        let (copies, before) = (Expiring::<String, u32>::new(10_000, ttl), Instant::now());
        (0..1000).for_each(|n| copies.insert(format!("user_{n}"), n));
        let after = Instant::now();
        let expiries: Vec<Instant> = (0..1000)
            .map(|n| {
                copies
                    .entries
                    .get(&format!("user_{n}"))
                    .expect("kept")
                    .expires
            })
            .inspect(|e| assert!(*e >= before + ttl.mul_f64(0.75) && *e <= after + ttl))
            .collect();
        let spread = *expiries.iter().max().unwrap() - *expiries.iter().min().unwrap();
        assert!(
            spread >= Duration::from_secs(20),
            "lifetimes spread over {spread:?}"
        );
    }

    #[test]
    fn an_entry_past_half_its_lifetime_is_due_once_and_a_replaced_value_keeps_its_lifetime() {
        let ttl = Duration::from_millis(400);
        let copies = Expiring::<&str, u32>::new(100, ttl);
        copies.insert("u1", 1);
        let first = copies.find(&"u1").expect("held");
        assert_eq!((first.value, first.due), (1, false), "fresh: not due");

        std::thread::sleep(ttl / 2);
        let founds: Vec<bool> = (0..3).map(|_| copies.find(&"u1").unwrap().due).collect();
        assert_eq!(
            founds,
            [true, false, false],
            "due once, to the first lookup"
        );
        // A value derived from the old one neither renews the entry nor makes it due again.
        copies.replace(&"u1", "u1", 2);
        let found = copies.find(&"u1").expect("still held");
        assert_eq!((found.value, found.due), (2, false));
        // Storing a fresh read starts a new lifetime.
        copies.insert("u1", 3);
        assert!(!copies.find(&"u1").unwrap().due);

        copies.insert("u2", 4);
        std::thread::sleep(ttl);
        assert!(copies.find(&"u2").is_none(), "expired, renewed or not");
        copies.replace(&"u2", "u2", 5);
        assert!(
            copies.get(&"u2").is_none(),
            "nothing to replace, nothing stored"
        );
    }
}
