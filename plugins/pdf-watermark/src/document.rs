//! A PDF opened for reading: objects resolved through the cross-reference
//! data (from the file or from object streams) and the page tree walked
//! with inherited attributes. Only the parts asked for are read.

use std::collections::BTreeSet;
use std::rc::Rc;

use crate::filters::decode;
use crate::lexer::{BlockCache, Lexer, Token, read_exact_at};
use crate::object::{Dict, Object, Ref};
use crate::xref::{Loc, Xref};
use crate::{PdfError, Source};

/// Largest inflated object stream.
pub const OBJECT_STREAM_BYTES_MAX: usize = 64 << 20;
/// Most pages stamped.
pub const PAGES_MAX: usize = 100_000;
/// Deepest page tree followed.
pub const PAGE_TREE_DEPTH_MAX: usize = 64;
/// Most hops `resolve` follows from a reference to a reference.
const REF_CHAIN_MAX: usize = 16;

/// An open PDF.
pub struct Document<'s, S: Source + ?Sized> {
    cache: BlockCache<'s, S>,
    /// Where objects live, and the newest trailer.
    pub xref: Xref,
    /// The object stream read last, decoded: (number, data, offsets, first).
    object_stream: Option<(u32, Rc<ObjectStream>)>,
}

/// A decoded object stream.
struct ObjectStream {
    data: Vec<u8>,
    /// Offset of each object, relative to `first`.
    offsets: Vec<u64>,
    first: u64,
}

/// A leaf of the page tree with what it inherits.
#[derive(Debug, Clone)]
pub struct PageRef {
    /// The page object.
    pub page: Ref,
    /// `/Resources`, `/MediaBox`, `/CropBox`, `/Rotate` of its ancestors.
    pub inherited: Rc<Inherited>,
}

/// Page attributes a page inherits from the nearest ancestor that sets them.
#[derive(Debug, Clone, Default)]
pub struct Inherited {
    /// `/Resources` (a dictionary or a reference).
    pub resources: Option<Object>,
    /// `/MediaBox`.
    pub media_box: Option<Object>,
    /// `/CropBox`.
    pub crop_box: Option<Object>,
    /// `/Rotate`.
    pub rotate: Option<Object>,
}

impl Inherited {
    /// These attributes overridden by what `node` sets itself.
    pub fn under(&self, node: &Dict) -> Self {
        let own =
            |key: &str, parent: &Option<Object>| node.get(key).cloned().or_else(|| parent.clone());
        Self {
            resources: own("Resources", &self.resources),
            media_box: own("MediaBox", &self.media_box),
            crop_box: own("CropBox", &self.crop_box),
            rotate: own("Rotate", &self.rotate),
        }
    }
}

impl<'s, S: Source + ?Sized> Document<'s, S> {
    /// Reads the cross-reference data of `source`.
    pub fn open(source: &'s S) -> Result<Self, PdfError> {
        let mut cache = BlockCache::new(source);
        let mut header = [0u8; 8];
        let n = source.read_at(0, &mut header)?;
        if !header[..n].starts_with(b"%PDF-") {
            return Err(PdfError::invalid(
                "the file does not start with %PDF-: not a PDF",
            ));
        }
        let xref = Xref::read(&mut cache)?;
        Ok(Self {
            cache,
            xref,
            object_stream: None,
        })
    }

    /// The newest trailer.
    pub fn trailer(&self) -> &Dict {
        &self.xref.trailer
    }

    /// The object `r` names; a missing or free object is `null`, as the
    /// spec says.
    pub fn get(&mut self, r: Ref) -> Result<Object, PdfError> {
        match self.xref.get(r.num) {
            None | Some(Loc::Free) => Ok(Object::Null),
            Some(Loc::Offset(offset)) => {
                let (_, object) = Lexer::new(&mut self.cache, offset).indirect_object(Some(r))?;
                Ok(object)
            }
            Some(Loc::InStream { stream, index }) => {
                let objects = self.object_stream(stream)?;
                let offset = objects.offsets.get(index as usize).ok_or_else(|| {
                    PdfError::invalid(format!("object stream {stream} has no object #{index}"))
                })?;
                let mut bytes = objects.data.as_slice();
                Lexer::new(&mut bytes, objects.first + offset).object()
            }
        }
    }

    /// `object`, or what it refers to.
    pub fn resolve(&mut self, object: &Object) -> Result<Object, PdfError> {
        let mut object = object.clone();
        for _ in 0..REF_CHAIN_MAX {
            match object {
                Object::Ref(r) => object = self.get(r)?,
                other => return Ok(other),
            }
        }
        Err(PdfError::invalid("a chain of references that does not end"))
    }

    /// `object` resolved to a dictionary (a stream's dictionary too), or
    /// `None` for null.
    pub fn resolve_dict(&mut self, object: &Object, what: &str) -> Result<Option<Dict>, PdfError> {
        match self.resolve(object)? {
            Object::Dict(d) | Object::Stream(d, _) => Ok(Some(d)),
            Object::Null => Ok(None),
            other => Err(PdfError::invalid(format!(
                "{what} is not a dictionary: {other:?}"
            ))),
        }
    }

    fn object_stream(&mut self, num: u32) -> Result<Rc<ObjectStream>, PdfError> {
        if let Some((n, objects)) = &self.object_stream
            && *n == num
        {
            return Ok(objects.clone());
        }
        let r = Ref { num, generation: 0 };
        let offset = match self.xref.get(num) {
            Some(Loc::Offset(offset)) => offset,
            _ => {
                return Err(PdfError::invalid(format!(
                    "object stream {num} is not in the file"
                )));
            }
        };
        let (_, object) = Lexer::new(&mut self.cache, offset).indirect_object(Some(r))?;
        let Object::Stream(dict, data_offset) = object else {
            return Err(PdfError::invalid(format!(
                "object {num} should be an object stream"
            )));
        };
        let data = self.stream_data(&dict, data_offset, OBJECT_STREAM_BYTES_MAX)?;
        let count = dict.int("N").and_then(|n| usize::try_from(n).ok());
        let first = dict.int("First").and_then(|f| u64::try_from(f).ok());
        let (Some(count), Some(first)) = (count, first) else {
            return Err(PdfError::invalid(format!(
                "object stream {num} lacks /N or /First"
            )));
        };
        let mut offsets = Vec::with_capacity(count.min(data.len()));
        let mut bytes = data.as_slice();
        let mut lexer = Lexer::new(&mut bytes, 0);
        for _ in 0..count {
            match (lexer.token()?, lexer.token()?) {
                (Some(Token::Int(_)), Some(Token::Int(offset))) if offset >= 0 => {
                    offsets.push(offset as u64)
                }
                _ => {
                    return Err(PdfError::invalid(format!(
                        "object stream {num} has a bad header"
                    )));
                }
            }
        }
        let objects = Rc::new(ObjectStream {
            data,
            offsets,
            first,
        });
        self.object_stream = Some((num, objects.clone()));
        Ok(objects)
    }

    /// A stream's decoded data, at most `limit` bytes.
    pub fn stream_data(
        &mut self,
        dict: &Dict,
        data_offset: u64,
        limit: usize,
    ) -> Result<Vec<u8>, PdfError> {
        let length = match dict.get("Length") {
            Some(length) => self.resolve(length)?,
            None => Object::Null,
        };
        let length = match length {
            Object::Int(l) if l >= 0 => l as usize,
            _ => return Err(PdfError::invalid("a stream without a usable /Length")),
        };
        if length > limit {
            return Err(PdfError::limit(format!("a {length}-byte stream")));
        }
        let raw = read_exact_at(self.cache.source(), data_offset, length)?;
        decode(dict, raw, limit)
    }

    /// The document catalog's `/Pages` leaves in order, with inherited
    /// attributes. Cycles and over-deep trees are refused.
    pub fn pages(&mut self) -> Result<Vec<PageRef>, PdfError> {
        let root = self
            .trailer()
            .get("Root")
            .cloned()
            .ok_or_else(|| PdfError::invalid("the trailer has no /Root"))?;
        let catalog = self
            .resolve_dict(&root, "/Root")?
            .ok_or_else(|| PdfError::invalid("the catalog (/Root) is missing"))?;
        let Some(Object::Ref(pages_root)) = catalog.get("Pages").cloned() else {
            return Err(PdfError::invalid("the catalog has no /Pages reference"));
        };
        let mut pages = Vec::new();
        let mut visited = BTreeSet::new();
        // Depth-first, children pushed in reverse so pages come out in order.
        let mut stack = vec![(pages_root, Rc::new(Inherited::default()), 0usize)];
        while let Some((node_ref, inherited, depth)) = stack.pop() {
            if !visited.insert(node_ref) {
                return Err(PdfError::invalid(format!(
                    "the page tree loops at object {}",
                    node_ref.num
                )));
            }
            if depth > PAGE_TREE_DEPTH_MAX {
                return Err(PdfError::limit(format!(
                    "a page tree deeper than {PAGE_TREE_DEPTH_MAX}"
                )));
            }
            let Some(node) = self.resolve_dict(&Object::Ref(node_ref), "a page tree node")? else {
                continue; // A dangling kid: readers skip it.
            };
            let is_tree_node = node.name("Type") == Some(b"Pages")
                || (node.name("Type") != Some(b"Page") && node.contains("Kids"));
            if is_tree_node {
                let inherited = Rc::new(inherited.under(&node));
                let kids = match node.get("Kids") {
                    Some(kids) => self.resolve(kids)?,
                    None => Object::Array(Vec::new()),
                };
                let Object::Array(kids) = kids else {
                    return Err(PdfError::invalid(format!(
                        "/Kids of object {} is not an array",
                        node_ref.num
                    )));
                };
                for kid in kids.iter().rev() {
                    match kid {
                        Object::Ref(r) => stack.push((*r, inherited.clone(), depth + 1)),
                        _ => return Err(PdfError::invalid("a page tree kid is not a reference")),
                    }
                }
            } else {
                if pages.len() == PAGES_MAX {
                    return Err(PdfError::limit(format!("more than {PAGES_MAX} pages")));
                }
                pages.push(PageRef {
                    page: node_ref,
                    inherited,
                });
            }
        }
        Ok(pages)
    }
}
