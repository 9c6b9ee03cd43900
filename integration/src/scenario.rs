//! What the simulated switch is asked to do: calls ([`CallSpec`]), scenario
//! files ([`Scenario`]) and load ([`LoadSpec`]).
//!
//! All durations are simulated seconds (fractions allowed). The JSON schema
//! is documented, with an example, in `integration/README.md`; unknown
//! fields are refused so that a typo is an error rather than a silently
//! different call.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Channel variables in the order they were set (order survives JSON both
/// ways; values may be given as JSON strings, numbers or booleans).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vars(pub Vec<(String, String)>);

impl Vars {
    /// No variables.
    pub fn new() -> Self {
        Vars(Vec::new())
    }

    /// Value of `name` (exact, case-sensitive, as FreeSWITCH's variables).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` (replacing in place, or appending).
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.0.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Removes `name`; true when it was set.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|(k, _)| k != name);
        self.0.len() != before
    }

    /// `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Vars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Vars(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl Serialize for Vars {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Vars {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vars;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of channel variables")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vars, A::Error> {
                let mut out = Vars::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v = match map.next_value::<serde_json::Value>()? {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(de::Error::custom(format!(
                                "variable {k}: expected a string, number or boolean, got {other}"
                            )))
                        }
                    };
                    out.set(&k, &v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// One simulated call: an inbound SIP leg (`sofia/internal/<caller>@<domain>`)
/// to `destination`.
///
/// Life: CHANNEL_CREATE at `at`; when `park`, CHANNEL_PARK and a wait for
/// `uuid_transfer` (or a kill); then `ring` seconds of ringing and
/// CHANNEL_ANSWER; the caller hangs up `talk` seconds after the answer
/// (CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE) unless something else hangs up
/// first. `abandon`: the caller gives up (ORIGINATOR_CANCEL) that many
/// seconds after CHANNEL_CREATE if the call is not answered by then.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallSpec {
    /// Start offset in simulated seconds: from the scenario start in a
    /// scenario, from now for [`crate::FakeSwitch::place_call`].
    pub at: f64,
    /// Channel UUID (`Unique-ID`); a random v4 UUID when absent.
    pub uuid: Option<String>,
    /// Caller number: `Caller-Caller-ID-Number`, `Caller-Username`, `Caller-ANI`.
    pub caller: String,
    /// Caller name (`Caller-Caller-ID-Name`); the number when absent.
    pub caller_name: Option<String>,
    /// Dialled number: `Caller-Destination-Number`.
    pub destination: String,
    /// Dialplan context (`Caller-Context`).
    pub context: String,
    /// SIP domain of the caller (channel name, `sip_*` variables).
    pub domain: String,
    /// Channel variables (`cgr_*` and any others), set when the channel is
    /// created, after the switch's own.
    pub variables: Vars,
    /// The dialplan parks the call (CHANNEL_PARK) and waits for a controller.
    pub park: bool,
    /// Ringing seconds before CHANNEL_ANSWER (after the transfer when
    /// parked); `null`: never answered.
    pub ring: Option<f64>,
    /// Seconds the caller talks after the answer before hanging up; `null`:
    /// the caller never hangs up.
    pub talk: Option<f64>,
    /// Seconds after CHANNEL_CREATE at which an unanswered caller gives up;
    /// `null` (default): waits forever.
    pub abandon: Option<f64>,
    /// Cause when the caller hangs up after talking.
    pub hangup_cause: String,
    /// The call's channel is the inbound `-b` leg (`loopback/<destination>-b`)
    /// of a loopback pair whose outbound `-a` partner (the caller's side)
    /// also exists: what `originate …loopback/<dest>/<context>` makes. The
    /// call's `variables` are then set by the dialplan (`set` applications,
    /// each a CHANNEL_EXECUTE) before it parks.
    pub loopback: bool,
    /// Variables of the `-a` partner (the originate's `{k=v}`), which the
    /// `-b` leg inherits at its creation.
    pub partner_variables: Vars,
    /// After the controller's `uuid_transfer`, the dialplan bridges to
    /// `loopback/9999/prepaid_term` with these variables (a bridge string's
    /// `{k=v}`): `ring` is then the callee's ringing, and the call's channel
    /// is answered when the bridge answers. `None`: no bridge.
    pub bridge: Option<Vars>,
}

impl Default for CallSpec {
    fn default() -> Self {
        CallSpec {
            at: 0.0,
            uuid: None,
            caller: "1001".to_owned(),
            caller_name: None,
            destination: "1002".to_owned(),
            context: "default".to_owned(),
            domain: "127.0.0.1".to_owned(),
            variables: Vars::new(),
            park: true,
            ring: Some(1.0),
            talk: Some(60.0),
            abandon: None,
            hangup_cause: "NORMAL_CLEARING".to_owned(),
            loopback: false,
            partner_variables: Vars::new(),
            bridge: None,
        }
    }
}

impl CallSpec {
    /// A parked call from `caller` to `destination` with the defaults
    /// (ring 1 s, talk 60 s).
    pub fn new(caller: &str, destination: &str) -> Self {
        CallSpec {
            caller: caller.to_owned(),
            destination: destination.to_owned(),
            ..Default::default()
        }
    }

    /// Sets a channel variable.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.variables.set(name, value);
        self
    }

    /// Sets the UUID.
    pub fn uuid(mut self, uuid: &str) -> Self {
        self.uuid = Some(uuid.to_owned());
        self
    }

    /// Parks (true) or goes straight to ringing (false).
    pub fn park(mut self, park: bool) -> Self {
        self.park = park;
        self
    }

    /// Ringing time in seconds.
    pub fn ring(mut self, secs: f64) -> Self {
        self.ring = Some(secs);
        self
    }

    /// Never answered.
    pub fn no_answer(mut self) -> Self {
        self.ring = None;
        self
    }

    /// Talk time in seconds.
    pub fn talk(mut self, secs: f64) -> Self {
        self.talk = Some(secs);
        self
    }

    /// The caller never hangs up.
    pub fn talk_forever(mut self) -> Self {
        self.talk = None;
        self
    }

    /// The caller gives up after `secs` if unanswered.
    pub fn abandon(mut self, secs: f64) -> Self {
        self.abandon = Some(secs);
        self
    }

    /// The dialplan context (`Caller-Context`).
    pub fn context(mut self, context: &str) -> Self {
        self.context = context.to_owned();
        self
    }

    /// The call's channel is the `-b` leg of a loopback pair (see
    /// [`CallSpec::loopback`](CallSpec#structfield.loopback)).
    pub fn loopback(mut self) -> Self {
        self.loopback = true;
        self
    }

    /// A variable of the loopback `-a` partner (the originate's `{k=v}`),
    /// inherited by the call's `-b` leg. Implies [`CallSpec::loopback`].
    pub fn partner_var(mut self, name: &str, value: &str) -> Self {
        self.loopback = true;
        self.partner_variables.set(name, value);
        self
    }

    /// After `uuid_transfer`, the call bridges to `loopback/9999` with
    /// `vars` set on the bridged legs (as `{k=v}` in a bridge string).
    pub fn bridge(mut self, vars: &[(&str, &str)]) -> Self {
        self.bridge = Some(vars.iter().map(|(k, v)| (*k, *v)).collect());
        self
    }

    /// Start offset in seconds.
    pub fn at(mut self, secs: f64) -> Self {
        self.at = secs;
        self
    }

    /// Checks the numbers (finite, not negative) and names.
    pub fn validate(&self) -> Result<(), String> {
        let check = |what: &str, v: Option<f64>| match v {
            Some(x) if !x.is_finite() || x < 0.0 => {
                Err(format!("{what} must be a finite number >= 0, got {x}"))
            }
            _ => Ok(()),
        };
        check("at", Some(self.at))?;
        check("ring", self.ring)?;
        check("talk", self.talk)?;
        check("abandon", self.abandon)?;
        if let Some(u) = &self.uuid {
            if u.is_empty() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("uuid {u:?} must be one word"));
            }
        }
        for (what, v) in [("caller", &self.caller), ("destination", &self.destination)] {
            if v.is_empty() || v.chars().any(char::is_whitespace) {
                return Err(format!("{what} {v:?} must be one non-empty word"));
            }
        }
        Ok(())
    }

    /// This spec with `{n}` replaced by `n` in every text field (uuid,
    /// caller, names, destination, variable values): the load template.
    pub fn instantiate(&self, n: u64) -> CallSpec {
        let sub = |s: &str| s.replace("{n}", &n.to_string());
        CallSpec {
            at: self.at,
            uuid: self.uuid.as_deref().map(sub),
            caller: sub(&self.caller),
            caller_name: self.caller_name.as_deref().map(sub),
            destination: sub(&self.destination),
            context: sub(&self.context),
            domain: sub(&self.domain),
            variables: self
                .variables
                .iter()
                .map(|(k, v)| (sub(k), sub(v)))
                .collect(),
            park: self.park,
            ring: self.ring,
            talk: self.talk,
            abandon: self.abandon,
            hangup_cause: self.hangup_cause.clone(),
            loopback: self.loopback,
            partner_variables: self
                .partner_variables
                .iter()
                .map(|(k, v)| (sub(k), sub(v)))
                .collect(),
            bridge: self
                .bridge
                .as_ref()
                .map(|b| b.iter().map(|(k, v)| (sub(k), sub(v))).collect()),
        }
    }
}

/// N calls started at a steady rate from a template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadSpec {
    /// How many calls.
    pub calls: u64,
    /// Calls started per simulated second.
    pub rate: f64,
    /// Offset of the first call, simulated seconds (from the scenario start,
    /// or from now for [`crate::FakeSwitch::start_load`]).
    pub at: f64,
    /// Every call is this template with `{n}` (1, 2, …) substituted in its
    /// text fields; its own `at` is ignored. The default: parked calls from
    /// `1{n}` to 1002 that give up after 60 s if nothing transfers them.
    pub template: CallSpec,
}

impl Default for LoadSpec {
    fn default() -> Self {
        LoadSpec {
            calls: 0,
            rate: 10.0,
            at: 0.0,
            template: CallSpec {
                caller: "1{n}".to_owned(),
                abandon: Some(60.0),
                ..CallSpec::default()
            },
        }
    }
}

impl LoadSpec {
    /// Checks rate and template.
    pub fn validate(&self) -> Result<(), String> {
        if !self.rate.is_finite() || self.rate <= 0.0 {
            return Err(format!("load rate must be > 0, got {}", self.rate));
        }
        if !self.at.is_finite() || self.at < 0.0 {
            return Err(format!("load at must be >= 0, got {}", self.at));
        }
        self.template.instantiate(1).validate()
    }

    /// Call `n` (1-based) and its start offset from the load's start.
    pub fn call(&self, n: u64) -> CallSpec {
        let mut spec = self.template.instantiate(n);
        spec.at = (n - 1) as f64 / self.rate;
        spec
    }
}

/// When a scenario's clock starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioStart {
    /// When the switch starts.
    #[default]
    Immediately,
    /// When the first ESL connection enables events (`event …` accepted), so
    /// a client started after the switch sees every call from its first event.
    OnFirstSubscription,
}

/// A scenario file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// When offsets count from.
    pub start: ScenarioStart,
    /// Calls, each at its own `at`.
    pub calls: Vec<CallSpec>,
    /// Optional load on top.
    pub load: Option<LoadSpec>,
}

impl Scenario {
    /// Parses and validates JSON.
    pub fn from_json(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario = serde_json::from_str(text).map_err(|e| e.to_string())?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Reads and parses a file.
    pub fn from_file(path: &std::path::Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Checks every call and the load; uuids must be unique.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (i, call) in self.calls.iter().enumerate() {
            call.validate().map_err(|e| format!("calls[{i}]: {e}"))?;
            if let Some(u) = &call.uuid {
                if !seen.insert(u.clone()) {
                    return Err(format!("calls[{i}]: duplicate uuid {u}"));
                }
            }
        }
        if let Some(load) = &self.load {
            load.validate().map_err(|e| format!("load: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_keeps_variable_order() {
        let s = Scenario::from_json(
            r#"{"calls":[{"caller":"1001","destination":"1002","variables":{"z":"1","a":2,"m":true},"ring":null}]}"#,
        )
        .unwrap();
        let c = &s.calls[0];
        assert!(c.park);
        assert_eq!(c.ring, None);
        assert_eq!(c.talk, Some(60.0));
        let names: Vec<_> = c.variables.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["z", "a", "m"]);
        assert_eq!(c.variables.get("a"), Some("2"));
        assert_eq!(c.variables.get("m"), Some("true"));
    }

    #[test]
    fn refuses_typos_and_bad_numbers() {
        assert!(Scenario::from_json(r#"{"calls":[{"caler":"1"}]}"#).is_err());
        assert!(Scenario::from_json(r#"{"calls":[{"talk":-1}]}"#).is_err());
        assert!(Scenario::from_json(r#"{"load":{"calls":3,"rate":0}}"#).is_err());
        assert!(Scenario::from_json(r#"{"calls":[{"uuid":"a"},{"uuid":"a"}]}"#).is_err());
    }

    #[test]
    fn loopback_and_bridge_in_json() {
        let s = Scenario::from_json(
            r#"{"calls":[{"caller":"1001","destination":"0723045326","context":"prepaid","loopback":true,
                "partner_variables":{"cgr_reqtype":"*none"},"bridge":{"cgr_bleg":1,"cgr_reqtype":"*none"}}]}"#,
        )
        .unwrap();
        let c = &s.calls[0];
        assert_eq!(
            c,
            &CallSpec::new("1001", "0723045326")
                .context("prepaid")
                .partner_var("cgr_reqtype", "*none")
                .bridge(&[("cgr_bleg", "1"), ("cgr_reqtype", "*none")])
        );
        let plain = Scenario::from_json(r#"{"calls":[{}]}"#).unwrap();
        assert!(!plain.calls[0].loopback && plain.calls[0].bridge.is_none());
    }

    #[test]
    fn load_template() {
        let load = LoadSpec {
            calls: 3,
            rate: 2.0,
            at: 0.0,
            template: CallSpec::new("10{n}", "2000").var("cgr_account", "acc{n}"),
        };
        let c = load.call(3);
        assert_eq!(c.caller, "103");
        assert_eq!(c.variables.get("cgr_account"), Some("acc3"));
        assert_eq!(c.at, 1.0);
    }
}
