//! Reading PDF syntax: byte access through a small block cache over ranged
//! reads (so a large file is never held whole), and a parser for objects.

use std::io;

use crate::object::{Dict, Object, Ref, is_delimiter, is_whitespace};
use crate::{PdfError, Source};

/// Nesting depth of arrays and dictionaries a parser follows.
pub const NESTING_MAX: usize = 64;
/// Bytes a single token (string, name, number) may span.
pub const TOKEN_BYTES_MAX: usize = 1 << 20;
/// Starting capacity of a name's or a bare word's buffer: most fit.
const WORD_CAPACITY: usize = 16;

/// Random access to bytes: the file through a block cache, or an
/// inflated object stream in memory.
pub trait Bytes {
    /// The byte at `pos`, or `None` past the end.
    fn at(&mut self, pos: u64) -> Result<Option<u8>, PdfError>;
}

impl Bytes for &[u8] {
    fn at(&mut self, pos: u64) -> Result<Option<u8>, PdfError> {
        Ok(usize::try_from(pos).ok().and_then(|p| self.get(p).copied()))
    }
}

/// Bytes per cached block.
const BLOCK_BYTES: u64 = 4 * 1024;
/// Blocks kept (256 KiB).
const BLOCKS_MAX: usize = 64;

/// A [`Source`] read in blocks, the last [`BLOCKS_MAX`] kept.
pub struct BlockCache<'s, S: Source + ?Sized> {
    source: &'s S,
    len: u64,
    /// (block index, bytes, last use); the most recent use is the largest.
    blocks: Vec<(u64, Vec<u8>, u64)>,
    clock: u64,
    /// Slot of the block used last: most reads stay in it.
    last: usize,
}

impl<'s, S: Source + ?Sized> BlockCache<'s, S> {
    /// An empty cache over `source`.
    pub fn new(source: &'s S) -> Self {
        Self {
            source,
            len: source.len(),
            blocks: Vec::new(),
            clock: 0,
            last: 0,
        }
    }

    /// The source's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the source is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The source itself, for reads that bypass the cache.
    pub fn source(&self) -> &'s S {
        self.source
    }

    fn block(&mut self, index: u64) -> Result<&[u8], PdfError> {
        if self
            .blocks
            .get(self.last)
            .is_some_and(|(b, _, _)| *b == index)
        {
            return Ok(&self.blocks[self.last].1);
        }
        self.clock += 1;
        let clock = self.clock;
        // The fast path above does not tick the clock: credit the block it
        // served now, so it is not the first evicted.
        if let Some(hot) = self.blocks.get_mut(self.last) {
            hot.2 = clock;
        }
        if let Some(i) = self.blocks.iter().position(|(b, _, _)| *b == index) {
            self.blocks[i].2 = clock;
            self.last = i;
            return Ok(&self.blocks[i].1);
        }
        let start = index * BLOCK_BYTES;
        let len = BLOCK_BYTES.min(self.len.saturating_sub(start)) as usize;
        let bytes = read_exact_at(self.source, start, len)?;
        self.clock += 1;
        let clock = self.clock;
        if self.blocks.len() == BLOCKS_MAX {
            let oldest = (0..self.blocks.len())
                .min_by_key(|&i| self.blocks[i].2)
                .expect("the cache is full");
            self.blocks.swap_remove(oldest);
        }
        self.blocks.push((index, bytes, clock));
        self.last = self.blocks.len() - 1;
        Ok(&self.blocks[self.last].1)
    }
}

impl<S: Source + ?Sized> Bytes for BlockCache<'_, S> {
    #[inline]
    fn at(&mut self, pos: u64) -> Result<Option<u8>, PdfError> {
        if pos >= self.len {
            return Ok(None);
        }
        let index = pos / BLOCK_BYTES;
        let offset = (pos % BLOCK_BYTES) as usize;
        // Most bytes come from the block used last: no bookkeeping for them.
        if let Some((b, bytes, _)) = self.blocks.get(self.last)
            && *b == index
        {
            return Ok(bytes.get(offset).copied());
        }
        Ok(self.block(index)?.get(offset).copied())
    }
}

/// Reads exactly `len` bytes at `offset`.
pub fn read_exact_at<S: Source + ?Sized>(
    source: &S,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, PdfError> {
    // Most reads are served whole by the first chunk, which is kept as is.
    let mut buf = source.read_chunk(offset, len)?;
    if buf.len() < len {
        buf.reserve_exact(len - buf.len());
    }
    while buf.len() < len {
        let more = source.read_chunk(offset + buf.len() as u64, len - buf.len())?;
        if more.is_empty() {
            return Err(PdfError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file ends before byte {}", offset + len as u64),
            )));
        }
        buf.extend_from_slice(&more);
    }
    buf.truncate(len);
    Ok(buf)
}

/// A token of PDF syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// An integer.
    Int(i64),
    /// A real, as written.
    Real(String),
    /// A string's bytes.
    String(Vec<u8>),
    /// A name without `/`.
    Name(Vec<u8>),
    /// `[`
    ArrayStart,
    /// `]`
    ArrayEnd,
    /// `<<`
    DictStart,
    /// `>>`
    DictEnd,
    /// A bare word: `obj`, `R`, `true`, `stream`, `xref`...
    Keyword(Vec<u8>),
}

/// A cursor over [`Bytes`] that reads tokens and objects.
pub struct Lexer<'b, B: Bytes + ?Sized> {
    bytes: &'b mut B,
    /// The next byte to read.
    pub pos: u64,
}

impl<'b, B: Bytes + ?Sized> Lexer<'b, B> {
    /// A lexer at `pos`.
    pub fn new(bytes: &'b mut B, pos: u64) -> Self {
        Self { bytes, pos }
    }

    fn peek(&mut self) -> Result<Option<u8>, PdfError> {
        self.bytes.at(self.pos)
    }

    fn bump(&mut self) -> Result<Option<u8>, PdfError> {
        let b = self.bytes.at(self.pos)?;
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    /// Skips white space and comments.
    pub fn skip_whitespace(&mut self) -> Result<(), PdfError> {
        while let Some(b) = self.peek()? {
            if is_whitespace(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(b) = self.bump()? {
                    if b == b'\n' || b == b'\r' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        Ok(())
    }

    /// The next token, or `None` at the end of the bytes.
    pub fn token(&mut self) -> Result<Option<Token>, PdfError> {
        self.skip_whitespace()?;
        let start = self.pos;
        let Some(b) = self.bump()? else {
            return Ok(None);
        };
        let token = match b {
            b'[' => Token::ArrayStart,
            b']' => Token::ArrayEnd,
            b'<' if self.peek()? == Some(b'<') => {
                self.pos += 1;
                Token::DictStart
            }
            b'>' if self.peek()? == Some(b'>') => {
                self.pos += 1;
                Token::DictEnd
            }
            b'<' => Token::String(self.hex_string()?),
            b'(' => Token::String(self.literal_string()?),
            b'/' => Token::Name(self.name()?),
            b'{' | b'}' | b')' | b'>' => {
                return Err(PdfError::invalid(format!(
                    "unexpected {:?} at byte {start}",
                    char::from(b)
                )));
            }
            _ => {
                // Room for any number or keyword a page holds, without regrowing.
                let mut word = Vec::with_capacity(WORD_CAPACITY);
                word.push(b);
                while let Some(b) = self.peek()? {
                    if is_whitespace(b) || is_delimiter(b) {
                        break;
                    }
                    word.push(b);
                    self.pos += 1;
                    if word.len() > TOKEN_BYTES_MAX {
                        return Err(PdfError::invalid(format!("a huge token at byte {start}")));
                    }
                }
                number(&word).unwrap_or(Token::Keyword(word))
            }
        };
        Ok(Some(token))
    }

    fn name(&mut self) -> Result<Vec<u8>, PdfError> {
        let mut name = Vec::with_capacity(WORD_CAPACITY);
        while let Some(b) = self.peek()? {
            if is_whitespace(b) || is_delimiter(b) {
                break;
            }
            self.pos += 1;
            if b == b'#' {
                let hi = self.bump()?.and_then(hex_value);
                let lo = self.bump()?.and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => name.push(hi << 4 | lo),
                    _ => {
                        return Err(PdfError::invalid(format!(
                            "bad #xx in a name at {}",
                            self.pos
                        )));
                    }
                }
            } else {
                name.push(b);
            }
            if name.len() > TOKEN_BYTES_MAX {
                return Err(PdfError::invalid("a huge name"));
            }
        }
        Ok(name)
    }

    fn hex_string(&mut self) -> Result<Vec<u8>, PdfError> {
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let Some(b) = self.bump()? else {
                return Err(PdfError::invalid(
                    "a hex string runs to the end of the file",
                ));
            };
            if b == b'>' {
                break;
            }
            if is_whitespace(b) {
                continue;
            }
            let v = hex_value(b).ok_or_else(|| {
                PdfError::invalid(format!("bad hex digit at byte {}", self.pos - 1))
            })?;
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
            if out.len() > TOKEN_BYTES_MAX {
                return Err(PdfError::invalid("a huge string"));
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        Ok(out)
    }

    fn literal_string(&mut self) -> Result<Vec<u8>, PdfError> {
        let mut out = Vec::new();
        let mut depth = 1;
        loop {
            let Some(b) = self.bump()? else {
                return Err(PdfError::invalid("a string runs to the end of the file"));
            };
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    out.push(b);
                }
                b'\\' => {
                    let Some(e) = self.bump()? else { continue };
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek()? == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek()? {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(v as u8);
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(b),
            }
            if out.len() > TOKEN_BYTES_MAX {
                return Err(PdfError::invalid("a huge string"));
            }
        }
        Ok(out)
    }

    /// The next object (references `n g R` folded in); `None` at the end.
    pub fn object(&mut self) -> Result<Object, PdfError> {
        let start = self.pos;
        let token = self
            .token()?
            .ok_or_else(|| PdfError::invalid(format!("expected an object at byte {start}")))?;
        self.object_from(token, 0)
    }

    fn object_from(&mut self, token: Token, depth: usize) -> Result<Object, PdfError> {
        if depth > NESTING_MAX {
            return Err(PdfError::invalid("objects nested too deep"));
        }
        Ok(match token {
            Token::Int(i) => {
                // `num gen R`? Look ahead, and step back if not.
                let save = self.pos;
                if let (Ok(num), Some(Token::Int(generation))) = (u32::try_from(i), self.token()?)
                    && let (Ok(generation), Some(Token::Keyword(k))) =
                        (u16::try_from(generation), self.token()?)
                    && k == b"R"
                {
                    return Ok(Object::Ref(Ref { num, generation }));
                }
                self.pos = save;
                Object::Int(i)
            }
            Token::Real(r) => Object::Real(r),
            Token::String(s) => Object::String(s),
            Token::Name(n) => Object::Name(n),
            Token::ArrayStart => {
                let mut items = Vec::new();
                loop {
                    match self.token()? {
                        Some(Token::ArrayEnd) => break,
                        Some(t) => items.push(self.object_from(t, depth + 1)?),
                        None => return Err(PdfError::invalid("an array runs to the end")),
                    }
                }
                Object::Array(items)
            }
            Token::DictStart => Object::Dict(self.dict_body(depth)?),
            Token::Keyword(k) => match k.as_slice() {
                b"null" => Object::Null,
                b"true" => Object::Bool(true),
                b"false" => Object::Bool(false),
                _ => {
                    return Err(PdfError::invalid(format!(
                        "unexpected {:?} before byte {}",
                        String::from_utf8_lossy(&k),
                        self.pos
                    )));
                }
            },
            Token::ArrayEnd | Token::DictEnd => {
                return Err(PdfError::invalid(format!(
                    "unbalanced ] or >> before byte {}",
                    self.pos
                )));
            }
        })
    }

    /// A dictionary's entries after `<<`, through `>>`.
    pub fn dict_body(&mut self, depth: usize) -> Result<Dict, PdfError> {
        let mut dict = Dict::default();
        loop {
            match self.token()? {
                Some(Token::DictEnd) => return Ok(dict),
                Some(Token::Name(key)) => {
                    let token = self
                        .token()?
                        .ok_or_else(|| PdfError::invalid("a dictionary runs to the end"))?;
                    if token == Token::DictEnd {
                        // A key without a value: readers take it as null.
                        return Ok(dict);
                    }
                    let value = self.object_from(token, depth + 1)?;
                    if value != Object::Null {
                        dict.0.push((key, value));
                    }
                }
                Some(other) => {
                    return Err(PdfError::invalid(format!(
                        "a dictionary key is {other:?} before byte {}",
                        self.pos
                    )));
                }
                None => return Err(PdfError::invalid("a dictionary runs to the end")),
            }
        }
    }

    /// An indirect object `num gen obj ... ` at the cursor. A stream's data
    /// offset is recorded, not read.
    pub fn indirect_object(&mut self, expected: Option<Ref>) -> Result<(Ref, Object), PdfError> {
        let at = self.pos;
        let header = (self.token()?, self.token()?, self.token()?);
        let r = match header {
            (Some(Token::Int(n)), Some(Token::Int(g)), Some(Token::Keyword(k))) if k == b"obj" => {
                Ref {
                    num: u32::try_from(n)
                        .map_err(|_| PdfError::invalid("a negative object number"))?,
                    generation: u16::try_from(g)
                        .map_err(|_| PdfError::invalid("a bad generation"))?,
                }
            }
            _ => {
                return Err(PdfError::invalid(format!(
                    "no object header (`n g obj`) at byte {at}"
                )));
            }
        };
        if let Some(e) = expected
            && e.num != r.num
        {
            return Err(PdfError::invalid(format!(
                "byte {at} holds object {} where the cross-reference table says {}",
                r.num, e.num
            )));
        }
        let object = self.object()?;
        let save = self.pos;
        if let (Object::Dict(dict), Some(Token::Keyword(k))) = (&object, self.token()?)
            && k == b"stream"
        {
            // The data starts after the EOL that ends the keyword.
            match self.peek()? {
                Some(b'\r') => {
                    self.pos += 1;
                    if self.peek()? == Some(b'\n') {
                        self.pos += 1;
                    }
                }
                Some(b'\n') => self.pos += 1,
                _ => {}
            }
            return Ok((r, Object::Stream(dict.clone(), self.pos)));
        }
        self.pos = save;
        Ok((r, object))
    }

    /// Expects the keyword `word` next.
    pub fn expect_keyword(&mut self, word: &[u8]) -> Result<(), PdfError> {
        match self.token()? {
            Some(Token::Keyword(k)) if k == word => Ok(()),
            other => Err(PdfError::invalid(format!(
                "expected {:?} before byte {}, found {other:?}",
                String::from_utf8_lossy(word),
                self.pos
            ))),
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn number(word: &[u8]) -> Option<Token> {
    let text = std::str::from_utf8(word).ok()?;
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    match digits.bytes().filter(|&b| b == b'.').count() {
        0 => text
            .trim_start_matches('+')
            .parse()
            .ok()
            .map(Token::Int)
            // An integer too large for i64 is still a number.
            .or_else(|| Some(Token::Real(text.into()))),
        1 if digits.len() > 1 => Some(Token::Real(text.into())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Object {
        let mut bytes = text.as_bytes();
        Lexer::new(&mut bytes, 0).object().unwrap()
    }

    fn written(o: &Object) -> String {
        let mut out = Vec::new();
        o.write_to(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn check(text: &str, expected: &str) {
        assert_eq!(written(&parse(text)), expected, "{text}");
    }

    #[test]
    fn objects_round_trip() {
        check(
            "<< /Type /Page /Parent 3 0 R /Kids [1 0 R 2 0 R] >>",
            "<</Type /Page/Parent 3 0 R/Kids [1 0 R 2 0 R]>>",
        );
        check("[1 2 3 R 4 5 6]", "[1 2 3 R 4 5 6]");
        check("[1 2]", "[1 2]");
        check("[-1 +2 .5 -.25 3.]", "[-1 2 .5 -.25 3.]");
        check(
            "(a\\(b\\)c (nested) \\101\\n\\\r\nd)",
            "(a\\(b\\)c \\(nested\\) A\\nd)",
        );
        check("<48 65 6c6C 6>", "(Hell`)");
        check("/A#20B", "/A#20B");
        check("<</A null /B true /C false>>", "<</B true/C false>>");
        check("% comment\n<</A%c\n1>>", "<</A 1>>");
        check("<</Empty<<>>/Arr[]>>", "<</Empty <<>>/Arr []>>");
    }

    #[test]
    fn indirect_objects_and_streams() {
        let text =
            "12 0 obj\n<< /Length 5 >>\nstream\r\nhello\nendstream\nendobj\n13 0 obj 42 endobj";
        let mut bytes = text.as_bytes();
        let mut lexer = Lexer::new(&mut bytes, 0);
        let (r, o) = lexer.indirect_object(None).unwrap();
        assert_eq!(
            r,
            Ref {
                num: 12,
                generation: 0
            }
        );
        let Object::Stream(dict, data) = o else {
            panic!("{o:?}")
        };
        assert_eq!(dict.int("Length"), Some(5));
        assert_eq!(&text[data as usize..data as usize + 5], "hello");
        let start = text.find("13 0").unwrap() as u64;
        let mut lexer = Lexer::new(&mut bytes, start);
        assert_eq!(lexer.indirect_object(None).unwrap().1, Object::Int(42));
        let mut lexer = Lexer::new(&mut bytes, start);
        let err = lexer
            .indirect_object(Some(Ref {
                num: 14,
                generation: 0,
            }))
            .unwrap_err();
        assert!(err.to_string().contains("says 14"), "{err}");
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for text in [
            "<< /A",
            "[1 2",
            "(abc",
            "<4G>",
            "<< 1 2 >>",
            ")",
            "/A#G1",
            "12 0 obj",
        ] {
            let mut bytes = text.as_bytes();
            let mut lexer = Lexer::new(&mut bytes, 0);
            let result = if text.contains("obj") {
                lexer.indirect_object(None).map(|_| ())
            } else {
                lexer.object().map(|_| ())
            };
            assert!(result.is_err(), "{text} parsed");
        }
        let deep = "[".repeat(1000);
        let mut bytes = deep.as_bytes();
        assert!(Lexer::new(&mut bytes, 0).object().is_err());
    }
}
