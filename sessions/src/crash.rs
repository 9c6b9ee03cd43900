//! Named crash points for the fault-injection suite: with the
//! `crash-points` feature (built only for tests), the process dies at the
//! point named by `TOLLGATE_CRASH_AT` (`name`, or `name#n` for its n-th
//! pass), as abruptly as SIGKILL: `abort()` runs no destructor and
//! flushes nothing. Without the feature a point compiles to nothing.

/// Marks a point in a call's life where the process may die in tests.
#[cfg(feature = "crash-points")]
pub fn point(name: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static AT: OnceLock<Option<(String, u32)>> = OnceLock::new();
    static PASSES: AtomicU32 = AtomicU32::new(0);
    let at = AT.get_or_init(|| {
        let v = std::env::var("TOLLGATE_CRASH_AT").ok()?;
        Some(match v.split_once('#') {
            Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
            None => (v, 1),
        })
    });
    if let Some((target, nth)) = at {
        if target == name && PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
            eprintln!("tollgate: crash point {name}#{nth}");
            std::process::abort();
        }
    }
}

/// Marks a point in a call's life where the process may die in tests.
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// Every point, in the order a call passes them (for the test matrix).
pub const POINTS: &[&str] = &[
    "park.intent",
    "park.reserved",
    "park.commanded",
    "park.persisted",
    "answer.persisted",
    "debit.debited",
    "debit.persisted",
    "debit.armed",
    "settle.intent",
    "settle.settled",
    "settle.recorded",
];

/// Points only on the path of a call that ends while the Event Socket is
/// down: held for its CDR, and an estimate corrected by a late CDR.
pub const UNHEARD_POINTS: &[&str] = &["gone.held", "correct.settled"];
