//! An operation's output: its fields as JSON values, but for a listing's result lists, kept as
//! the JSON text they were written as (`xml_text`) until the output is printed or merged with
//! the next page's. Everything else reads them back as values ([`Output::into_map`]).

use serde_json::{Map, Value};

use crate::xml_text::RawList;

/// The fields of an output, in order; a list kept as text has `null` in its place in `map`.
#[derive(Debug, Clone, Default)]
pub struct Output {
    map: Map<String, Value>,
    lists: Vec<(String, RawList)>,
}

/// A result list taken out of an output to be added to another's.
pub(crate) enum Items {
    Text(RawList),
    Values(Vec<Value>),
}

impl From<Map<String, Value>> for Output {
    fn from(map: Map<String, Value>) -> Self {
        Output {
            map,
            lists: Vec::new(),
        }
    }
}

impl Output {
    /// An output of `map`'s fields, its lists named in `lists` kept as text.
    pub fn with_lists(map: Map<String, Value>, lists: Vec<(String, RawList)>) -> Self {
        Output { map, lists }
    }

    /// The fields as values, lists included.
    pub fn into_map(mut self) -> Map<String, Value> {
        for (name, raw) in self.lists.drain(..) {
            if let Some(place) = self.map.get_mut(&name) {
                *place = Value::Array(raw.to_values());
            }
        }
        self.map
    }

    /// The output as one JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.clone().into_map())
    }

    fn text_list(&self, name: &str) -> Option<&RawList> {
        self.lists.iter().find(|(n, _)| n == name).map(|(_, l)| l)
    }

    /// A field that is not a list kept as text.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        if self.text_list(name).is_some() {
            return None;
        }
        self.map.get(name)
    }

    /// Sets a field (in place when present, as `Map::insert`).
    pub(crate) fn insert(&mut self, name: String, value: Value) {
        self.lists.retain(|(n, _)| *n != name);
        self.map.insert(name, value);
    }

    /// Removes a field (the last one taking its place, as `Map::remove`).
    pub(crate) fn remove(&mut self, name: &str) {
        self.lists.retain(|(n, _)| n != name);
        self.map.remove(name);
    }

    /// Adds `other`'s fields, replacing those of the same name.
    pub(crate) fn extend(&mut self, other: Output) {
        for (name, value) in other.map {
            self.insert(name, value);
        }
        self.lists.extend(other.lists);
    }

    /// The items of a list field.
    pub(crate) fn count(&self, list: &str) -> u64 {
        match self.text_list(list) {
            Some(raw) => raw.count as u64,
            None => self
                .map
                .get(list)
                .and_then(Value::as_array)
                .map_or(0, |a| a.len() as u64),
        }
    }

    /// The last item of a list field.
    pub(crate) fn last_item(&self, list: &str) -> Option<Value> {
        match self.text_list(list) {
            Some(raw) => raw.last_item(),
            None => self.map.get(list)?.as_array()?.last().cloned(),
        }
    }

    /// A list field's items, taken out (the field stays, empty).
    pub(crate) fn take_list(&mut self, list: &str) -> Items {
        if let Some((_, raw)) = self.lists.iter_mut().find(|(n, _)| n == list) {
            return Items::Text(std::mem::take(raw));
        }
        match self.map.get_mut(list) {
            Some(Value::Array(a)) => Items::Values(std::mem::take(a)),
            _ => Items::Values(Vec::new()),
        }
    }

    /// `items` added to a list field; nothing when the field is not a list.
    pub(crate) fn append_list(&mut self, list: &str, items: Items) {
        let pos = self.lists.iter().position(|(n, _)| n == list);
        match (pos, items) {
            (Some(i), Items::Text(raw)) => self.lists[i].1.append(&raw),
            (Some(i), Items::Values(values)) => {
                let (name, raw) = self.lists.remove(i);
                let mut all = raw.to_values();
                all.extend(values);
                self.map.insert(name, Value::Array(all));
            }
            (None, items) => {
                if let Some(Value::Array(a)) = self.map.get_mut(list) {
                    match items {
                        Items::Text(raw) => a.extend(raw.to_values()),
                        Items::Values(values) => a.extend(values),
                    }
                }
            }
        }
    }

    /// URL-decoded as `quirks::decode_listing` decodes a listing (the lists kept as text were
    /// decoded as they were written).
    pub fn decode_listing(&mut self) {
        crate::quirks::decode_listing(&mut self.map);
    }

    /// The output as JSON text, what `serde_json` prints for [`Self::to_value`], written to
    /// `out` (stdout for `run`: a listing's text is not copied into one line first).
    pub fn write_json(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(b"{")?;
        for (i, (name, value)) in self.map.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, name)?;
            out.write_all(b":")?;
            match self.text_list(name) {
                Some(raw) => raw.write(out)?,
                None => serde_json::to_writer(&mut *out, value)?,
            }
        }
        out.write_all(b"}")
    }
}
