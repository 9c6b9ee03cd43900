//! Which call records `CDRsV1.GetCDRs` returns: the fields of CGRateS's
//! `RPCCDRsFilter` that tollgate's records carry. Lists match any of their
//! values (empty: anything); intervals include their start and exclude
//! their end, as in CGRateS.

use crate::record::Cdr;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CdrFilter {
    pub cgr_ids: Vec<String>,
    pub run_ids: Vec<String>,
    /// Every record is a `*voice` call.
    pub tors: Vec<String>,
    pub origin_hosts: Vec<String>,
    pub origin_ids: Vec<String>,
    pub request_types: Vec<String>,
    pub tenants: Vec<String>,
    pub categories: Vec<String>,
    pub accounts: Vec<String>,
    pub subjects: Vec<String>,
    /// The destination starts with one of these.
    pub destination_prefixes: Vec<String>,
    pub setup_time: Interval<DateTime<Utc>>,
    pub answer_time: Interval<DateTime<Utc>>,
    /// When the record was stored (`OrderID`, Unix ns).
    pub order_id: Interval<i64>,
    /// Usage in nanoseconds.
    pub usage: Interval<i64>,
    pub cost: Interval<Decimal>,
    pub offset: usize,
    pub limit: Option<usize>,
}

/// `start <= value < end`, either bound optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval<T> {
    pub start: Option<T>,
    pub end: Option<T>,
}

impl<T> Default for Interval<T> {
    fn default() -> Self {
        Interval {
            start: None,
            end: None,
        }
    }
}

impl<T: PartialOrd> Interval<T> {
    pub fn contains(&self, v: &T) -> bool {
        self.start.as_ref().is_none_or(|s| v >= s) && self.end.as_ref().is_none_or(|e| v < e)
    }

    /// For an optional value: an unset one passes only an open interval.
    fn contains_opt(&self, v: Option<&T>) -> bool {
        match v {
            Some(v) => self.contains(v),
            None => self.start.is_none() && self.end.is_none(),
        }
    }
}

fn any_of(list: &[String], v: &str) -> bool {
    list.is_empty() || list.iter().any(|x| x == v)
}

impl CdrFilter {
    pub fn matches(&self, c: &Cdr) -> bool {
        any_of(&self.cgr_ids, &c.cgr_id)
            && any_of(&self.run_ids, &c.run_id)
            && any_of(&self.tors, "*voice")
            && any_of(&self.origin_hosts, &c.origin_host)
            && any_of(&self.origin_ids, &c.origin_id)
            && any_of(&self.request_types, &c.request_type)
            && any_of(&self.tenants, &c.tenant)
            && any_of(&self.categories, &c.category)
            && any_of(&self.accounts, &c.account)
            && any_of(&self.subjects, &c.subject)
            && (self.destination_prefixes.is_empty()
                || self
                    .destination_prefixes
                    .iter()
                    .any(|p| c.destination.starts_with(p.as_str())))
            && self.setup_time.contains_opt(c.setup_time.as_ref())
            && self.answer_time.contains_opt(c.answer_time.as_ref())
            && self.order_id.contains(&c.order_id)
            && self.usage.contains(&c.usage)
            && self.cost.contains(&c.cost)
    }

    /// The ids that, if all are in the journal, make reading the archive
    /// needless (a record's origin id and CGRID are its call's uuid).
    pub(crate) fn ids(&self) -> &[String] {
        if self.origin_ids.is_empty() {
            &self.cgr_ids
        } else {
            &self.origin_ids
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn cdr() -> Cdr {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
        Cdr {
            cgr_id: "u1".into(),
            run_id: "*default".into(),
            origin_host: "fs1".into(),
            origin_id: "u1".into(),
            request_type: "*prepaid".into(),
            tenant: "cgrates.org".into(),
            category: "call".into(),
            account: "1001".into(),
            subject: "1001".into(),
            destination: "+40723456789".into(),
            setup_time: None,
            answer_time: Some(at),
            usage: 60_000_000_000,
            cost: dec!(0.12),
            charges: vec![],
            unpaid: false,
            disconnect_cause: String::new(),
            extra_info: String::new(),
            order_id: 1_000,
            estimated: false,
        }
    }

    #[test]
    fn lists_prefixes_and_intervals() {
        let c = cdr();
        let at = c.answer_time.unwrap();
        let f = |tweak: fn(&mut CdrFilter)| {
            let mut f = CdrFilter::default();
            tweak(&mut f);
            f.matches(&c)
        };
        assert!(f(|_| {}));
        assert!(f(
            |f| f.destination_prefixes = vec!["+407".into(), "+49".into()]
        ));
        assert!(!f(|f| f.destination_prefixes = vec!["+49".into()]));
        assert!(f(|f| f.request_types = vec!["*prepaid".into()]));
        assert!(f(|f| f.tors = vec!["*voice".into()]));
        assert!(!f(|f| f.tors = vec!["*sms".into()]));
        assert!(!f(|f| f.origin_hosts = vec!["fs2".into()]));
        assert!(f(|f| f.usage.start = Some(60_000_000_000)));
        assert!(!f(|f| f.usage.end = Some(60_000_000_000)));
        assert!(f(|f| f.cost = Interval {
            start: Some(dec!(0.12)),
            end: Some(dec!(0.13))
        }));
        assert!(!f(|f| f.cost.start = Some(dec!(0.13))));
        assert!(f(|f| f.order_id.end = Some(1_001)));
        // No setup time: only an open interval lets it through.
        assert!(!f(|f| f.setup_time.start = Some(DateTime::<Utc>::MIN_UTC)));
        let mut g = CdrFilter::default();
        g.answer_time.start = Some(at);
        assert!(g.matches(&c));
        g.answer_time.end = Some(at);
        assert!(!g.matches(&c));
    }
}
