//! Destination prefixes: an index from every prefix to the destinations
//! that contain it, so a number is matched by walking its own prefixes from
//! the longest down (at most one hash probe per digit), never by scanning.

use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Dense id of a destination within one tariff plan.
pub type DestId = u32;

/// Destination ids that share one prefix; almost always exactly one.
#[derive(Debug, Clone)]
enum Ids {
    One(DestId),
    Many(Box<[DestId]>),
}

impl Ids {
    fn as_slice(&self) -> &[DestId] {
        match self {
            Ids::One(id) => std::slice::from_ref(id),
            Ids::Many(ids) => ids,
        }
    }
}

/// All destinations of a tariff plan: names and the prefix index.
#[derive(Debug, Default, Clone)]
pub struct Destinations {
    names: Vec<Arc<str>>,
    by_name: FxHashMap<Arc<str>, DestId>,
    prefixes: FxHashMap<Arc<str>, Ids>,
    longest: usize,
}

impl Destinations {
    /// Adds `prefix` to destination `name`, creating the destination if new.
    pub fn add(&mut self, name: &str, prefix: &str) -> DestId {
        let id = self.intern(name);
        self.longest = self.longest.max(prefix.len());
        match self.prefixes.get_mut(prefix) {
            None => {
                self.prefixes.insert(prefix.into(), Ids::One(id));
            }
            Some(ids) => {
                if !ids.as_slice().contains(&id) {
                    let mut v = ids.as_slice().to_vec();
                    v.push(id);
                    *ids = Ids::Many(v.into_boxed_slice());
                }
            }
        }
        id
    }

    fn intern(&mut self, name: &str) -> DestId {
        if let Some(id) = self.by_name.get(name) {
            return *id;
        }
        let id = self.names.len() as DestId;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.by_name.insert(name, id);
        id
    }

    /// The id of a destination by name.
    pub fn id(&self, name: &str) -> Option<DestId> {
        self.by_name.get(name).copied()
    }

    /// The name of a destination id.
    pub fn name(&self, id: DestId) -> &Arc<str> {
        &self.names[id as usize]
    }

    /// Number of destinations.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there is no destination at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Number of distinct prefixes.
    pub fn prefix_count(&self) -> usize {
        self.prefixes.len()
    }

    /// Prefixes of `number` that are known, longest first, with their destinations.
    pub fn matches<'a, 'b>(
        &'a self,
        number: &'b str,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a [DestId])> + use<'a, 'b> {
        let max = number.len().min(self.longest);
        (1..=max).rev().filter_map(move |len| {
            let prefix = number.get(..len)?;
            self.prefixes
                .get_key_value(prefix)
                .map(|(key, ids)| (key, ids.as_slice()))
        })
    }

    /// Every prefix of destination `id` (a scan: for the API, not for rating).
    pub fn prefixes_of(&self, id: DestId) -> Vec<String> {
        let mut out: Vec<String> = self
            .prefixes
            .iter()
            .filter(|(_, ids)| ids.as_slice().contains(&id))
            .map(|(p, _)| p.to_string())
            .collect();
        out.sort();
        out
    }

    /// All destination names.
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_first() {
        let mut d = Destinations::default();
        let nat = d.add("NAT", "0256");
        let ro = d.add("RO", "02");
        d.add("NAT", "0257");
        let got: Vec<_> = d.matches("025612345").collect();
        assert_eq!((&**got[0].0, got[0].1), ("0256", &[nat][..]));
        assert_eq!((&**got[1].0, got[1].1), ("02", &[ro][..]));
        assert_eq!(got.len(), 2);
        assert_eq!(d.matches("999").count(), 0);
        assert_eq!(d.prefixes_of(nat), vec!["0256", "0257"]);
    }

    #[test]
    fn a_prefix_may_belong_to_several_destinations() {
        let mut d = Destinations::default();
        let a = d.add("A", "49");
        let b = d.add("B", "49");
        d.add("A", "49");
        let got: Vec<_> = d.matches("4930").collect();
        assert_eq!(got.len(), 1);
        assert_eq!((&**got[0].0, got[0].1), ("49", &[a, b][..]));
    }

    #[test]
    fn multibyte_numbers_do_not_panic() {
        let mut d = Destinations::default();
        d.add("X", "é1");
        assert_eq!(d.matches("é12").count(), 1);
        assert_eq!(d.matches("ééé").count(), 0);
    }
}
