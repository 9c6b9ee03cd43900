//! One shared copy of the strings many live calls hold alike (tenant,
//! category, account, dialplan, context): a call's copy is then a handle
//! (`Arc<str>`, 16 bytes), not a block of its own (32 bytes or more with
//! the allocator's overhead, for each string of each call).
//!
//! Bounded by what live calls hold: once the set has grown to twice its
//! size after the last sweep, strings no call holds any more are dropped
//! (amortized constant time per lookup).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// The set is never swept below this many strings.
const MIN_SWEEP: usize = 1024;

#[derive(Debug)]
pub struct Interner {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    set: HashSet<Arc<str>>,
    /// Sweep when the set reaches this size.
    sweep_at: usize,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            inner: Mutex::new(Inner {
                set: HashSet::new(),
                sweep_at: MIN_SWEEP,
            }),
        }
    }
}

impl Interner {
    /// The shared copy of `s`.
    pub fn get(&self, s: &str) -> Arc<str> {
        // A panic elsewhere while holding the lock leaves the set usable.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = inner.set.get(s) {
            return shared.clone();
        }
        if inner.set.len() >= inner.sweep_at {
            // Only the set holds a string whose count is 1, and nobody
            // can take a new handle to it without this lock.
            inner.set.retain(|s| Arc::strong_count(s) > 1);
            inner.sweep_at = (2 * inner.set.len()).max(MIN_SWEEP);
            if inner.set.capacity() > 4 * inner.sweep_at {
                inner.set.shrink_to_fit();
            }
        }
        let shared: Arc<str> = Arc::from(s);
        inner.set.insert(shared.clone());
        shared
    }

    /// How many strings the set holds (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_copy_for_every_holder() {
        let names = Interner::default();
        let a = names.get("cgrates.org");
        let b = names.get("cgrates.org");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "cgrates.org");
        assert!(!Arc::ptr_eq(&a, &names.get("call")));
    }

    #[test]
    fn strings_no_one_holds_are_dropped() {
        let names = Interner::default();
        let kept: Vec<_> = (0..10).map(|n| names.get(&format!("kept{n}"))).collect();
        for n in 0..100_000 {
            drop(names.get(&format!("gone{n}")));
            assert!(names.len() <= 2 * MIN_SWEEP);
        }
        for (n, k) in kept.iter().enumerate() {
            assert!(Arc::ptr_eq(k, &names.get(&format!("kept{n}"))));
        }
    }

    #[test]
    fn held_strings_stay_however_many() {
        let names = Interner::default();
        let held: Vec<_> = (0..5000).map(|n| names.get(&n.to_string())).collect();
        assert_eq!(names.len(), 5000);
        for (n, h) in held.iter().enumerate() {
            assert!(Arc::ptr_eq(h, &names.get(&n.to_string())));
        }
    }
}
