//! The cross-reference data: where each object lives. Reads classic tables
//! and cross-reference streams (PDF 1.5+), hybrid files (`/XRefStm`) and
//! the `/Prev` chain of earlier updates, newest entry winning.

use std::collections::BTreeSet;

use crate::filters::decode;
use crate::lexer::{BlockCache, Bytes, Lexer, Token, read_exact_at};
use crate::object::{Dict, Object};
use crate::{PdfError, Source};

/// Most objects a document may have (`/Size`); bounds the table's memory
/// (16 bytes per object).
pub const OBJECTS_MAX: usize = 4_000_000;
/// Most cross-reference sections followed through `/Prev`.
pub const SECTIONS_MAX: usize = 4096;
/// Largest inflated cross-reference stream.
pub const XREF_STREAM_BYTES_MAX: usize = 128 << 20;
/// Bytes searched from the end of the file for `startxref`.
const TAIL_BYTES: u64 = 4096;

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// Deleted.
    Free,
    /// At this byte offset in the file.
    Offset(u64),
    /// The `index`-th object of object stream `stream`.
    InStream {
        /// The object stream's object number.
        stream: u32,
        /// Position within it.
        index: u32,
    },
}

/// The merged cross-reference table and the newest trailer.
#[derive(Debug)]
pub struct Xref {
    entries: Vec<Option<Loc>>,
    /// The newest trailer (for a cross-reference stream, its dictionary).
    pub trailer: Dict,
    /// The offset `startxref` names: the next update's `/Prev`.
    pub startxref: u64,
    /// Whether the newest section is a cross-reference stream.
    pub is_stream: bool,
}

impl Xref {
    /// Where object `num` lives; `None` if no section lists it.
    pub fn get(&self, num: u32) -> Option<Loc> {
        self.entries.get(num as usize).copied().flatten()
    }

    /// One past the highest object number in use or listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no object is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records `loc` for `num` unless a newer section already did.
    fn offer(&mut self, num: u64, loc: Loc) -> Result<(), PdfError> {
        let num = usize::try_from(num).unwrap_or(usize::MAX);
        if num >= OBJECTS_MAX {
            return Err(PdfError::limit(format!(
                "object number {num}: at most {OBJECTS_MAX} objects are read"
            )));
        }
        if num >= self.entries.len() {
            self.entries.resize(num + 1, None);
        }
        self.entries[num].get_or_insert(loc);
        Ok(())
    }

    /// Reads the whole chain, starting from the file's last `startxref`.
    pub fn read<S: Source + ?Sized>(cache: &mut BlockCache<'_, S>) -> Result<Self, PdfError> {
        let startxref = find_startxref(cache)?;
        let mut xref = Self {
            entries: Vec::new(),
            trailer: Dict::default(),
            startxref,
            is_stream: false,
        };
        let mut seen = BTreeSet::new();
        let mut next = Some(startxref);
        let mut newest = true;
        while let Some(offset) = next {
            if !seen.insert(offset) {
                break; // A /Prev loop: what was read is all there is.
            }
            if seen.len() > SECTIONS_MAX {
                return Err(PdfError::limit(format!("more than {SECTIONS_MAX} updates")));
            }
            let (trailer, is_stream) = xref.read_section(cache, offset)?;
            next = match trailer.get("Prev") {
                Some(Object::Int(p)) => {
                    Some(u64::try_from(*p).map_err(|_| PdfError::invalid("a negative /Prev"))?)
                }
                _ => None,
            };
            if newest {
                xref.trailer = trailer;
                xref.is_stream = is_stream;
                newest = false;
            }
        }
        Ok(xref)
    }

    /// Reads one section at `offset`; returns its trailer.
    fn read_section<S: Source + ?Sized>(
        &mut self,
        cache: &mut BlockCache<'_, S>,
        offset: u64,
    ) -> Result<(Dict, bool), PdfError> {
        let mut lexer = Lexer::new(cache, offset);
        match lexer.token()? {
            Some(Token::Keyword(k)) if k == b"xref" => {
                let (trailer, frees) = self.read_table(&mut lexer)?;
                // Hybrid file: the stream lists the objects the table shows
                // as free for old readers.
                if let Some(Object::Int(stm)) = trailer.get("XRefStm") {
                    let stm = u64::try_from(*stm)
                        .map_err(|_| PdfError::invalid("a negative /XRefStm"))?;
                    self.read_stream(cache, stm)?;
                }
                for num in frees {
                    self.offer(num, Loc::Free)?;
                }
                Ok((trailer, false))
            }
            Some(Token::Int(_)) => Ok((self.read_stream(cache, offset)?, true)),
            _ => Err(PdfError::invalid(format!(
                "no cross-reference table or stream at byte {offset} (startxref or /Prev is wrong; \
                 re-saving the PDF, e.g. with `qpdf in.pdf out.pdf`, repairs it)"
            ))),
        }
    }

    /// A classic table after `xref`, through its trailer. Free entries are
    /// returned, to be applied after a hybrid file's stream.
    fn read_table<B: Bytes + ?Sized>(
        &mut self,
        lexer: &mut Lexer<'_, B>,
    ) -> Result<(Dict, Vec<u64>), PdfError> {
        let mut frees = Vec::new();
        loop {
            let start = match lexer.token()? {
                Some(Token::Int(start)) => start,
                Some(Token::Keyword(k)) if k == b"trailer" => break,
                other => {
                    return Err(PdfError::invalid(format!(
                        "bad cross-reference table: {other:?}"
                    )));
                }
            };
            let count = match lexer.token()? {
                Some(Token::Int(count)) => count,
                other => {
                    return Err(PdfError::invalid(format!(
                        "bad cross-reference subsection: {other:?}"
                    )));
                }
            };
            let (Ok(start), Ok(count)) = (u64::try_from(start), u64::try_from(count)) else {
                return Err(PdfError::invalid("a negative cross-reference subsection"));
            };
            if start + count > OBJECTS_MAX as u64 {
                return Err(PdfError::limit(format!(
                    "at most {OBJECTS_MAX} objects are read"
                )));
            }
            for num in start..start + count {
                let entry = (lexer.token()?, lexer.token()?, lexer.token()?);
                match entry {
                    (Some(Token::Int(offset)), Some(Token::Int(_)), Some(Token::Keyword(k)))
                        if k == b"n" =>
                    {
                        let offset = u64::try_from(offset)
                            .map_err(|_| PdfError::invalid("a negative offset"))?;
                        self.offer(num, Loc::Offset(offset))?;
                    }
                    (Some(Token::Int(_)), Some(Token::Int(_)), Some(Token::Keyword(k)))
                        if k == b"f" =>
                    {
                        frees.push(num);
                    }
                    other => {
                        return Err(PdfError::invalid(format!(
                            "bad cross-reference entry for object {num}: {other:?}"
                        )));
                    }
                }
            }
        }
        match lexer.object()? {
            Object::Dict(trailer) => Ok((trailer, frees)),
            _ => Err(PdfError::invalid("the trailer is not a dictionary")),
        }
    }

    /// A cross-reference stream object at `offset`; returns its dictionary.
    fn read_stream<S: Source + ?Sized>(
        &mut self,
        cache: &mut BlockCache<'_, S>,
        offset: u64,
    ) -> Result<Dict, PdfError> {
        let (_, object) = Lexer::new(cache, offset).indirect_object(None)?;
        let Object::Stream(dict, data_offset) = object else {
            return Err(PdfError::invalid(format!(
                "byte {offset} holds no cross-reference stream"
            )));
        };
        if dict.name("Type") != Some(b"XRef") {
            return Err(PdfError::invalid(format!(
                "the stream at byte {offset} is not /Type /XRef"
            )));
        }
        let length = dict
            .int("Length")
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| {
                PdfError::invalid("a cross-reference stream without a direct /Length")
            })?;
        if length > XREF_STREAM_BYTES_MAX {
            return Err(PdfError::limit(format!(
                "a {length}-byte cross-reference stream"
            )));
        }
        let raw = read_exact_at(cache.source(), data_offset, length)?;
        let data = decode(&dict, raw, XREF_STREAM_BYTES_MAX)?;
        let widths: Vec<usize> = match dict.get("W") {
            Some(Object::Array(w)) if w.len() == 3 => w
                .iter()
                .map(|o| match o {
                    Object::Int(i) if (0..=8).contains(i) => Ok(*i as usize),
                    _ => Err(PdfError::invalid("a bad /W entry")),
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(PdfError::invalid(
                    "a cross-reference stream without /W [a b c]",
                ));
            }
        };
        let size = dict
            .int("Size")
            .ok_or_else(|| PdfError::invalid("a cross-reference stream without /Size"))?;
        let index: Vec<i64> = match dict.get("Index") {
            Some(Object::Array(items)) => items
                .iter()
                .map(|o| match o {
                    Object::Int(i) if *i >= 0 => Ok(*i),
                    _ => Err(PdfError::invalid("a bad /Index entry")),
                })
                .collect::<Result<_, _>>()?,
            _ => vec![0, size],
        };
        let entry_len: usize = widths.iter().sum();
        if entry_len == 0 || !index.len().is_multiple_of(2) {
            return Err(PdfError::invalid(
                "bad /W or /Index in a cross-reference stream",
            ));
        }
        let mut entries = data.chunks_exact(entry_len);
        for pair in index.chunks(2) {
            let (start, count) = (pair[0] as u64, pair[1] as u64);
            if start + count > OBJECTS_MAX as u64 {
                return Err(PdfError::limit(format!(
                    "at most {OBJECTS_MAX} objects are read"
                )));
            }
            for num in start..start + count {
                let Some(entry) = entries.next() else {
                    return Err(PdfError::invalid(
                        "a cross-reference stream is shorter than its /Index",
                    ));
                };
                let (f1, rest) = entry.split_at(widths[0]);
                let (f2, f3) = rest.split_at(widths[1]);
                let kind = if widths[0] == 0 { 1 } else { be(f1) };
                match kind {
                    0 => self.offer(num, Loc::Free)?,
                    1 => self.offer(num, Loc::Offset(be(f2)))?,
                    2 => self.offer(
                        num,
                        Loc::InStream {
                            stream: u32::try_from(be(f2))
                                .map_err(|_| PdfError::invalid("a bad object stream number"))?,
                            index: u32::try_from(be(f3))
                                .map_err(|_| PdfError::invalid("a bad object stream index"))?,
                        },
                    )?,
                    // Unknown types are to be read as null references.
                    _ => {}
                }
            }
        }
        Ok(dict)
    }
}

/// A big-endian number of up to 8 bytes.
fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |v, &b| v << 8 | u64::from(b))
}

/// The offset after the last `startxref` in the file's tail.
fn find_startxref<S: Source + ?Sized>(cache: &mut BlockCache<'_, S>) -> Result<u64, PdfError> {
    let len = cache.len();
    let start = len.saturating_sub(TAIL_BYTES);
    let tail = read_exact_at(cache.source(), start, (len - start) as usize)?;
    let at = tail
        .windows(9)
        .rposition(|w| w == b"startxref")
        .ok_or_else(|| PdfError::invalid("no `startxref` at the end: not a PDF, or truncated"))?;
    let mut bytes = &tail[at + 9..];
    match Lexer::new(&mut bytes, 0).token()? {
        Some(Token::Int(offset)) if offset >= 0 && (offset as u64) < len => Ok(offset as u64),
        other => Err(PdfError::invalid(format!(
            "`startxref` is followed by {other:?}, not an offset"
        ))),
    }
}
