//! Counters and gauges of the session controller, rendered in the
//! Prometheus text format by the server's `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub active_calls: AtomicI64,
    pub authorized: AtomicU64,
    pub refused: AtomicU64,
    pub debits: AtomicU64,
    pub debit_errors: AtomicU64,
    pub refunds: AtomicU64,
    /// Switch CDRs posted, by what they did.
    pub cdrs_posted: AtomicU64,
    pub cdr_settlements: AtomicU64,
    /// Estimated call records corrected by a late CDR to another cost.
    pub corrections: AtomicU64,
    /// Settlements with an estimated usage (no CDR within `cdr_wait`).
    pub estimated: AtomicU64,
    pub settled: AtomicU64,
    pub no_credit_disconnects: AtomicU64,
    pub switches_up: AtomicI64,
    pub reconnects: AtomicU64,
    /// Switch leases this node held and could not renew in time (cluster).
    pub leases_lost: AtomicU64,
    /// CHANNEL_PARK received to authorization commands issued (µs).
    pub auth_latency: Histogram,
    /// CHANNEL_PARK received to the switch's answers to those commands (µs).
    pub auth_round_trip: Histogram,
}

/// A fixed-bucket latency histogram.
#[derive(Debug)]
pub struct Histogram {
    pub bounds_us: [u64; 12],
    pub counts: [AtomicU64; 13],
    pub sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            bounds_us: [
                250, 500, 1_000, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000, 25_000, 50_000, 250_000,
            ],
            counts: Default::default(),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, us: u64) {
        let i = self
            .bounds_us
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(self.bounds_us.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Appends the histogram in the Prometheus text format.
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in self.bounds_us.iter().enumerate() {
            cumulative += l(&self.counts[i]);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        cumulative += l(&self.counts[self.bounds_us.len()]);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {}", l(&self.sum_us) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {cumulative}");
    }

    /// The smallest bucket bound under which `q` of the observations fall.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some(self.bounds_us.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        None
    }
}

impl Metrics {
    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "tollgate_active_calls",
            "Calls being followed.",
            self.active_calls.load(Ordering::Relaxed),
        );
        let _ = writeln!(out, "# HELP tollgate_authorizations_total Call authorizations by outcome.\n# TYPE tollgate_authorizations_total counter");
        let _ = writeln!(
            out,
            "tollgate_authorizations_total{{outcome=\"allowed\"}} {}",
            l(&self.authorized)
        );
        let _ = writeln!(
            out,
            "tollgate_authorizations_total{{outcome=\"refused\"}} {}",
            l(&self.refused)
        );
        counter(
            &mut out,
            "tollgate_debits_total",
            "Interval debits made.",
            l(&self.debits),
        );
        counter(
            &mut out,
            "tollgate_debit_errors_total",
            "Interval debits that failed.",
            l(&self.debit_errors),
        );
        counter(
            &mut out,
            "tollgate_refunds_total",
            "Settlements that gave back unused advance debits.",
            l(&self.refunds),
        );
        counter(
            &mut out,
            "tollgate_switch_cdrs_posted_total",
            "JSON CDRs the switches posted that were taken.",
            l(&self.cdrs_posted),
        );
        counter(
            &mut out,
            "tollgate_switch_cdr_settlements_total",
            "Calls settled from the switch's posted CDR.",
            l(&self.cdr_settlements),
        );
        counter(
            &mut out,
            "tollgate_estimated_settlements_total",
            "Calls that ended unheard, settled with an estimate because no CDR came in time.",
            l(&self.estimated),
        );
        counter(
            &mut out,
            "tollgate_cdr_corrections_total",
            "Estimated call records a late CDR corrected to another cost.",
            l(&self.corrections),
        );
        counter(
            &mut out,
            "tollgate_calls_settled_total",
            "Calls settled and recorded.",
            l(&self.settled),
        );
        counter(
            &mut out,
            "tollgate_no_credit_disconnects_total",
            "Calls cut because the credit ran out.",
            l(&self.no_credit_disconnects),
        );
        gauge(
            &mut out,
            "tollgate_switches_connected",
            "FreeSWITCH event connections up.",
            self.switches_up.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tollgate_switch_reconnects_total",
            "Reconnections to a switch.",
            l(&self.reconnects),
        );
        counter(
            &mut out,
            "tollgate_switch_leases_lost_total",
            "Switch leases this node could not renew in time (it stopped controlling the switch).",
            l(&self.leases_lost),
        );
        self.auth_latency.render(
            &mut out,
            "tollgate_authorization_seconds",
            "CHANNEL_PARK received to authorization commands issued.",
        );
        self.auth_round_trip.render(
            &mut out,
            "tollgate_authorization_round_trip_seconds",
            "CHANNEL_PARK received to the switch's answers to the authorization commands.",
        );
        out
    }
}
