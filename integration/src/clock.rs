//! Simulated time: a wall clock that runs `speed` times faster than the real
//! one, so a ten-minute call takes six seconds at speed 100.
//!
//! Everything the switch shows is simulated time: event timestamps,
//! `Caller-Channel-*-Time`, `billsec`, `duration`, heartbeats, `sched_hangup
//! +N`. Only the real time it takes is scaled. The clock is built on
//! `tokio::time::Instant`, so a test on tokio's paused clock drives it too.
//!
//! Timers are set in simulated microseconds and a transition that a timer
//! triggers is stamped with the timer's own due time, not with the moment the
//! task woke up: a talk time of 60 s yields `billsec` 60 even when a loaded
//! machine wakes the task late.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Microseconds since the Unix epoch, in simulated time.
pub type SimTime = i64;

/// A scaled clock. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SimClock {
    real_start: Instant,
    sim_start: SimTime,
    speed: f64,
}

impl SimClock {
    /// A clock starting now at the real wall-clock time, running `speed`
    /// times faster than real time (`speed` must be finite and > 0).
    pub fn new(speed: f64) -> Self {
        Self::starting_at(speed, SystemTime::now())
    }

    /// A clock whose simulated time starts at `start`.
    pub fn starting_at(speed: f64, start: SystemTime) -> Self {
        assert!(
            speed.is_finite() && speed > 0.0,
            "clock speed must be finite and > 0, got {speed}"
        );
        let sim_start = start
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        SimClock {
            real_start: Instant::now(),
            sim_start,
            speed,
        }
    }

    /// The scale factor.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Simulated time when the clock started.
    pub fn start(&self) -> SimTime {
        self.sim_start
    }

    /// Current simulated time.
    pub fn now(&self) -> SimTime {
        let real = Instant::now().saturating_duration_since(self.real_start);
        self.sim_start + (real.as_micros() as f64 * self.speed) as i64
    }

    /// Simulated time elapsed since the start (the switch's uptime).
    pub fn uptime(&self) -> Duration {
        Duration::from_micros((self.now() - self.sim_start).max(0) as u64)
    }

    /// The real instant at which simulated time reaches `at`.
    pub fn real_instant(&self, at: SimTime) -> Instant {
        let sim = (at - self.sim_start).max(0) as f64;
        self.real_start + Duration::from_secs_f64(sim / 1e6 / self.speed)
    }

    /// A simulated duration in real time.
    pub fn to_real(&self, sim: Duration) -> Duration {
        Duration::from_secs_f64(sim.as_secs_f64() / self.speed)
    }

    /// Sleeps until simulated time `at`.
    pub async fn sleep_until(&self, at: SimTime) {
        tokio::time::sleep_until(self.real_instant(at)).await;
    }

    /// Sleeps for a simulated duration.
    pub async fn sleep(&self, sim: Duration) {
        tokio::time::sleep(self.to_real(sim)).await;
    }
}

/// Seconds (possibly fractional) as simulated microseconds.
pub(crate) fn secs_to_us(secs: f64) -> i64 {
    (secs * 1e6).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn runs_faster_than_real_time() {
        let clock = SimClock::starting_at(100.0, UNIX_EPOCH + Duration::from_secs(1_000));
        assert_eq!(clock.now(), 1_000_000_000);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(clock.now(), 1_000_000_000 + 600_000_000);
        assert_eq!(clock.uptime(), Duration::from_secs(600));
        let before = Instant::now();
        clock.sleep(Duration::from_secs(60)).await;
        assert_eq!(Instant::now() - before, Duration::from_millis(600));
        clock.sleep_until(clock.start() + 700_000_000).await;
        assert_eq!(clock.now(), 1_000_000_000 + 700_000_000);
    }
}
