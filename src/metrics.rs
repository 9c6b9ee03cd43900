//! Counters for `GET /metrics`, in the Prometheus text exposition format.
//!
//! Written by hand rather than with a metrics crate: the set is small and
//! fixed (requests by method and outcome, a latency histogram, connections),
//! every per-method counter is allocated once when the registry is built so
//! the request path only does relaxed atomic adds, and the text format is a
//! dozen lines of code.

use crate::rpc::ErrorClass;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.5, 2.5,
];

/// The outcomes a request is counted under.
pub const OUTCOMES: [&str; 5] = ["ok", "bad_request", "refused", "unknown_method", "error"];

/// Requests of one method: outcomes and latency.
#[derive(Debug, Default)]
pub struct MethodStats {
    outcomes: [AtomicU64; 5],
    /// Cumulative counts are computed when rendering; each slot counts
    /// requests whose latency falls in it (the last slot is +Inf).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl MethodStats {
    /// Counts one request.
    pub fn record(&self, outcome: Option<ErrorClass>, latency: Duration) {
        let i = match outcome {
            None => 0,
            Some(ErrorClass::BadRequest) => 1,
            Some(ErrorClass::Refused) => 2,
            Some(ErrorClass::UnknownMethod) => 3,
            Some(ErrorClass::Server) => 4,
        };
        self.outcomes[i].fetch_add(1, Relaxed);
        let secs = latency.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_nanos
            .fetch_add(latency.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
    }

    /// Requests counted, all outcomes.
    pub fn total(&self) -> u64 {
        self.outcomes.iter().map(|o| o.load(Relaxed)).sum()
    }
}

/// Connections of one listener.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub open: AtomicI64,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
}

/// Everything `/metrics` shows that is not per method.
#[derive(Debug, Default)]
pub struct Metrics {
    pub rpc_json: ConnStats,
    pub http: ConnStats,
    /// Requests naming a method that does not exist.
    pub unknown_method: MethodStats,
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// The text exposition of these metrics and of `methods`.
    pub fn render<'a>(&self, methods: impl Iterator<Item = (&'a str, &'a MethodStats)>) -> String {
        let mut methods: Vec<_> = methods.collect();
        methods.push(("(unknown)", &self.unknown_method));
        let mut out = String::with_capacity(8192);
        out.push_str("# HELP tollgate_requests_total RPC requests answered, by method and outcome.\n# TYPE tollgate_requests_total counter\n");
        for (name, st) in &methods {
            for (i, outcome) in OUTCOMES.iter().enumerate() {
                let n = st.outcomes[i].load(Relaxed);
                if n > 0 || (i == 0 && st.total() == 0 && *name != "(unknown)") {
                    let _ = writeln!(
                        out,
                        "tollgate_requests_total{{method=\"{}\",outcome=\"{outcome}\"}} {n}",
                        escape(name)
                    );
                }
            }
        }
        out.push_str("# HELP tollgate_request_duration_seconds Time to answer an RPC request, by method.\n# TYPE tollgate_request_duration_seconds histogram\n");
        for (name, st) in &methods {
            if st.total() == 0 {
                continue;
            }
            let name = escape(name);
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += st.buckets[i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "tollgate_request_duration_seconds_bucket{{method=\"{name}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += st.buckets[BUCKETS.len()].load(Relaxed);
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_bucket{{method=\"{name}\",le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_sum{{method=\"{name}\"}} {}",
                st.sum_nanos.load(Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_count{{method=\"{name}\"}} {cumulative}"
            );
        }
        for (metric, kind, help, get) in [
            (
                "tollgate_connections_open",
                "gauge",
                "Connections open now.",
                (|c: &ConnStats| c.open.load(Relaxed).max(0) as u64) as fn(&ConnStats) -> u64,
            ),
            (
                "tollgate_connections_accepted_total",
                "counter",
                "Connections accepted.",
                |c: &ConnStats| c.accepted.load(Relaxed),
            ),
            (
                "tollgate_connections_refused_total",
                "counter",
                "Connections refused because the listener was at max_connections.",
                |c: &ConnStats| c.refused.load(Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {kind}");
            for (listener, c) in [("rpc_json", &self.rpc_json), ("http", &self.http)] {
                let _ = writeln!(out, "{metric}{{listener=\"{listener}\"}} {}", get(c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format() {
        let m = Metrics::default();
        let st = MethodStats::default();
        st.record(None, Duration::from_micros(30));
        st.record(Some(ErrorClass::Refused), Duration::from_secs(10));
        m.rpc_json.open.fetch_add(2, Relaxed);
        let text = m.render([("Responder.GetCost", &st)].into_iter());
        assert!(
            text.contains("tollgate_requests_total{method=\"Responder.GetCost\",outcome=\"ok\"} 1")
        );
        assert!(text.contains("outcome=\"refused\"} 1"));
        assert!(text.contains("le=\"0.00005\"} 1"));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(text.contains("tollgate_connections_open{listener=\"rpc_json\"} 2"));
    }
}
