//! One ESL connection's subscription state, checked when an event is fired
//! (as `event_handler` in `mod_event_socket.c` does), so an event is queued
//! for a connection only if, at that moment, it was subscribed and passed
//! the filters.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use esl::Event;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::events::{Fired, Format};

/// Subscriptions and filters of one connection.
#[derive(Debug, Default)]
pub(crate) struct Subscription {
    /// LFLAG_EVENTS: set by `event` and `nixevent`, cleared by `noevents`.
    pub events_on: bool,
    pub format: Format,
    /// `event … ALL`: every type except `nixed`.
    pub all: bool,
    pub nixed: HashSet<&'static str>,
    pub types: HashSet<&'static str>,
    /// CUSTOM subclasses.
    pub custom: HashSet<String>,
    /// `filter` header/value pairs in the order added.
    pub filters: Vec<(String, String)>,
}

impl Subscription {
    fn wants_type(&self, name: &str, subclass: Option<&str>) -> bool {
        let Some(name) = crate::events::name_event(name) else {
            return false;
        };
        if self.all {
            return !self.nixed.contains(name);
        }
        if !self.types.contains(name) {
            return false;
        }
        match subclass {
            Some(s) if name == "CUSTOM" => self.custom.contains(s),
            _ => true,
        }
    }

    /// Would this event be queued for the connection?
    pub(crate) fn accepts(&self, ev: &Event) -> bool {
        if !self.events_on {
            return false;
        }
        let Some(name) = ev.event_name() else {
            return false;
        };
        if !self.wants_type(name, ev.subclass()) {
            return false;
        }
        self.filters.is_empty() || self.passes_filters(ev)
    }

    /// The filter walk of `event_handler`: a `+value` (or plain) filter that
    /// matches lets the event through, a `-value` one that matches blocks it
    /// for good; no match at all blocks it. Values starting with `/` are
    /// regular expressions on the switch; they are not supported here and
    /// never match.
    fn passes_filters(&self, ev: &Event) -> bool {
        let mut send = false;
        for (name, value) in &self.filters {
            let Some(hval) = ev.header(name) else {
                continue;
            };
            let mut pos = true;
            let mut comp = value.as_str();
            while let Some(c) = comp.chars().next() {
                match c {
                    '+' => pos = true,
                    '-' => pos = false,
                    ' ' => {}
                    _ => break,
                }
                comp = &comp[1..];
            }
            if send && pos {
                continue;
            }
            let matched = if value.starts_with('/') {
                false
            } else {
                hval.eq_ignore_ascii_case(comp)
            };
            if matched {
                if pos {
                    send = true;
                } else {
                    return false;
                }
            }
        }
        send
    }
}

/// A connection as the core sees it.
#[derive(Debug)]
pub(crate) struct Listener {
    pub sub: Mutex<Subscription>,
    pub tx: mpsc::UnboundedSender<Arc<Fired>>,
    /// Cancelled to drop the connection.
    pub cancel: CancellationToken,
    /// A disconnect notice to send when cancelled (None: close abruptly).
    pub farewell: Mutex<Option<String>>,
}

impl Listener {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Arc<Fired>>, cancel: CancellationToken) -> Self {
        Listener {
            sub: Mutex::new(Subscription::default()),
            tx,
            cancel,
            farewell: Mutex::new(None),
        }
    }

    pub(crate) fn sub(&self) -> std::sync::MutexGuard<'_, Subscription> {
        self.sub.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the event if the connection takes it; false when the
    /// connection is gone.
    pub(crate) fn offer(&self, fired: &Arc<Fired>) -> bool {
        if self.tx.is_closed() {
            return false;
        }
        if self.sub().accepts(&fired.event) {
            let _ = self.tx.send(fired.clone());
        }
        true
    }

    /// Drops the connection, with a disconnect notice when `farewell` is given.
    pub(crate) fn kill(&self, farewell: Option<&str>) {
        *self.farewell.lock().unwrap_or_else(|p| p.into_inner()) = farewell.map(str::to_owned);
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(names: &[&'static str]) -> Subscription {
        Subscription {
            events_on: true,
            types: names.iter().copied().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn filters_like_event_handler() {
        let job = Event::new("BACKGROUND_JOB").with_header("Job-UUID", "j");
        let ans = Event::new("CHANNEL_ANSWER").with_header("Unique-ID", "u1");
        let mut s = sub(&["BACKGROUND_JOB", "CHANNEL_ANSWER"]);
        assert!(s.accepts(&job) && s.accepts(&ans));
        s.filters.push(("Unique-ID".into(), "u1".into()));
        assert!(s.accepts(&ans));
        assert!(!s.accepts(&job), "a filter blocks what it does not match");
        s.filters
            .push(("Event-Name".into(), "background_job".into()));
        assert!(s.accepts(&job));
        s.filters.push(("Unique-ID".into(), "-u1".into()));
        assert!(!s.accepts(&ans), "a matching negative filter blocks");
    }

    #[test]
    fn all_and_nixed() {
        let mut s = Subscription {
            events_on: true,
            all: true,
            ..Default::default()
        };
        s.nixed.insert("HEARTBEAT");
        assert!(s.accepts(&Event::new("CHANNEL_PARK")));
        assert!(!s.accepts(&Event::new("HEARTBEAT")));
    }
}
