//! The facts of a call, read from its FreeSWITCH event: who pays, who is
//! rated, where it goes, and how it is billed. Channel variables `cgr_*`
//! win; the caller profile and the config's defaults fill the gaps.

use crate::config::SessionsConfig;
use crate::intern::Interner;
use chrono::{DateTime, TimeZone, Utc};
use esl::Event;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How a call is billed (`cgr_reqtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestType {
    /// Authorized, debited while it runs, cut when the credit is gone.
    #[serde(rename = "*prepaid")]
    Prepaid,
    /// Authorized and limited like prepaid, debited once at the end.
    #[serde(rename = "*pseudoprepaid")]
    PseudoPrepaid,
    /// Debited at the end, whatever the credit.
    #[serde(rename = "*postpaid")]
    Postpaid,
    /// Only priced at the end; no account is touched.
    #[serde(rename = "*rated")]
    Rated,
    /// Not billed at all.
    #[serde(rename = "*none")]
    None,
}

impl RequestType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "*prepaid" => RequestType::Prepaid,
            "*pseudoprepaid" => RequestType::PseudoPrepaid,
            "*postpaid" => RequestType::Postpaid,
            "*rated" => RequestType::Rated,
            "*none" => RequestType::None,
            _ => return None,
        })
    }

    /// Whether the call must be authorized (and limited) before it connects.
    pub fn authorizes(self) -> bool {
        matches!(self, RequestType::Prepaid | RequestType::PseudoPrepaid)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Prepaid => "*prepaid",
            RequestType::PseudoPrepaid => "*pseudoprepaid",
            RequestType::Postpaid => "*postpaid",
            RequestType::Rated => "*rated",
            RequestType::None => "*none",
        }
    }
}

/// Everything billing needs to know about a call. Its strings are shared
/// handles: the ones calls hold alike come from an [`Interner`], the
/// destination is the dialled number's block when they are the same, and
/// the uuid is the call task's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    pub uuid: Arc<str>,
    pub request_type: RequestType,
    pub tenant: Arc<str>,
    pub category: Arc<str>,
    pub account: Arc<str>,
    pub subject: Arc<str>,
    pub destination: Arc<str>,
    /// Where `uuid_transfer` sends an authorized call: the dialled number,
    /// in the dialplan and context it came from.
    pub transfer_to: Arc<str>,
    pub dialplan: Option<Arc<str>>,
    pub context: Option<Arc<str>>,
    pub caller: Arc<str>,
    pub setup_time: Option<DateTime<Utc>>,
}

/// Why a call cannot be billed as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|v| !v.is_empty() && *v != "_undef_")
}

/// A switch timestamp in microseconds since the epoch (0 means never).
pub fn micros(event: &Event, header: &str) -> Option<DateTime<Utc>> {
    let us: i64 = non_empty(event.header(header))?.parse().ok()?;
    // Up to the year 9999: a switch's nonsense must not overflow the date
    // arithmetic of a call that lasts hours.
    const MAX_US: i64 = 253_402_300_799_000_000;
    if us <= 0 || us > MAX_US {
        return None;
    }
    Utc.timestamp_micros(us).single()
}

impl CallInfo {
    /// Reads the call from an event; `Err` names what a billed call lacks.
    /// The strings calls share come from `names`.
    pub fn from_event(
        event: &Event,
        cfg: &SessionsConfig,
        names: &Interner,
    ) -> Result<CallInfo, Refusal> {
        let uuid = non_empty(event.unique_id())
            .ok_or_else(|| Refusal("MANDATORY_IE_MISSING: [Unique-ID]".into()))?;
        let var = |name: &str| non_empty(event.variable(name));
        let request_type = match var("cgr_reqtype") {
            Some(t) => RequestType::parse(t)
                .ok_or_else(|| Refusal(format!("UNSUPPORTED_REQUEST_TYPE: {t}")))?,
            None => RequestType::parse(&cfg.default_request_type).unwrap_or(RequestType::Prepaid),
        };
        let dialled = non_empty(event.header("Caller-Destination-Number"));
        let account = var("cgr_account")
            .or_else(|| non_empty(event.header("Caller-Username")))
            .or_else(|| non_empty(event.header("Caller-Caller-ID-Number")));
        let subject = var("cgr_subject").or(account);
        let destination = var("cgr_destination").or(dialled);
        let account = names.get(account.unwrap_or_default());
        let transfer_to: Arc<str> = Arc::from(dialled.unwrap_or_default());
        let info = CallInfo {
            uuid: Arc::from(uuid),
            request_type,
            tenant: names.get(var("cgr_tenant").unwrap_or(&cfg.default_tenant)),
            category: names.get(var("cgr_category").unwrap_or(&cfg.default_category)),
            subject: match subject.unwrap_or_default() {
                s if s == &*account => account.clone(),
                s => names.get(s),
            },
            account,
            destination: match destination.unwrap_or_default() {
                d if d == &*transfer_to => transfer_to.clone(),
                d => Arc::from(d),
            },
            transfer_to,
            dialplan: non_empty(event.header("Caller-Dialplan")).map(|s| names.get(s)),
            context: non_empty(event.header("Caller-Context")).map(|s| names.get(s)),
            caller: Arc::from(
                non_empty(event.header("Caller-Caller-ID-Number")).unwrap_or_default(),
            ),
            setup_time: micros(event, "Caller-Channel-Created-Time"),
        };
        if request_type != RequestType::None {
            let mut missing = vec![];
            if info.account.is_empty() {
                missing.push("Account");
            }
            if info.destination.is_empty() {
                missing.push("Destination");
            }
            if !missing.is_empty() {
                return Err(Refusal(format!(
                    "MANDATORY_IE_MISSING: [{}]",
                    missing.join(" ")
                )));
            }
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(headers: &[(&str, &str)]) -> Event {
        headers
            .iter()
            .fold(Event::new("CHANNEL_PARK"), |e, (k, v)| {
                e.with_header(*k, *v)
            })
    }

    #[test]
    fn variables_win_then_profile_then_defaults() {
        let cfg = SessionsConfig::default();
        let e = event(&[
            ("Unique-ID", "u1"),
            ("Caller-Username", "1001"),
            ("Caller-Caller-ID-Number", "555"),
            ("Caller-Destination-Number", "0723"),
            ("variable_cgr_subject", "rif"),
        ]);
        let info = CallInfo::from_event(&e, &cfg, &Interner::default()).unwrap();
        assert_eq!(&*info.account, "1001");
        assert_eq!(&*info.subject, "rif");
        assert_eq!(&*info.destination, "0723");
        assert_eq!(&*info.tenant, "cgrates.org");
        assert_eq!(info.request_type, RequestType::Prepaid);
        let e = event(&[
            ("Unique-ID", "u2"),
            ("Caller-Caller-ID-Number", "555"),
            ("Caller-Destination-Number", "0723"),
            ("variable_cgr_account", "acc"),
            ("variable_cgr_destination", "+40723"),
            ("variable_cgr_tenant", "vdf"),
            ("variable_cgr_reqtype", "*postpaid"),
        ]);
        let info = CallInfo::from_event(&e, &cfg, &Interner::default()).unwrap();
        assert_eq!((&*info.account, &*info.subject), ("acc", "acc"));
        assert_eq!(&*info.destination, "+40723");
        assert_eq!(&*info.transfer_to, "0723");
        assert_eq!(info.request_type, RequestType::Postpaid);
    }

    #[test]
    fn strings_calls_hold_alike_are_one_copy() {
        let cfg = SessionsConfig::default();
        let names = Interner::default();
        let call = |uuid: &str| {
            let e = event(&[
                ("Unique-ID", uuid),
                ("Caller-Caller-ID-Number", "555"),
                ("Caller-Destination-Number", "0723"),
                ("Caller-Dialplan", "XML"),
                ("Caller-Context", "default"),
                ("variable_cgr_account", "acc"),
            ]);
            CallInfo::from_event(&e, &cfg, &names).unwrap()
        };
        let (a, b) = (call("u1"), call("u2"));
        assert!(Arc::ptr_eq(&a.account, &a.subject));
        assert!(Arc::ptr_eq(&a.destination, &a.transfer_to));
        assert!(Arc::ptr_eq(&a.tenant, &b.tenant));
        assert!(Arc::ptr_eq(&a.category, &b.category));
        assert!(Arc::ptr_eq(&a.account, &b.account));
        assert!(Arc::ptr_eq(
            a.dialplan.as_ref().unwrap(),
            b.dialplan.as_ref().unwrap()
        ));
        assert!(Arc::ptr_eq(
            a.context.as_ref().unwrap(),
            b.context.as_ref().unwrap()
        ));
        assert_eq!(
            (&*a.uuid, &*a.tenant, &*a.category, &*a.caller),
            ("u1", "cgrates.org", "call", "555")
        );
        // The session's JSON is as it was: plain strings.
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["account"], "acc");
        assert_eq!(v["dialplan"], "XML");
        assert_eq!(serde_json::from_value::<CallInfo>(v).unwrap(), a);
    }

    #[test]
    fn missing_facts_are_refusals() {
        let cfg = SessionsConfig::default();
        let e = event(&[("Unique-ID", "u1"), ("Caller-Destination-Number", "0723")]);
        assert_eq!(
            CallInfo::from_event(&e, &cfg, &Interner::default())
                .unwrap_err()
                .0,
            "MANDATORY_IE_MISSING: [Account]"
        );
        let e = event(&[
            ("Unique-ID", "u1"),
            ("Caller-Username", "1"),
            ("variable_cgr_reqtype", "*gold"),
        ]);
        assert!(CallInfo::from_event(&e, &cfg, &Interner::default())
            .unwrap_err()
            .0
            .starts_with("UNSUPPORTED_REQUEST_TYPE"));
    }

    #[test]
    fn switch_times_outside_reason_are_absent() {
        let at = |v: &str| micros(&event(&[("T", v)]), "T");
        assert_eq!(
            at("1732100000123456").map(|t| t.timestamp_micros()),
            Some(1732100000123456)
        );
        for bad in [
            "0",
            "-5",
            "abc",
            "",
            "253402300800000000",
            "9223372036854775807",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
