//! Settings of an inbound client, with defaults fit for a call controller,
//! and the reconnect backoff schedule.

use std::time::Duration;

use crate::codec::DEFAULT_MAX_FRAME;

/// How an inbound [`crate::Client`] connects and stays connected.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `host:port` of the switch's event socket (usually port 8021).
    pub addr: String,
    /// Password (`auth`), or the user's password with [`Self::user`].
    pub password: String,
    /// `user@domain` for `userauth`; `None` for plain `auth`.
    pub user: Option<String>,
    /// Limit on TCP connect plus greeting plus authentication. Default 5 s.
    pub connect_timeout: Duration,
    /// Limit on waiting for a command's reply. Default 5 s.
    pub command_timeout: Duration,
    /// No frame at all for this long means the connection is dead. The
    /// client subscribes to HEARTBEAT (every 20 s by default on the switch)
    /// so a healthy switch is never silent that long. `None` disables.
    /// Default 60 s.
    pub liveness_timeout: Option<Duration>,
    /// TCP keepalive idle time (probes then every third of it, 3 probes).
    /// `None` disables. Default 15 s.
    pub tcp_keepalive: Option<Duration>,
    /// Reconnect schedule; `None` ends the client at the first disconnect.
    pub reconnect: Option<Backoff>,
    /// Capacity of the event channel. When it is full the client stops
    /// reading the socket (back-pressure, nothing dropped). Default 4096.
    pub event_capacity: usize,
    /// Cap on a frame's head and body. Default 16 MiB.
    pub max_frame: usize,
}

impl ClientConfig {
    /// Defaults for `addr` and `password`.
    pub fn new(addr: impl Into<String>, password: impl Into<String>) -> Self {
        ClientConfig {
            addr: addr.into(),
            password: password.into(),
            user: None,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            liveness_timeout: Some(Duration::from_secs(60)),
            tcp_keepalive: Some(Duration::from_secs(15)),
            reconnect: Some(Backoff::default()),
            event_capacity: 4096,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

/// Capped exponential backoff with jitter: attempt `n` waits a random time
/// in `[d/2, d]` where `d = min(max, initial * 2^(n-1))`, so a fleet of
/// clients does not reconnect in lockstep after a switch restart.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// Delay before the first attempt. Default 250 ms.
    pub initial: Duration,
    /// Cap. Default 30 s.
    pub max: Duration,
    /// Randomise within `[d/2, d]`. Default true.
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl Backoff {
    /// Delay before attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        let d = self.initial.saturating_mul(factor).min(self.max);
        if !self.jitter {
            return d;
        }
        let half = d / 2;
        let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_exponential_with_jitter() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: false,
        };
        let d: Vec<_> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(1000), Duration::from_secs(1));
        let j = Backoff { jitter: true, ..b };
        for n in 1..10 {
            let d = j.delay(n);
            let full = b.delay(n);
            assert!(
                d >= full / 2 && d <= full,
                "{d:?} outside [{:?}, {full:?}]",
                full / 2
            );
        }
    }
}
