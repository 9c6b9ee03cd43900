//! An ordered list of `Name: value` pairs, the shape of every ESL header block.
//!
//! Event Socket headers are not a map: FreeSWITCH repeats some of them
//! (`Hangup-Cause` twice in a CHANNEL_HANGUP_COMPLETE) and order carries
//! meaning for a reader of a trace. Names are looked up case-insensitively, as
//! `esl_event_get_header` does.
//!
//! Storage is one `String` holding every name and value back to back plus a
//! small index of offsets, so parsing a 2 KB event with 50 headers costs two
//! allocations instead of a hundred.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    start: usize,
    name_end: usize,
    value_end: usize,
}

/// Ordered, possibly repeated header fields with case-insensitive lookup.
#[derive(Clone, Default)]
pub struct Headers {
    text: String,
    entries: Vec<Entry>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `count` fields totalling `bytes` bytes.
    pub fn with_capacity(count: usize, bytes: usize) -> Self {
        Headers {
            text: String::with_capacity(bytes),
            entries: Vec::with_capacity(count),
        }
    }

    /// Builds from a text buffer and `(start, name_end, value_end)` offsets
    /// into it. Used by the parser; offsets must lie on UTF-8 boundaries.
    pub(crate) fn from_raw(text: String, fields: Vec<(usize, usize, usize)>) -> Self {
        let entries = fields
            .into_iter()
            .map(|(start, name_end, value_end)| Entry {
                start,
                name_end,
                value_end,
            })
            .collect();
        Headers { text, entries }
    }

    /// Number of fields, repeats included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn name_of(&self, e: &Entry) -> &str {
        &self.text[e.start..e.name_end]
    }

    fn value_of(&self, e: &Entry) -> &str {
        &self.text[e.name_end..e.value_end]
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| self.name_of(e).eq_ignore_ascii_case(name))
            .map(|e| self.value_of(e))
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |e| self.name_of(e).eq_ignore_ascii_case(name))
            .map(move |e| self.value_of(e))
    }

    /// True when `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All fields in order as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries
            .iter()
            .map(move |e| (self.name_of(e), self.value_of(e)))
    }

    /// Appends a field, keeping any earlier one of the same name.
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let start = self.text.len();
        self.text.push_str(name.as_ref());
        let name_end = self.text.len();
        self.text.push_str(value.as_ref());
        self.entries.push(Entry {
            start,
            name_end,
            value_end: self.text.len(),
        });
    }

    /// Replaces every field named `name` with one field at the position of the
    /// first (or at the end when absent).
    pub fn set(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let name = name.as_ref();
        let pos = self
            .entries
            .iter()
            .position(|e| self.name_of(e).eq_ignore_ascii_case(name));
        self.remove(name);
        self.push(name, value);
        if let Some(pos) = pos {
            if let Some(entry) = self.entries.pop() {
                self.entries.insert(pos, entry);
            }
        }
    }

    /// Removes every field named `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.entries.len();
        let text = &self.text;
        self.entries
            .retain(|e| !text[e.start..e.name_end].eq_ignore_ascii_case(name));
        before - self.entries.len()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        headers.extend(iter);
        headers
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for Headers {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.push(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_repeats() {
        let mut h: Headers = [
            ("A", "1"),
            ("Hangup-Cause", "X"),
            ("B", "2"),
            ("hangup-cause", "Y"),
        ]
        .into_iter()
        .collect();
        assert_eq!(h.get("HANGUP-CAUSE"), Some("X"));
        assert_eq!(h.get_all("Hangup-Cause").collect::<Vec<_>>(), ["X", "Y"]);
        h.set("hangup-cause", "Z");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "1"), ("hangup-cause", "Z"), ("B", "2")]
        );
        assert_eq!(h.remove("a"), 1);
        assert_eq!(h.len(), 2);
        assert!(!h.contains("A"));
    }
}
