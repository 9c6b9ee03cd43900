//! What this connection asked the switch to send, so it can be asked again.
//!
//! `mod_event_socket` keeps subscriptions (`event`, `nixevent`, `noevents`)
//! and filters per connection: after a reconnect the switch knows nothing.
//! This module records the changes the switch accepted and turns them into
//! the commands that rebuild the same state on a fresh connection.
//!
//! It also keeps the client's own needs satisfied alongside the user's:
//! HEARTBEAT (liveness) and BACKGROUND_JOB (bgapi results) stay subscribed,
//! and, because once any filter exists the switch delivers only events that
//! match a filter, a `filter Event-Name …` for each is added while the user
//! has filters, and removed when the user has none left (otherwise our
//! filters alone would block every other event).

use crate::command::{Command, EventFormat};

/// A subscription change the switch accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SubChange {
    Event {
        format: EventFormat,
        names: Vec<String>,
    },
    Nix(Vec<String>),
    NoEvents,
    Filter(String, String),
    FilterDelete(String, Option<String>),
}

#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    format: EventFormat,
    events: Vec<String>,
    custom: Vec<String>,
    nixed: Vec<String>,
    filters: Vec<(String, String)>,
    auto_events: Vec<&'static str>,
    auto_filters_on: bool,
}

fn has(list: &[String], name: &str) -> bool {
    list.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn remove(list: &mut Vec<String>, name: &str) {
    list.retain(|n| !n.eq_ignore_ascii_case(name));
}

impl Subscriptions {
    /// `auto_events`: events the client itself needs subscribed.
    pub(crate) fn new(auto_events: Vec<&'static str>) -> Self {
        Subscriptions {
            auto_events,
            ..Default::default()
        }
    }

    /// True when the user asked for events named `name`.
    pub(crate) fn wants(&self, name: &str) -> bool {
        if has(&self.events, "ALL") {
            return !has(&self.nixed, name);
        }
        has(&self.events, name)
    }

    /// Records a change the switch accepted.
    pub(crate) fn apply(&mut self, change: &SubChange) {
        match change {
            SubChange::Event { format, names } => {
                self.format = *format;
                let mut custom = false;
                for name in names {
                    if custom {
                        if !has(&self.custom, name) {
                            self.custom.push(name.clone());
                        }
                        continue;
                    }
                    if name.eq_ignore_ascii_case("CUSTOM") {
                        custom = true;
                    }
                    remove(&mut self.nixed, name);
                    if !has(&self.events, name) {
                        self.events.push(name.clone());
                    }
                }
            }
            SubChange::Nix(names) => {
                for name in names {
                    if name.eq_ignore_ascii_case("ALL") {
                        self.events.clear();
                        self.custom.clear();
                        self.nixed.clear();
                    } else if has(&self.events, name) {
                        remove(&mut self.events, name);
                    } else if has(&self.events, "ALL") && !has(&self.nixed, name) {
                        self.nixed.push(name.clone());
                    }
                }
            }
            SubChange::NoEvents => {
                self.events.clear();
                self.custom.clear();
                self.nixed.clear();
            }
            SubChange::Filter(h, v) => {
                if !self
                    .filters
                    .iter()
                    .any(|(fh, fv)| fh.eq_ignore_ascii_case(h) && fv == v)
                {
                    self.filters.push((h.clone(), v.clone()));
                }
            }
            SubChange::FilterDelete(h, v) => {
                if h.eq_ignore_ascii_case("all") {
                    self.filters.clear();
                    self.auto_filters_on = false;
                } else {
                    self.filters.retain(|(fh, fv)| {
                        !(fh.eq_ignore_ascii_case(h) && v.as_ref().is_none_or(|v| v == fv))
                    });
                    if h.eq_ignore_ascii_case("Event-Name") {
                        // The switch may have dropped our own filters too.
                        self.auto_filters_on = false;
                    }
                }
            }
        }
    }

    fn auto_event_command(&self) -> Option<Command> {
        (!self.auto_events.is_empty()).then(|| Command::event(self.format, &self.auto_events))
    }

    fn auto_filter_commands(&self, delete: bool) -> Vec<Command> {
        self.auto_events
            .iter()
            .filter(|name| {
                !self.filters.iter().any(|(h, v)| {
                    h.eq_ignore_ascii_case("Event-Name") && v.eq_ignore_ascii_case(name)
                })
            })
            .map(|name| match delete {
                false => Command::filter("Event-Name", name),
                true => Command::filter_delete("Event-Name", Some(name)),
            })
            .collect()
    }

    /// Commands that rebuild everything on a fresh connection.
    pub(crate) fn replay(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        let mut names: Vec<String> = self.events.clone();
        for auto in &self.auto_events {
            if !has(&names, auto) {
                names.push((*auto).to_owned());
            }
        }
        if !self.custom.is_empty() {
            if let Some(pos) = names.iter().position(|n| n.eq_ignore_ascii_case("CUSTOM")) {
                let c = names.remove(pos);
                names.push(c);
            } else {
                names.push("CUSTOM".to_owned());
            }
            names.extend(self.custom.iter().cloned());
        }
        if !names.is_empty() {
            out.push(Command::event(self.format, &names));
        }
        let nixed: Vec<&String> = self
            .nixed
            .iter()
            .filter(|n| !self.auto_events.iter().any(|a| a.eq_ignore_ascii_case(n)))
            .collect();
        if !nixed.is_empty() {
            out.push(Command::nixevent(&nixed));
        }
        for (h, v) in &self.filters {
            out.push(Command::filter(h, v));
        }
        self.auto_filters_on = !self.filters.is_empty();
        if self.auto_filters_on {
            out.extend(self.auto_filter_commands(false));
        }
        out
    }

    /// Commands that keep the client's own subscriptions and filters right
    /// after `change` was accepted.
    pub(crate) fn repair(&mut self, change: &SubChange) -> Vec<Command> {
        let mut out = Vec::new();
        match change {
            SubChange::NoEvents => out.extend(self.auto_event_command()),
            SubChange::Nix(names) => {
                let hit = names.iter().any(|n| {
                    n.eq_ignore_ascii_case("ALL")
                        || self.auto_events.iter().any(|a| a.eq_ignore_ascii_case(n))
                });
                if hit {
                    out.extend(self.auto_event_command());
                }
            }
            SubChange::Event { .. } => {}
            SubChange::Filter(..) | SubChange::FilterDelete(..) => {
                if !self.filters.is_empty() && !self.auto_filters_on {
                    out.extend(self.auto_filter_commands(false));
                    self.auto_filters_on = true;
                } else if self.filters.is_empty() && self.auto_filters_on {
                    out.extend(self.auto_filter_commands(true));
                    self.auto_filters_on = false;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(cmds: &[Command]) -> Vec<&str> {
        cmds.iter().map(Command::line).collect()
    }

    fn ev(format: EventFormat, names: &[&str]) -> SubChange {
        SubChange::Event {
            format,
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn replays_events_nixes_and_filters() {
        let mut s = Subscriptions::new(vec!["HEARTBEAT", "BACKGROUND_JOB"]);
        s.apply(&ev(EventFormat::Json, &["ALL"]));
        s.apply(&SubChange::Nix(vec!["CHANNEL_STATE".into()]));
        s.apply(&SubChange::Filter("Unique-ID".into(), "u1".into()));
        assert_eq!(
            lines(&s.replay()),
            [
                "event json ALL HEARTBEAT BACKGROUND_JOB",
                "nixevent CHANNEL_STATE",
                "filter Unique-ID u1",
                "filter Event-Name HEARTBEAT",
                "filter Event-Name BACKGROUND_JOB",
            ]
        );
        assert!(s.wants("CHANNEL_ANSWER"));
        assert!(!s.wants("CHANNEL_STATE"));
    }

    #[test]
    fn custom_subclasses_go_last() {
        let mut s = Subscriptions::new(vec!["HEARTBEAT"]);
        s.apply(&ev(
            EventFormat::Plain,
            &["CUSTOM", "sofia::register", "CHANNEL_PARK"],
        ));
        s.apply(&ev(EventFormat::Plain, &["CHANNEL_ANSWER"]));
        assert_eq!(
            lines(&s.replay()),
            ["event plain CHANNEL_ANSWER HEARTBEAT CUSTOM sofia::register CHANNEL_PARK"]
        );
        assert!(s.wants("CUSTOM") && s.wants("CHANNEL_ANSWER") && !s.wants("HEARTBEAT"));
    }

    #[test]
    fn auto_filters_follow_user_filters() {
        let mut s = Subscriptions::new(vec!["BACKGROUND_JOB"]);
        let add = SubChange::Filter("Unique-ID".into(), "u1".into());
        s.apply(&add);
        assert_eq!(lines(&s.repair(&add)), ["filter Event-Name BACKGROUND_JOB"]);
        let add2 = SubChange::Filter("Unique-ID".into(), "u2".into());
        s.apply(&add2);
        assert!(s.repair(&add2).is_empty());
        let del = SubChange::FilterDelete("Unique-ID".into(), None);
        s.apply(&del);
        assert_eq!(
            lines(&s.repair(&del)),
            ["filter delete Event-Name BACKGROUND_JOB"]
        );
        assert!(s.replay().is_empty() || lines(&s.replay()) == ["event plain BACKGROUND_JOB"]);
    }

    #[test]
    fn noevents_keeps_client_events() {
        let mut s = Subscriptions::new(vec!["HEARTBEAT"]);
        s.apply(&ev(EventFormat::Plain, &["CHANNEL_ANSWER"]));
        s.apply(&SubChange::NoEvents);
        assert_eq!(
            lines(&s.repair(&SubChange::NoEvents)),
            ["event plain HEARTBEAT"]
        );
        assert!(!s.wants("CHANNEL_ANSWER"));
    }
}
