//! The stamp as a PDF incremental update: the original bytes copied through
//! unchanged, then new objects appended — a font, an opacity ExtGState, one
//! content stream per distinct page geometry, each page object updated to
//! draw it, a new Info dictionary with the fingerprint — and a new
//! cross-reference section (table or stream, as the original's newest one)
//! whose `/Prev` points at the original's.

use std::collections::BTreeMap;
use std::io::Write;

use crate::config::{Config, FONT_SIZE_MIN, Position};
use crate::document::{Document, PageRef};
use crate::helvetica;
use crate::object::{Dict, Object, Ref, real};
use crate::{PdfError, Source};

/// Bytes copied per read from the original.
const COPY_CHUNK_BYTES: usize = 64 * 1024;
/// Letter size, for a page without a usable `/MediaBox`.
const DEFAULT_BOX: [f64; 4] = [0.0, 0.0, 612.0, 792.0];
/// Helvetica's cap height and descent, in em: to place the baseline.
const CAP_HEIGHT_EM: f64 = 0.718;
/// Name prefix of the resources the stamp adds.
const RESOURCE_PREFIX: &str = "WaybillStamp";

/// What to stamp.
#[derive(Debug, Clone)]
pub struct Stamp<'a> {
    /// The text, placeholders filled in.
    pub text: &'a str,
    /// Position, size, opacity, colour, margin.
    pub config: &'a Config,
    /// Written to the Info dictionary as `/WaybillFingerprint`.
    pub fingerprint: &'a str,
    /// The trailer's `/ID` second part (the first is kept).
    pub document_id: [u8; 16],
    /// `/ModDate` for the Info dictionary, `D:YYYYMMDDHHmmSSZ`.
    pub mod_date: Option<&'a str>,
}

/// What a stamp did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Pages stamped.
    pub pages: usize,
    /// Bytes written in all.
    pub bytes: u64,
    /// The original's size (the output's unchanged prefix).
    pub original_bytes: u64,
    /// Distinct stamp content streams (one per page geometry).
    pub stamp_streams: usize,
}

/// Stamps every page of the PDF in `source`, writing the stamped file to
/// `out` as an incremental update. Reads only the objects it needs (in
/// ranged reads) and copies the rest through in chunks.
pub fn stamp<S: Source + ?Sized, W: Write>(
    source: &S,
    out: W,
    stamp: &Stamp<'_>,
) -> Result<Report, PdfError> {
    stamp.config.validate().map_err(PdfError::Invalid)?;
    let rgb = stamp.config.rgb().map_err(PdfError::Invalid)?;
    let mut doc = Document::open(source)?;
    if doc.trailer().contains("Encrypt") {
        return Err(PdfError::unsupported(
            "the PDF is encrypted; upload it without a password or permissions",
        ));
    }
    let root = match doc.trailer().get("Root") {
        Some(Object::Ref(r)) => *r,
        _ => return Err(PdfError::invalid("the trailer has no /Root reference")),
    };
    let pages = doc.pages()?;
    if pages.is_empty() {
        return Err(PdfError::invalid("the PDF has no pages"));
    }
    let original_size = doc.trailer().int("Size").unwrap_or(0).max(0) as u64;
    let next = original_size.max(doc.xref.len() as u64);
    let mut update = Update {
        out: Counter {
            inner: out,
            count: 0,
        },
        next: u32::try_from(next).map_err(|_| PdfError::limit("too many objects"))?,
        entries: Vec::new(),
    };

    let original_bytes = copy_original(source, &mut update.out)?;

    let font = update.alloc();
    update.write_object(
        font,
        &dict_bytes(&[
            ("Type", Object::name("Font")),
            ("Subtype", Object::name("Type1")),
            ("BaseFont", Object::name("Helvetica")),
            ("Encoding", Object::name("WinAnsiEncoding")),
        ]),
    )?;
    let opacity = Object::Real(real(stamp.config.opacity));
    let gs = update.alloc();
    update.write_object(
        gs,
        &dict_bytes(&[
            ("Type", Object::name("ExtGState")),
            ("ca", opacity.clone()),
            ("CA", opacity),
        ]),
    )?;
    // Saves the graphics state before the page's own content, so the stamp
    // starts from the default state whatever the page leaves behind.
    let save = update.alloc();
    update.write_stream(save, Dict::default(), b"q\n")?;

    let text = helvetica::encode(stamp.text);
    let text_width = helvetica::width(&text);
    let mut streams: BTreeMap<Vec<u8>, Ref> = BTreeMap::new();
    let mut stamp_of_geometry: BTreeMap<GeometryKey, Ref> = BTreeMap::new();
    for page in &pages {
        let page_dict = match doc.get(page.page)? {
            Object::Dict(d) => d,
            other => {
                return Err(PdfError::invalid(format!(
                    "page object {} is not a dictionary: {other:?}",
                    page.page.num
                )));
            }
        };
        let attrs = page.inherited.under(&page_dict);
        let (bbox, rotate) = geometry(&mut doc, page, &page_dict)?;
        let mut resources = match &attrs.resources {
            Some(r) => doc.resolve_dict(r, "/Resources")?.unwrap_or_default(),
            None => Dict::default(),
        };
        let font_name = add_resource(&mut doc, &mut resources, "Font", font)?;
        let gs_name = add_resource(&mut doc, &mut resources, "ExtGState", gs)?;
        // Pages of one geometry share a stamp: its content (16 numbers
        // formatted) is made once per distinct geometry, not once per page.
        let geometry_key = (bbox.map(f64::to_bits), rotate, font_name, gs_name);
        let stamp_ref = match stamp_of_geometry.get(&geometry_key) {
            Some(r) => *r,
            None => {
                let content = stamp_content(&StampGeometry {
                    text: &text,
                    text_width,
                    config: stamp.config,
                    rgb,
                    bbox,
                    rotate,
                    font_name: &geometry_key.2,
                    gs_name: &geometry_key.3,
                });
                let r = match streams.get(&content) {
                    Some(r) => *r,
                    None => {
                        let r = update.alloc();
                        update.write_stream(r, Dict::default(), &content)?;
                        streams.insert(content, r);
                        r
                    }
                };
                stamp_of_geometry.insert(geometry_key, r);
                r
            }
        };
        let mut contents = vec![Object::Ref(save)];
        contents.extend(page_contents(&mut doc, &page_dict)?);
        contents.push(Object::Ref(stamp_ref));
        let mut new_page = page_dict;
        new_page.set("Contents", Object::Array(contents));
        new_page.set("Resources", Object::Dict(resources));
        let mut body = Vec::new();
        new_page.write_to(&mut body);
        update.write_object(page.page, &body)?;
    }

    let (info_ref, mut info) = match doc.trailer().get("Info").cloned() {
        Some(Object::Ref(r)) => (
            r,
            doc.resolve_dict(&Object::Ref(r), "/Info")?
                .unwrap_or_default(),
        ),
        _ => (update.alloc(), Dict::default()),
    };
    info.set(
        "WaybillFingerprint",
        Object::String(stamp.fingerprint.as_bytes().to_vec()),
    );
    if let Some(date) = stamp.mod_date {
        info.set("ModDate", Object::String(date.as_bytes().to_vec()));
    }
    let mut body = Vec::new();
    info.write_to(&mut body);
    update.write_object(info_ref, &body)?;

    let first_id = match doc.trailer().get("ID") {
        Some(Object::Array(ids)) => match ids.first() {
            Some(Object::String(s)) => s.clone(),
            _ => stamp.document_id.to_vec(),
        },
        _ => stamp.document_id.to_vec(),
    };
    let mut trailer = Dict::default();
    trailer.set("Root", Object::Ref(root));
    trailer.set("Info", Object::Ref(info_ref));
    trailer.set(
        "ID",
        Object::Array(vec![
            Object::String(first_id),
            Object::String(stamp.document_id.to_vec()),
        ]),
    );
    trailer.set("Prev", Object::Int(doc.xref.startxref as i64));
    let size = original_size.max(u64::from(update.next));
    let bytes = if doc.xref.is_stream {
        update.finish_with_stream(trailer, size)?
    } else {
        trailer.set("Size", Object::Int(size as i64));
        update.finish_with_table(trailer)?
    };
    Ok(Report {
        pages: pages.len(),
        bytes,
        original_bytes,
        stamp_streams: streams.len(),
    })
}

/// A page's geometry as the stamp depends on it: box (as bits), rotation,
/// and the names the page's resources give the stamp's font and ExtGState.
type GeometryKey = ([u64; 4], i64, String, String);

/// Copies the whole source to `out`, chunk by chunk, ending with an EOL.
fn copy_original<S: Source + ?Sized, W: Write>(
    source: &S,
    out: &mut Counter<W>,
) -> Result<u64, PdfError> {
    let mut offset = 0u64;
    let mut last = b'\n';
    loop {
        // The source's own buffer, written on without a copy.
        let chunk = source.read_chunk(offset, COPY_CHUNK_BYTES)?;
        let Some(&end) = chunk.last() else {
            break;
        };
        out.write_all(&chunk)?;
        last = end;
        offset += chunk.len() as u64;
    }
    if last != b'\n' && last != b'\r' {
        out.write_all(b"\n")?;
    }
    Ok(offset)
}

/// The page's box as the reader sees it (CropBox within MediaBox) and its
/// rotation, one of 0, 90, 180, 270.
fn geometry<S: Source + ?Sized>(
    doc: &mut Document<'_, S>,
    page: &PageRef,
    page_dict: &Dict,
) -> Result<([f64; 4], i64), PdfError> {
    let attrs = page.inherited.under(page_dict);
    let media = match &attrs.media_box {
        Some(b) => rect(doc, b)?.unwrap_or(DEFAULT_BOX),
        None => DEFAULT_BOX,
    };
    let crop = match &attrs.crop_box {
        Some(b) => rect(doc, b)?,
        None => None,
    };
    let bbox = match crop {
        Some(c) => {
            let b = [
                c[0].max(media[0]),
                c[1].max(media[1]),
                c[2].min(media[2]),
                c[3].min(media[3]),
            ];
            if b[2] > b[0] && b[3] > b[1] { b } else { media }
        }
        None => media,
    };
    let rotate = match &attrs.rotate {
        Some(r) => match doc.resolve(r)? {
            Object::Int(r) => r,
            _ => 0,
        },
        None => 0,
    };
    let rotate = if rotate % 90 == 0 {
        rotate.rem_euclid(360)
    } else {
        0
    };
    Ok((bbox, rotate))
}

/// A rectangle `[llx lly urx ury]`, normalized; `None` if unusable.
fn rect<S: Source + ?Sized>(
    doc: &mut Document<'_, S>,
    object: &Object,
) -> Result<Option<[f64; 4]>, PdfError> {
    let Object::Array(items) = doc.resolve(object)? else {
        return Ok(None);
    };
    if items.len() != 4 {
        return Ok(None);
    }
    let mut v = [0.0; 4];
    for (slot, item) in v.iter_mut().zip(&items) {
        match doc.resolve(item)?.as_f64() {
            Some(x) if x.is_finite() => *slot = x,
            _ => return Ok(None),
        }
    }
    let r = [
        v[0].min(v[2]),
        v[1].min(v[3]),
        v[0].max(v[2]),
        v[1].max(v[3]),
    ];
    Ok((r[2] - r[0] >= 1.0 && r[3] - r[1] >= 1.0).then_some(r))
}

/// The page's content streams as references, in order.
fn page_contents<S: Source + ?Sized>(
    doc: &mut Document<'_, S>,
    page: &Dict,
) -> Result<Vec<Object>, PdfError> {
    let items = match page.get("Contents") {
        None | Some(Object::Null) => return Ok(Vec::new()),
        Some(Object::Array(items)) => items.clone(),
        Some(Object::Ref(r)) => match doc.get(*r)? {
            Object::Stream(..) => return Ok(vec![Object::Ref(*r)]),
            Object::Array(items) => items,
            Object::Null => return Ok(Vec::new()),
            other => {
                return Err(PdfError::invalid(format!(
                    "/Contents {} is {other:?}",
                    r.num
                )));
            }
        },
        Some(other) => return Err(PdfError::invalid(format!("/Contents is {other:?}"))),
    };
    // Array items must be references to streams; drop nulls.
    Ok(items
        .into_iter()
        .filter(|o| matches!(o, Object::Ref(_)))
        .collect())
}

/// Adds `target` to the resource category `category` (e.g. `Font`) under a
/// fresh name, copying an indirect category dictionary into the page's own
/// resources. Returns the name.
fn add_resource<S: Source + ?Sized>(
    doc: &mut Document<'_, S>,
    resources: &mut Dict,
    category: &str,
    target: Ref,
) -> Result<String, PdfError> {
    let mut entries = match resources.get(category).cloned() {
        Some(o) => doc.resolve_dict(&o, category)?.unwrap_or_default(),
        None => Dict::default(),
    };
    let mut name = RESOURCE_PREFIX.to_owned();
    let mut n = 1;
    while entries.contains(&name) {
        n += 1;
        name = format!("{RESOURCE_PREFIX}{n}");
    }
    entries.set(&name, Object::Ref(target));
    resources.set(category, Object::Dict(entries));
    Ok(name)
}

/// Everything that shapes one page's stamp stream.
struct StampGeometry<'a> {
    text: &'a [u8],
    /// In 1/1000 em.
    text_width: u32,
    config: &'a Config,
    rgb: [f64; 3],
    bbox: [f64; 4],
    rotate: i64,
    font_name: &'a str,
    gs_name: &'a str,
}

/// The stamp's content stream: restore the state saved before the page's
/// content, then draw the text in the reader's orientation.
fn stamp_content(g: &StampGeometry<'_>) -> Vec<u8> {
    let [llx, lly, urx, ury] = g.bbox;
    let (w, h) = (urx - llx, ury - lly);
    // The reader's view: width and height swap on a quarter turn.
    let (vw, vh) = if g.rotate % 180 == 0 { (w, h) } else { (h, w) };
    // Maps the reader's view (origin bottom left) to user space.
    let view = match g.rotate {
        90 => [0.0, 1.0, -1.0, 0.0, llx + w, lly],
        180 => [-1.0, 0.0, 0.0, -1.0, llx + w, lly + h],
        270 => [0.0, -1.0, 1.0, 0.0, llx, lly + h],
        _ => [1.0, 0.0, 0.0, 1.0, llx, lly],
    };
    let margin = g.config.margin;
    let diagonal = g.config.position == Position::Diagonal;
    let room = if diagonal {
        vw.hypot(vh) - 4.0 * margin
    } else {
        vw - 2.0 * margin
    };
    let em_width = f64::from(g.text_width) / 1000.0;
    let mut size = g.config.font_size;
    if em_width * size > room && room > 0.0 {
        size = (room / em_width).max(FONT_SIZE_MIN);
    }
    let tw = em_width * size;
    let half_cap = CAP_HEIGHT_EM * size / 2.0;
    let (x, y, angle) = match g.config.position {
        Position::TopLeft => (margin, vh - margin - 2.0 * half_cap, 0.0),
        Position::Top => ((vw - tw) / 2.0, vh - margin - 2.0 * half_cap, 0.0),
        Position::TopRight => (vw - margin - tw, vh - margin - 2.0 * half_cap, 0.0),
        Position::BottomLeft => (margin, margin, 0.0),
        Position::Bottom => ((vw - tw) / 2.0, margin, 0.0),
        Position::BottomRight => (vw - margin - tw, margin, 0.0),
        Position::Center => ((vw - tw) / 2.0, vh / 2.0 - half_cap, 0.0),
        Position::Diagonal => {
            let angle = vh.atan2(vw);
            let (sin, cos) = angle.sin_cos();
            (
                vw / 2.0 - cos * tw / 2.0 + sin * half_cap,
                vh / 2.0 - sin * tw / 2.0 - cos * half_cap,
                angle,
            )
        }
    };
    let (sin, cos) = f64::sin_cos(angle);
    let nums = |v: &[f64]| v.iter().map(|&x| real(x)).collect::<Vec<_>>().join(" ");
    let mut text = Vec::new();
    Object::String(g.text.to_vec()).write_to(&mut text);
    let mut out = Vec::new();
    out.extend_from_slice(b"Q\nq\n");
    out.extend_from_slice(format!("/{} gs\n", g.gs_name).as_bytes());
    out.extend_from_slice(format!("{} cm\n", nums(&view)).as_bytes());
    out.extend_from_slice(format!("{} rg\n", nums(&g.rgb)).as_bytes());
    out.extend_from_slice(b"BT\n");
    out.extend_from_slice(format!("/{} {} Tf\n", g.font_name, real(size)).as_bytes());
    out.extend_from_slice(format!("{} Tm\n", nums(&[cos, sin, -sin, cos, x, y])).as_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(b" Tj\nET\nQ\n");
    out
}

fn dict_bytes(entries: &[(&str, Object)]) -> Vec<u8> {
    let mut dict = Dict::default();
    for (k, v) in entries {
        dict.set(k, v.clone());
    }
    let mut out = Vec::new();
    dict.write_to(&mut out);
    out
}

/// Counts the bytes written, for object offsets.
struct Counter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The appended section being written.
struct Update<W> {
    out: Counter<W>,
    /// The next free object number.
    next: u32,
    /// (object, offset) of everything written.
    entries: Vec<(Ref, u64)>,
}

impl<W: Write> Update<W> {
    fn alloc(&mut self) -> Ref {
        let r = Ref {
            num: self.next,
            generation: 0,
        };
        self.next += 1;
        r
    }

    fn write_object(&mut self, r: Ref, body: &[u8]) -> Result<(), PdfError> {
        self.entries.push((r, self.out.count));
        self.out
            .write_all(format!("{} {} obj\n", r.num, r.generation).as_bytes())?;
        self.out.write_all(body)?;
        self.out.write_all(b"\nendobj\n")?;
        Ok(())
    }

    fn write_stream(&mut self, r: Ref, mut dict: Dict, data: &[u8]) -> Result<(), PdfError> {
        dict.set("Length", Object::Int(data.len() as i64));
        let mut body = Vec::new();
        dict.write_to(&mut body);
        body.extend_from_slice(b"\nstream\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.write_object(r, &body)
    }

    /// Runs of consecutive object numbers: (first, entries).
    fn runs(&mut self) -> Vec<(u32, Vec<(Ref, u64)>)> {
        self.entries.sort_by_key(|(r, _)| r.num);
        let mut runs: Vec<(u32, Vec<(Ref, u64)>)> = Vec::new();
        for &(r, offset) in &self.entries {
            match runs.last_mut() {
                Some((first, run)) if *first + run.len() as u32 == r.num => run.push((r, offset)),
                _ => runs.push((r.num, vec![(r, offset)])),
            }
        }
        runs
    }

    /// Writes the table and trailer; returns the output's size.
    fn finish_with_table(mut self, trailer: Dict) -> Result<u64, PdfError> {
        let xref_offset = self.out.count;
        let mut table = b"xref\n".to_vec();
        for (first, run) in self.runs() {
            table.extend_from_slice(format!("{first} {}\n", run.len()).as_bytes());
            for (r, offset) in run {
                table.extend_from_slice(
                    format!("{offset:010} {:05} n\r\n", r.generation).as_bytes(),
                );
            }
        }
        table.extend_from_slice(b"trailer\n");
        trailer.write_to(&mut table);
        table.extend_from_slice(format!("\nstartxref\n{xref_offset}\n%%EOF\n").as_bytes());
        self.out.write_all(&table)?;
        self.out.flush()?;
        Ok(self.out.count)
    }

    /// Writes a cross-reference stream; returns the output's size.
    fn finish_with_stream(mut self, mut dict: Dict, size: u64) -> Result<u64, PdfError> {
        let r = self.alloc();
        let xref_offset = self.out.count;
        self.entries.push((r, xref_offset));
        let offset_width: usize = if xref_offset > u64::from(u32::MAX) {
            8
        } else {
            4
        };
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (first, run) in self.runs() {
            index.push(Object::Int(i64::from(first)));
            index.push(Object::Int(run.len() as i64));
            for (r, offset) in run {
                data.push(1);
                data.extend_from_slice(&offset.to_be_bytes()[8 - offset_width..]);
                data.extend_from_slice(&r.generation.to_be_bytes());
            }
        }
        dict.set("Type", Object::name("XRef"));
        dict.set("Size", Object::Int(size.max(u64::from(self.next)) as i64));
        dict.set("Index", Object::Array(index));
        dict.set(
            "W",
            Object::Array(vec![
                Object::Int(1),
                Object::Int(offset_width as i64),
                Object::Int(2),
            ]),
        );
        self.write_stream(r, dict, &data)?;
        self.out
            .write_all(format!("startxref\n{xref_offset}\n%%EOF\n").as_bytes())?;
        self.out.flush()?;
        Ok(self.out.count)
    }
}
