//! Listing replies written as JSON text straight from the XML: no `Value` per listed item, and
//! a hand scanner for the plain XML that S3 and its compatibles send (elements, text, the five
//! named entities and character references, namespace declarations on the root). Pure.
//!
//! A 1,000-key `ListBucketResult` is 40,000 elements; building a `serde_json::Value` for each
//! of its items costs about as much as quick-xml takes to read them, and the output is printed
//! as text anyway (docs/benchmarks.md). Here each item is written once as JSON text, and the
//! result lists stay text ([`RawList`]) until printed: paging concatenates them, and only the
//! last item of a page is parsed back (for a token taken from it, `paginate.rs`).
//!
//! Anything outside that plain subset (a comment, CDATA, a DOCTYPE, an attribute below the root,
//! an element inside a scalar's, a malformed or unbalanced tag, not UTF-8) makes [`write_reply`]
//! answer `None`, and the caller maps the reply through [`crate::xml_stream::map_reply`], which
//! gives the same output or the reply's error. So the result is always what `map_reply` and the
//! URL-decoding of `quirks::decode_listing` give, printed: tests here and `tests/fuzz.rs` check
//! that on real, awkward and random documents.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value};

use crate::xml::MAX_DEPTH;
use crate::xml_stream::{local, Fields, Kind, Plan, Slot};

/// A result list kept as JSON text: its items, comma-separated, without the brackets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawList {
    pub(crate) text: String,
    pub(crate) count: usize,
    /// Where the last item lies in `text`.
    pub(crate) last: Range<usize>,
}

impl RawList {
    /// The items as values.
    pub(crate) fn to_values(&self) -> Vec<Value> {
        let text = format!("[{}]", self.text);
        match serde_json::from_str(&text) {
            Ok(Value::Array(items)) => items,
            _ => unreachable!("a raw list is written as JSON"),
        }
    }

    /// The last item as a value.
    pub(crate) fn last_item(&self) -> Option<Value> {
        (self.count > 0).then(|| {
            serde_json::from_str(&self.text[self.last.clone()]).expect("an item is written as JSON")
        })
    }

    /// `other`'s items after these.
    pub(crate) fn append(&mut self, other: &RawList) {
        if other.count == 0 {
            return;
        }
        let at = if self.count == 0 {
            0
        } else {
            self.text.push(',');
            self.text.len()
        };
        self.text.push_str(&other.text);
        self.count += other.count;
        self.last = at + other.last.start..at + other.last.end;
    }

    /// `[items]`, as printed.
    pub(crate) fn write(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(b"[")?;
        out.write_all(self.text.as_bytes())?;
        out.write_all(b"]")
    }
}

/// A reply mapped by [`write_reply`].
#[derive(Debug)]
pub struct Written<'d> {
    /// The root element's local name.
    pub root: &'d str,
    /// The root's fields in output order; a list kept as text has `null` in its place.
    pub fields: Map<String, Value>,
    /// The lists kept as text, by property.
    pub lists: Vec<(String, RawList)>,
}

/// The reply mapped by `plan`, its root lists named in `text_lists` kept as text, and the items
/// of a URL-encoded listing decoded when `decode` (`quirks::URL_ENCODED_ITEMS`, when the reply's
/// `EncodingType` is `url`); `None` when the document is not plain enough for the scanner.
pub fn write_reply<'d>(
    plan: &Plan,
    bytes: &'d [u8],
    text_lists: &[String],
    decode: bool,
) -> Option<Written<'d>> {
    let doc = std::str::from_utf8(bytes).ok()?;
    let mut scan = Scan::new(plan, doc, text_lists, decode, false);
    let root = scan.run()?;
    if scan.undecided && scan.url == Some(true) {
        // `EncodingType` came after items it applies to: again, decoding them from the start.
        scan = Scan::new(plan, doc, text_lists, decode, true);
        scan.run()?;
    }
    let (fields, lists) = scan.root_fields(&plan.root)?;
    Some(Written {
        root,
        fields,
        lists,
    })
}

/// The root's single fields as values, and its lists kept as text by name.
type RootFields = (Map<String, Value>, Vec<(String, RawList)>);

#[derive(Clone, Copy)]
enum Open<'p, 'd> {
    /// An object being filled (as `xml_stream`'s), with its element's full name, and where
    /// its fields' text starts in [`Scan::buf`].
    Obj {
        plan: &'p Fields,
        base: usize,
        field: usize,
        next: usize,
        name: &'d str,
        mark: usize,
    },
    /// A scalar's element and its text so far.
    Leaf {
        kind: &'p Kind,
        field: usize,
        text: Text<'d>,
        name: &'d str,
    },
    /// An element no field takes, or a repeat of a single one.
    Skip { name: &'d str },
}

/// A scalar's text so far: one piece of the document, or pieces joined in [`Scan::joined`]
/// (scalars do not nest, so one string serves them all).
#[derive(Clone, Copy)]
enum Text<'d> {
    Piece(&'d str),
    Joined,
}

struct Scan<'p, 'd> {
    plan: &'p Plan,
    doc: &'d str,
    pos: usize,
    /// The values of the open objects, as JSON text: an object closed is written after its
    /// fields' text, and then takes its place.
    buf: String,
    /// Per root field, its items when it is a list kept as text.
    texts: Vec<Option<RawList>>,
    /// The open scalar's text when it came in pieces (`&quot;` in an `ETag`).
    joined: String,
    /// A URL-decoded value before it is written.
    decoded: Vec<u8>,
    /// One value so far per field of each open object: ranges of JSON text in `buf`.
    slots: Vec<Slot<Range<usize>>>,
    stack: Vec<Open<'p, 'd>>,
    /// Per root field, the field of its items that a URL-encoded listing encodes.
    encoded: Vec<Option<usize>>,
    /// The root field `EncodingType`, and whether it said `url` once read.
    encoding_field: Option<usize>,
    url: Option<bool>,
    decode: bool,
    /// `EncodingType` is `url`, known from a first pass.
    assume_url: bool,
    /// An encoded field was written before `EncodingType` was read.
    undecided: bool,
}

impl<'p, 'd> Scan<'p, 'd> {
    fn new(
        plan: &'p Plan,
        doc: &'d str,
        text_lists: &[String],
        decode: bool,
        assume_url: bool,
    ) -> Self {
        let encoded = plan
            .root
            .0
            .iter()
            .map(|f| match &f.kind {
                Kind::Obj(items) if f.list => crate::quirks::url_encoded_item(&f.prop)
                    .and_then(|name| items.0.iter().position(|i| i.prop == name)),
                _ => None,
            })
            .collect();
        Scan {
            plan,
            doc,
            pos: 0,
            buf: String::with_capacity(4096),
            texts: plan
                .root
                .0
                .iter()
                .map(|f| (f.list && text_lists.contains(&f.prop)).then(RawList::default))
                .collect(),
            slots: Vec::with_capacity(32),
            stack: Vec::with_capacity(8),
            encoded,
            joined: String::new(),
            decoded: Vec::new(),
            encoding_field: plan.root.0.iter().position(|f| f.prop == "EncodingType"),
            url: None,
            decode,
            assume_url,
            undecided: false,
        }
    }

    fn bytes(&self) -> &'d [u8] {
        self.doc.as_bytes()
    }

    /// Reads the document up to its root's end; the root's local name.
    fn run(&mut self) -> Option<&'d str> {
        self.prolog()?;
        let (name, empty) = self.start_tag(true)?;
        let local = local(name);
        let frame = self.object(&self.plan.root, 0, name);
        self.stack.push(frame);
        if empty {
            return Some(local);
        }
        loop {
            self.text()?;
            let b = self.bytes();
            match b.get(self.pos + 1)? {
                b'/' => {
                    let frame = self.end_tag()?;
                    if self.stack.is_empty() {
                        // The root's slots stay for `root_fields`.
                        self.stack.push(frame);
                        return Some(local);
                    }
                    self.close(frame);
                }
                b'!' | b'?' => return None,
                _ => {
                    let (name, empty) = self.start_tag(false)?;
                    if !empty && self.stack.len() >= MAX_DEPTH {
                        return None;
                    }
                    let frame = self.open(name)?;
                    if empty {
                        self.close(frame);
                    } else {
                        self.stack.push(frame);
                    }
                }
            }
        }
    }

    /// Past an XML declaration at the start and whitespace, to the root's `<`.
    fn prolog(&mut self) -> Option<()> {
        let b = self.bytes();
        if b.starts_with(b"<?xml ") {
            self.pos = memchr::memmem::find(b, b"?>")? + 2;
        }
        while b.get(self.pos)?.is_ascii_whitespace() {
            self.pos += 1;
        }
        (b[self.pos] == b'<' && !matches!(b.get(self.pos + 1), Some(b'!' | b'?'))).then_some(())
    }

    /// The text up to the next `<`, into the open scalar; entities resolved (a bad one fails
    /// the scan, and so the reply, in `map_reply`).
    fn text(&mut self) -> Option<()> {
        let b = self.bytes();
        while *b.get(self.pos)? != b'<' {
            let at = self.pos;
            let stop = at + memchr::memchr2(b'<', b'&', &b[at..])?;
            if stop > at {
                self.push_text(Cow::Borrowed(&self.doc[at..stop]));
            }
            self.pos = stop;
            if b[stop] == b'&' {
                // `&name;`, short: a longer one is left to quick-xml.
                let semi = b[stop..].iter().take(16).position(|c| *c == b';')? + stop;
                let r = quick_xml::events::BytesRef::new(&self.doc[stop + 1..semi]);
                let resolved = crate::xml::resolve_entity(&r).ok()?;
                self.push_text(resolved);
                self.pos = semi + 1;
            }
        }
        Some(())
    }

    fn push_text(&mut self, piece: Cow<'d, str>) {
        let Some(Open::Leaf { text, .. }) = self.stack.last_mut() else {
            return;
        };
        match (*text, piece) {
            (Text::Piece(""), Cow::Borrowed(p)) => *text = Text::Piece(p),
            (Text::Piece(so_far), p) => {
                self.joined.clear();
                self.joined.push_str(so_far);
                self.joined.push_str(&p);
                *text = Text::Joined;
            }
            (Text::Joined, p) => self.joined.push_str(&p),
        }
    }

    /// A start tag at `pos`: the element's full name, and whether it is empty (`<a/>`). Only
    /// the root may have attributes, namespace declarations only.
    fn start_tag(&mut self, root: bool) -> Option<(&'d str, bool)> {
        let b = self.bytes();
        let start = self.pos + 1;
        let mut i = name_end(b, start)?;
        let name = &self.doc[start..i];
        loop {
            match *b.get(i)? {
                b'>' => {
                    self.pos = i + 1;
                    return Some((name, false));
                }
                b'/' if b.get(i + 1) == Some(&b'>') => {
                    self.pos = i + 2;
                    return Some((name, true));
                }
                c if c.is_ascii_whitespace() && root => {
                    while b.get(i)?.is_ascii_whitespace() {
                        i += 1;
                    }
                    if matches!(b[i], b'>' | b'/') {
                        continue;
                    }
                    i = namespace_attribute(self.doc, i)?;
                    if !matches!(b.get(i)?, b'>' | b'/') && !b[i].is_ascii_whitespace() {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }

    /// An end tag at `pos`, which must close the innermost open element: that element's frame.
    fn end_tag(&mut self) -> Option<Open<'p, 'd>> {
        let b = self.bytes();
        let start = self.pos + 2;
        let frame = self.stack.pop()?;
        let name = match &frame {
            Open::Obj { name, .. } | Open::Leaf { name, .. } | Open::Skip { name } => *name,
        };
        let end = start + name.len();
        (b.get(start..end)? == name.as_bytes() && b.get(end) == Some(&b'>')).then_some(())?;
        self.pos = end + 1;
        Some(frame)
    }

    /// The frame of an object of `plan`, its slots opened.
    fn object(&mut self, plan: &'p Fields, field: usize, name: &'d str) -> Open<'p, 'd> {
        let base = self.slots.len();
        Slot::open_all(plan, &mut self.slots);
        Open::Obj {
            plan,
            base,
            field,
            next: 0,
            name,
            mark: self.buf.len(),
        }
    }

    /// The frame of a child element `name` of the innermost open one (as
    /// `xml_stream::Mapper::open`); `None` for an element inside a scalar's.
    fn open(&mut self, name: &'d str) -> Option<Open<'p, 'd>> {
        let local = local(name);
        let (plan, base, i) = match self.stack.last_mut()? {
            Open::Obj {
                plan, base, next, ..
            } => {
                let plan: &'p Fields = plan;
                let i = match plan.0.get(*next) {
                    Some(f) if f.element == local => *next,
                    _ => match plan.0.iter().position(|f| f.element == local) {
                        Some(i) => i,
                        None => return Some(Open::Skip { name }),
                    },
                };
                *next = i + 1;
                (plan, *base, i)
            }
            Open::Leaf { .. } => return None,
            Open::Skip { .. } => return Some(Open::Skip { name }),
        };
        if let Slot::One(Some(_)) = self.slots[base + i] {
            return Some(Open::Skip { name });
        }
        Some(match &plan.0[i].kind {
            Kind::Obj(fields) => self.object(fields, i, name),
            kind => Open::Leaf {
                kind,
                field: i,
                text: Text::Piece(""),
                name,
            },
        })
    }

    /// Writes a closed child `frame` and gives it to its parent, the innermost open object.
    fn close(&mut self, frame: Open<'p, 'd>) {
        let start = self.buf.len();
        // Where the value's text may start once written: an object's fields' text is dropped.
        let (field, mark) = match frame {
            Open::Skip { .. } => return,
            Open::Leaf {
                kind, field, text, ..
            } => {
                let joined = std::mem::take(&mut self.joined);
                let text = match text {
                    Text::Piece(p) => p,
                    Text::Joined => &joined,
                };
                let decoded = self.decodes(field, text).then_some(&mut self.decoded);
                write_scalar(&mut self.buf, kind, text, decoded);
                self.joined = joined;
                (field, start)
            }
            Open::Obj {
                plan,
                base,
                field,
                mark,
                ..
            } => {
                write_object(&mut self.buf, plan, &self.slots[base..]);
                self.slots.truncate(base);
                (field, mark)
            }
        };
        if self.stack.len() == 1 {
            if let Some(raw) = &mut self.texts[field] {
                // An item of a list kept as text: added to it, and gone from here.
                if raw.count > 0 {
                    raw.text.push(',');
                } else {
                    // Room for the rest of the document (JSON is shorter than its XML).
                    raw.text
                        .reserve(self.doc.len() - self.pos + self.buf.len() - start);
                }
                let at = raw.text.len();
                raw.text.push_str(&self.buf[start..]);
                raw.last = at..raw.text.len();
                raw.count += 1;
                self.buf.truncate(mark);
                return;
            }
        }
        self.buf.drain(mark..start);
        let start = mark;
        let range = start..self.buf.len();
        let Some(Open::Obj { base, .. }) = self.stack.last() else {
            unreachable!("fields are opened inside objects only")
        };
        self.slots[base + field].put(range);
    }

    /// Whether a scalar of `field` in the innermost open object is URL-decoded; notes
    /// `EncodingType` when it is the root's.
    fn decodes(&mut self, field: usize, text: &str) -> bool {
        match self.stack.len() {
            1 if Some(field) == self.encoding_field => {
                self.url = Some(text == "url");
                false
            }
            2 if self.decode => {
                let Some(Open::Obj { field: list, .. }) = self.stack.last() else {
                    return false;
                };
                if self.encoded[*list] != Some(field) {
                    return false;
                }
                if self.assume_url {
                    return true;
                }
                if let Some(url) = self.url {
                    url
                } else {
                    self.undecided = true;
                    false
                }
            }
            _ => false,
        }
    }

    /// The root's fields once it closed: single ones as values, `text_lists` as text.
    fn root_fields(self, plan: &Fields) -> Option<RootFields> {
        let mut fields = Map::with_capacity(plan.0.len());
        let mut lists = Vec::new();
        let parse = |r: &Range<usize>| serde_json::from_str::<Value>(&self.buf[r.clone()]).ok();
        let texts = self.texts.into_iter();
        for ((f, slot), text) in plan.0.iter().zip(&self.slots).zip(texts) {
            if let Some(raw) = text {
                fields.insert(f.prop.clone(), Value::Null);
                lists.push((f.prop.clone(), raw));
                continue;
            }
            match slot {
                Slot::One(None) => {}
                Slot::One(Some(r)) => {
                    fields.insert(f.prop.clone(), parse(r)?);
                }
                Slot::List(items) => {
                    let values = items.iter().map(parse).collect::<Option<Vec<_>>>()?;
                    fields.insert(f.prop.clone(), Value::Array(values));
                }
            }
        }
        Some((fields, lists))
    }
}

/// An object's present fields in schema order, lists always: `{"a":...,"b":[...]}`.
fn write_object(buf: &mut String, plan: &Fields, slots: &[Slot<Range<usize>>]) {
    buf.push('{');
    let mut first = true;
    for (f, slot) in plan.0.iter().zip(slots) {
        if let Slot::One(None) = slot {
            continue;
        }
        if !first {
            buf.push(',');
        }
        first = false;
        buf.push_str(&f.member);
        match slot {
            Slot::One(Some(r)) => buf.extend_from_within(r.clone()),
            Slot::List(items) => {
                buf.push('[');
                for (i, r) in items.iter().enumerate() {
                    if i > 0 {
                        buf.push(',');
                    }
                    buf.extend_from_within(r.clone());
                }
                buf.push(']');
            }
            Slot::One(None) => {}
        }
    }
    buf.push('}');
}

/// A scalar by its kind, as `xml_stream::scalar` maps it, printed; a string URL-decoded (as
/// `endpoint::decode_url`, through `decoded`) when given a buffer for it.
fn write_scalar(buf: &mut String, kind: &Kind, text: &str, decoded: Option<&mut Vec<u8>>) {
    let string = |buf: &mut String, s: &str| {
        if let Some(d) = decoded {
            if crate::endpoint::decode_url_into(s, d) {
                match std::str::from_utf8(d) {
                    Ok(s) => push_json_str(buf, s),
                    Err(_) => push_json_str(buf, &String::from_utf8_lossy(d)),
                }
                return;
            }
        }
        push_json_str(buf, s);
    };
    match kind {
        Kind::Int => match text.trim().parse::<i64>() {
            Ok(n) => buf.push_str(itoa::Buffer::new().format(n)),
            Err(_) => string(buf, text),
        },
        Kind::Bool => match text.trim() {
            t @ ("true" | "false") => buf.push_str(t),
            other => string(buf, other),
        },
        Kind::Str | Kind::Obj(_) => string(buf, text),
    }
}

/// Whether `s` has a byte JSON escapes (a control character, `"` or `\\`): eight bytes at a
/// time.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below `n` (`n` at most 0x80), or zero: exact, as bytes of 0x80 and more are not.
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w & HIGH != 0;
    let chunks = s.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        if below(w, 0x20) | below(w ^ (ONES * 0x22), 1) | below(w ^ (ONES * 0x5c), 1) {
            return true;
        }
    }
    tail.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

/// `s` as a JSON string, escaped as `serde_json` escapes it.
fn push_json_str(buf: &mut String, s: &str) {
    buf.push('"');
    if !needs_escape(s.as_bytes()) {
        buf.push_str(s);
        buf.push('"');
        return;
    }
    let mut from = 0;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        let short = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        buf.push_str(&s[from..i]);
        from = i + 1;
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            buf.push_str("\\u00");
            buf.push(char::from(HEX[usize::from(c >> 4)]));
            buf.push(char::from(HEX[usize::from(c & 0xf)]));
        } else {
            buf.push_str(short);
        }
    }
    buf.push_str(&s[from..]);
    buf.push('"');
}

/// Where a name starting at `start` ends: ASCII letters, digits, `_`, `-`, `.` and `:`, a
/// letter or `_` first.
fn name_end(b: &[u8], start: usize) -> Option<usize> {
    let first = *b.get(start)?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let len = b[start..]
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':')))?;
    Some(start + len)
}

/// A namespace declaration (`xmlns="..."` or `xmlns:p='...'`) at `at`: where it ends.
fn namespace_attribute(doc: &str, at: usize) -> Option<usize> {
    let b = doc.as_bytes();
    let end = name_end(b, at)?;
    let name = &doc[at..end];
    if name != "xmlns" && !name.starts_with("xmlns:") {
        return None;
    }
    let quote = *b.get(end + 1)?;
    if b[end] != b'=' || !matches!(quote, b'"' | b'\'') {
        return None;
    }
    let close = end + 2 + memchr::memchr(quote, &b[end + 2..])?;
    if b[end + 2..close].iter().any(|c| matches!(c, b'<' | b'&')) {
        return None;
    }
    Some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::output::Output;

    /// `doc` written as text and, for reference, streamed into values, both URL-decoded when
    /// `decode` and printed; `None` when the scanner leaves the document to the streamed mapping.
    fn both(op: &str, doc: &str, decode: bool) -> Option<(String, String)> {
        let op = Manifest::embedded().operation(op).unwrap();
        let (plan, spec) = (op.xml_plan().unwrap(), op.pagination.as_ref().unwrap());
        let w = write_reply(plan, doc.as_bytes(), &spec.results, decode)?;
        let (root, mut map) = crate::xml_stream::map_reply(plan, doc.as_bytes()).unwrap();
        assert_eq!(root, w.root);
        let mut text = Output::with_lists(w.fields, w.lists);
        if decode {
            crate::quirks::decode_listing(&mut map);
            text.decode_listing();
        }
        let mut got = Vec::new();
        text.write_json(&mut got).unwrap();
        let got = String::from_utf8(got).unwrap();
        assert_eq!(text.to_value(), Value::Object(map.clone()));
        Some((got, Value::Object(map).to_string()))
    }

    const ITEM: &str = "<Contents><Key>a%2Fb+c%22%5C%01</Key><LastModified>2026-11-01T00:00:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size> 12 </Size><Owner><ID>o</ID><DisplayName/></Owner><StorageClass>STANDARD</StorageClass></Contents>";

    #[test]
    fn plain_listings_are_written_as_the_values_print() {
        let head = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p%2F</Prefix><MaxKeys>2</MaxKeys>"#;
        let docs = [
            // S3's order, SeaweedFS's (`EncodingType` last), none, and another encoding.
            format!("{head}<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>{ITEM}{ITEM}<CommonPrefixes><Prefix>q%2F</Prefix></CommonPrefixes></ListBucketResult>"),
            format!("{head}<IsTruncated>false</IsTruncated>{ITEM}<CommonPrefixes><Prefix>q%2F</Prefix></CommonPrefixes>\n  <EncodingType>url</EncodingType></ListBucketResult>"),
            format!("{head}<IsTruncated>false</IsTruncated>{ITEM}</ListBucketResult>"),
            format!("{head}<EncodingType>other</EncodingType>{ITEM}</ListBucketResult>"),
            format!("{head}</ListBucketResult>"),
            "<ListBucketResult/>".to_string(),
            // Unknown elements skipped, a single field's repeat ignored, text around elements.
            format!("<ListBucketResult><Name>first</Name><Name>second</Name> x <Unknown><Key>no</Key></Unknown>{ITEM}<IsTruncated> maybe </IsTruncated><Contents/><Contents><Key>&#x263A;&lt;&amp;&gt;&apos;\t\r</Key><Size>-3</Size><Size>4</Size></Contents></ListBucketResult>"),
            format!("<s3:ListBucketResult xmlns:s3='urn:x'><s3:Contents><s3:Key>ns</s3:Key></s3:Contents>{ITEM}</s3:ListBucketResult>"),
        ];
        for doc in &docs {
            for decode in [false, true] {
                let (got, want) =
                    both("list_objects", doc, decode).unwrap_or_else(|| panic!("not taken: {doc}"));
                assert_eq!(got, want, "{doc}");
            }
        }
        // The decoding is there (not both sides skipping it).
        let (got, _) = both("list_objects", &docs[1], true).unwrap();
        assert!(got.contains(r#""Key":"a/b c\"\\\u0001""#), "{got}");
        assert!(!got.contains("EncodingType"), "{got}");
        let (got, _) = both("list_objects", &docs[1], false).unwrap();
        assert!(got.contains(r#""Key":"a%2Fb+c%22%5C%01""#), "{got}");
    }

    #[test]
    fn other_listings_are_written_too() {
        let versions = r"<ListVersionsResult><Name>b</Name><IsTruncated>true</IsTruncated><NextKeyMarker>k%2B</NextKeyMarker><EncodingType>url</EncodingType><Version><Key>k%2B</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest><Size>4</Size><Owner><ID>o</ID></Owner></Version><DeleteMarker><Key>d%20</Key><IsLatest>no</IsLatest></DeleteMarker></ListVersionsResult>";
        let parts = r#"<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId><Initiator><ID>i</ID></Initiator><Owner><ID>o</ID></Owner><NextPartNumberMarker>2</NextPartNumberMarker><IsTruncated>true</IsTruncated><Part><PartNumber>1</PartNumber><ETag>"a"</ETag><Size>5242880</Size></Part><Part><PartNumber>2</PartNumber><Size>x</Size></Part></ListPartsResult>"#;
        for (op, doc) in [
            ("list_object_versions", versions),
            ("list_parts_for_multipart_upload", parts),
        ] {
            for decode in [false, true] {
                let (got, want) = both(op, doc, decode).expect(op);
                assert_eq!(got, want, "{op}");
            }
        }
    }

    #[test]
    fn anything_unusual_is_left_to_the_streamed_mapping() {
        for doc in [
            "<ListBucketResult><Contents><Key><![CDATA[<c>]]></Key></Contents></ListBucketResult>",
            "<ListBucketResult><!-- c --></ListBucketResult>",
            "<!DOCTYPE x><ListBucketResult/>",
            "<ListBucketResult><Contents a='1'/></ListBucketResult>",
            "<ListBucketResult other='1'/>",
            "<ListBucketResult><Name>a<b/>c</Name></ListBucketResult>",
            "<ListBucketResult><Name>unclosed</ListBucketResult>",
            "<ListBucketResult><Name>open",
            "<ListBucketResult>&bogus;</ListBucketResult>",
            "<ListBucketResult>& </ListBucketResult>",
            "\u{feff}<ListBucketResult/>",
            " <?xml version='1.0'?><ListBucketResult/>",
            "<ListBucketResult><Name >x</Name ></ListBucketResult>",
            "<ListBucketResult><1a/></ListBucketResult>",
        ] {
            let op = Manifest::embedded().operation("list_objects").unwrap();
            let plan = op.xml_plan().unwrap();
            assert!(
                write_reply(plan, doc.as_bytes(), &["Contents".into()], true).is_none(),
                "{doc}"
            );
        }
        let plan = Manifest::embedded()
            .operation("list_objects")
            .unwrap()
            .xml_plan()
            .unwrap();
        assert!(write_reply(plan, b"<r><Name>\xff</Name></r>", &[], false).is_none());
        let deep = format!(
            "<r>{}{}</r>",
            "<a>".repeat(MAX_DEPTH),
            "</a>".repeat(MAX_DEPTH)
        );
        assert!(write_reply(plan, deep.as_bytes(), &[], false).is_none());
    }

    #[test]
    fn raw_lists_append_and_give_their_last_item() {
        let mut a = RawList::default();
        assert_eq!(a.last_item(), None);
        a.append(&RawList {
            text: r#"{"Key":"a"},{"Key":"b"}"#.into(),
            count: 2,
            last: 12..23,
        });
        a.append(&RawList::default());
        assert_eq!(a.last_item(), Some(serde_json::json!({"Key": "b"})));
        a.append(&RawList {
            text: r#"{"Key":"c"}"#.into(),
            count: 1,
            last: 0..11,
        });
        assert_eq!(a.count, 3);
        assert_eq!(a.last_item(), Some(serde_json::json!({"Key": "c"})));
        assert_eq!(a.to_values().len(), 3);
    }
}
