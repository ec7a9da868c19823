//! PDF objects as parsed from the file, and their serialization when new or
//! updated objects are appended.

use std::fmt::Write as _;

/// A PDF object. Reals keep their source text so a copied dictionary is
/// byte-for-byte what it was.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number, as written (`0.5`, `-.25`).
    Real(String),
    /// A string's bytes (literal or hex in the file).
    String(Vec<u8>),
    /// A name, without the `/`, `#xx` escapes decoded.
    Name(Vec<u8>),
    /// An array.
    Array(Vec<Object>),
    /// A dictionary.
    Dict(Dict),
    /// An indirect reference `num gen R`.
    Ref(Ref),
    /// A stream: its dictionary and where its data starts in the file (or
    /// in the object stream that held it).
    Stream(Dict, u64),
}

/// An indirect reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ref {
    /// Object number.
    pub num: u32,
    /// Generation number.
    pub generation: u16,
}

/// A dictionary; keeps the file's key order (dictionaries are small, so
/// lookups are linear).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dict(pub Vec<(Vec<u8>, Object)>);

impl Dict {
    /// The value under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Object> {
        self.0
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// Sets `key`, replacing an existing value in place.
    pub fn set(&mut self, key: &str, value: Object) {
        match self.0.iter_mut().find(|(k, _)| k == key.as_bytes()) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.as_bytes().to_vec(), value)),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key.as_bytes());
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// An integer value.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Object::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// A name value.
    pub fn name(&self, key: &str) -> Option<&[u8]> {
        match self.get(key) {
            Some(Object::Name(n)) => Some(n),
            _ => None,
        }
    }

    /// A reference value.
    pub fn reference(&self, key: &str) -> Option<Ref> {
        match self.get(key) {
            Some(Object::Ref(r)) => Some(*r),
            _ => None,
        }
    }
}

impl Object {
    /// A name object.
    pub fn name(name: &str) -> Self {
        Self::Name(name.as_bytes().to_vec())
    }

    /// The number as `f64`, for integers and reals.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Real(r) => r.parse().ok().or_else(|| {
                // Tolerate what readers tolerate: `1.` `-.5` `+3`.
                let r = r.trim_start_matches('+');
                let r = r.strip_suffix('.').unwrap_or(r);
                r.parse().ok()
            }),
            _ => None,
        }
    }

    /// Appends the object's PDF syntax to `out`. Streams cannot be written
    /// this way (their data lives elsewhere); they become `null`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null | Self::Stream(..) => out.extend_from_slice(b"null"),
            Self::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Self::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Self::Real(r) => out.extend_from_slice(r.as_bytes()),
            Self::String(s) => write_string(s, out),
            Self::Name(n) => write_name(n, out),
            Self::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    item.write_to(out);
                }
                out.push(b']');
            }
            Self::Dict(dict) => dict.write_to(out),
            Self::Ref(r) => {
                out.extend_from_slice(format!("{} {} R", r.num, r.generation).as_bytes())
            }
        }
    }
}

impl Dict {
    /// Appends `<< /Key value ... >>` to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<<");
        for (key, value) in &self.0 {
            write_name(key, out);
            out.push(b' ');
            value.write_to(out);
        }
        out.extend_from_slice(b">>");
    }
}

/// `/Name`, escaping what must be escaped as `#xx`.
fn write_name(name: &[u8], out: &mut Vec<u8>) {
    out.push(b'/');
    for &b in name {
        if b.is_ascii_graphic() && !is_delimiter(b) && b != b'#' {
            out.push(b);
        } else {
            let mut hex = String::new();
            let _ = write!(hex, "#{b:02X}");
            out.extend_from_slice(hex.as_bytes());
        }
    }
}

/// A literal string `( ... )` with `\`, parentheses and non-printables
/// escaped.
fn write_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'(');
    for &b in s {
        match b {
            b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x20..=0x7E => out.push(b),
            _ => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
        }
    }
    out.push(b')');
}

/// PDF delimiter characters.
pub fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

/// PDF white-space characters.
pub fn is_whitespace(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

/// A real number written compactly with at most 4 decimals (`12.5`, `0`,
/// `-3.1416`).
pub fn real(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "" | "-0" => "0".into(),
        s => s.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(o: &Object) -> String {
        let mut out = Vec::new();
        o.write_to(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn objects_serialize_as_pdf_syntax() {
        let mut d = Dict::default();
        d.set("Type", Object::name("Page"));
        d.set(
            "Kids",
            Object::Array(vec![
                Object::Ref(Ref {
                    num: 3,
                    generation: 0,
                }),
                Object::Int(-2),
            ]),
        );
        d.set("T", Object::String(b"a(b)\\c\n\xff".to_vec()));
        d.set("N", Object::name("A B#"));
        d.set("R", Object::Real("-.5".into()));
        d.set("Type", Object::name("Pages"));
        assert_eq!(
            written(&Object::Dict(d)),
            r"<</Type /Pages/Kids [3 0 R -2]/T (a\(b\)\\c\n\377)/N /A#20B#23/R -.5>>"
        );
    }

    #[test]
    fn reals_are_compact() {
        assert_eq!(real(12.5), "12.5");
        assert_eq!(real(0.0), "0");
        assert_eq!(real(-0.00001), "0");
        assert_eq!(real(-1.23456), "-1.2346");
        assert_eq!(real(612.0), "612");
        assert_eq!(Object::Real("1.".into()).as_f64(), Some(1.0));
        assert_eq!(Object::Real("-.5".into()).as_f64(), Some(-0.5));
    }
}
