//! Session time. In production one simulated second is one real second;
//! against a simulated switch running N times faster, tollgate's timers run
//! N times faster too, so both agree on what "ten seconds" means. Only
//! relative time is measured here; absolute call times come from the switch.

use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    speed: f64,
}

impl Clock {
    pub fn new(speed: f64) -> Self {
        Clock {
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// Simulated seconds per real second.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Real time that `simulated` takes.
    pub fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.speed)
    }

    /// Simulated time elapsed since `since`.
    pub fn elapsed(&self, since: Instant) -> Duration {
        since.elapsed().mul_f64(self.speed)
    }

    /// The instant `simulated` after `from`.
    pub fn after(&self, from: Instant, simulated: Duration) -> Instant {
        from + self.real(simulated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_both_ways() {
        let c = Clock::new(100.0);
        assert_eq!(c.real(Duration::from_secs(10)), Duration::from_millis(100));
        let c = Clock::new(0.0);
        assert_eq!(c.real(Duration::from_secs(1)), Duration::from_secs(1));
    }
}
