//! Test support: a tiny PDF writer producing the file layouts met in the
//! wild (classic tables, compressed cross-reference streams with PNG
//! predictors, object streams), and the external checkers (qpdf, poppler).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use miniz_oxide::deflate::compress_to_vec_zlib;

/// How the generated file records where its objects are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `xref` table and `trailer` (PDF 1.0-1.4).
    Table,
    /// A `/FlateDecode` cross-reference stream with a PNG Up predictor.
    XrefStream,
    /// As `XrefStream`, with every non-stream object in an object stream.
    ObjectStreams,
}

/// One object: a body, or a stream dictionary (without `/Length`) and data.
#[derive(Debug, Clone)]
enum Obj {
    Plain(String),
    Stream(String, Vec<u8>),
}

/// A PDF under construction; object 1 is the catalog.
#[derive(Debug, Clone, Default)]
pub struct Pdf {
    objects: BTreeMap<u32, Obj>,
    /// Extra trailer entries, e.g. `/Info 9 0 R`.
    pub trailer_extra: String,
}

impl Pdf {
    /// Adds object `num`.
    pub fn add(&mut self, num: u32, body: &str) -> &mut Self {
        self.objects.insert(num, Obj::Plain(body.into()));
        self
    }

    /// Adds stream object `num`.
    pub fn add_stream(&mut self, num: u32, dict: &str, data: &[u8]) -> &mut Self {
        self.objects
            .insert(num, Obj::Stream(dict.into(), data.to_vec()));
        self
    }

    /// Adds a compressed stream object `num`.
    pub fn add_flate_stream(&mut self, num: u32, data: &[u8]) -> &mut Self {
        let dict = "/Filter /FlateDecode".to_string();
        self.objects
            .insert(num, Obj::Stream(dict, compress_to_vec_zlib(data, 6)));
        self
    }

    /// The file's bytes.
    pub fn build(&self, layout: Layout) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let max = *self.objects.keys().max().expect("objects");
        // Object number -> (type, field 2, field 3) as in an xref stream.
        let mut entries: BTreeMap<u32, (u8, u64, u64)> = BTreeMap::new();
        let mut packed: Vec<(u32, &str)> = Vec::new();
        for (&num, obj) in &self.objects {
            match obj {
                Obj::Plain(body) if layout == Layout::ObjectStreams => packed.push((num, body)),
                Obj::Plain(body) => {
                    entries.insert(num, (1, out.len() as u64, 0));
                    out.extend_from_slice(format!("{num} 0 obj\n{body}\nendobj\n").as_bytes());
                }
                Obj::Stream(dict, data) => {
                    entries.insert(num, (1, out.len() as u64, 0));
                    write_stream(&mut out, num, dict, data);
                }
            }
        }
        let mut next = max + 1;
        if !packed.is_empty() {
            let stream_num = next;
            next += 1;
            let mut header = String::new();
            let mut body = String::new();
            for (index, (num, text)) in packed.iter().enumerate() {
                header.push_str(&format!("{num} {} ", body.len()));
                body.push_str(text);
                body.push('\n');
                entries.insert(*num, (2, u64::from(stream_num), index as u64));
            }
            let data = format!("{header}\n{body}");
            let dict = format!(
                "/Type /ObjStm /N {} /First {} /Filter /FlateDecode",
                packed.len(),
                header.len() + 1
            );
            entries.insert(stream_num, (1, out.len() as u64, 0));
            write_stream(
                &mut out,
                stream_num,
                &dict,
                &compress_to_vec_zlib(data.as_bytes(), 6),
            );
        }
        match layout {
            Layout::Table => {
                let xref_at = out.len();
                out.extend_from_slice(
                    format!("xref\n0 {}\n0000000000 65535 f\r\n", max + 1).as_bytes(),
                );
                for num in 1..=max {
                    match entries.get(&num) {
                        Some((_, offset, _)) => {
                            out.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes())
                        }
                        None => out.extend_from_slice(b"0000000000 00001 f\r\n"),
                    }
                }
                out.extend_from_slice(
                    format!(
                        "trailer\n<< /Size {} /Root 1 0 R {} >>\nstartxref\n{xref_at}\n%%EOF\n",
                        max + 1,
                        self.trailer_extra
                    )
                    .as_bytes(),
                );
            }
            Layout::XrefStream | Layout::ObjectStreams => {
                let xref_num = next;
                let xref_at = out.len() as u64;
                entries.insert(xref_num, (1, xref_at, 0));
                // Rows of 1 + 4 + 2 bytes, PNG "Up"-predicted.
                let mut rows: Vec<[u8; 7]> = Vec::new();
                for num in 0..=xref_num {
                    let (t, f2, f3) = entries.get(&num).copied().unwrap_or((0, 0, 0));
                    let mut row = [0u8; 7];
                    row[0] = t;
                    row[1..5].copy_from_slice(&(f2 as u32).to_be_bytes());
                    row[5..7].copy_from_slice(&(f3 as u16).to_be_bytes());
                    rows.push(row);
                }
                let mut predicted = Vec::new();
                let mut previous = [0u8; 7];
                for row in &rows {
                    predicted.push(2);
                    predicted.extend(row.iter().zip(previous).map(|(b, p)| b.wrapping_sub(p)));
                    previous = *row;
                }
                let dict = format!(
                    "/Type /XRef /Size {} /W [1 4 2] /Root 1 0 R {} /Filter /FlateDecode \
                     /DecodeParms << /Predictor 12 /Columns 7 >>",
                    xref_num + 1,
                    self.trailer_extra
                );
                write_stream(
                    &mut out,
                    xref_num,
                    &dict,
                    &compress_to_vec_zlib(&predicted, 6),
                );
                out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
            }
        }
        out
    }
}

fn write_stream(out: &mut Vec<u8>, num: u32, dict: &str, data: &[u8]) {
    out.extend_from_slice(
        format!("{num} 0 obj\n<< {dict} /Length {} >>\nstream\n", data.len()).as_bytes(),
    );
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream\nendobj\n");
}

/// A content stream showing `text` at (72, y) in font `/F1`.
pub fn text_content(text: &str, y: u32) -> Vec<u8> {
    format!("BT /F1 12 Tf 72 {y} Td ({text}) Tj ET\n").into_bytes()
}

/// A straightforward document: `pages` pages, each drawing "Page N" with
/// its own content stream, resources direct in each page.
pub fn simple(pages: u32) -> Pdf {
    let mut pdf = Pdf::default();
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 10 + 2 * i)).collect();
    pdf.add(1, "<< /Type /Catalog /Pages 2 0 R >>");
    pdf.add(
        2,
        &format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        ),
    );
    pdf.add(
        3,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>",
    );
    for i in 0..pages {
        let page = 10 + 2 * i;
        pdf.add(
            page,
            &format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R \
                 /Resources << /Font << /F1 3 0 R >> >> >>",
                page + 1
            ),
        );
        pdf.add_stream(page + 1, "", &text_content(&format!("Page {}", i + 1), 700));
    }
    pdf
}

/// A document exercising what a stamper must get right: a nested page tree
/// with inherited /Resources and /MediaBox, /Resources and /Font as
/// indirect objects, /Contents as a direct array, as an indirect array and
/// absent, a rotated page with a CropBox, unbalanced `q` in a page's
/// content, an existing Info dictionary and a document /ID.
pub fn tricky() -> Pdf {
    let mut pdf = Pdf::default();
    pdf.add(1, "<< /Type /Catalog /Pages 2 0 R >>");
    pdf.add(
        2,
        "<< /Type /Pages /Kids [4 0 R 20 0 R] /Count 5 /MediaBox [0 0 595 842] /Resources 5 0 R >>",
    );
    pdf.add(3, "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>");
    pdf.add(
        4,
        "<< /Type /Pages /Parent 2 0 R /Kids [10 0 R 12 0 R] /Count 2 >>",
    );
    pdf.add(5, "<< /Font 6 0 R /ProcSet [/PDF /Text] >>");
    pdf.add(6, "<< /F1 3 0 R >>");
    pdf.add(9, "<< /Title (Handbook) /Producer (test) >>");
    // Page 1: inherits everything; content is a direct array of two streams.
    pdf.add(
        10,
        "<< /Type /Page /Parent 4 0 R /Contents [11 0 R 13 0 R] >>",
    );
    pdf.add_stream(11, "", b"BT /F1 12 Tf 72 700 Td (Page 1a) Tj ET\n");
    pdf.add_flate_stream(
        13,
        b"q 1 0 0 1 50 50 cm BT /F1 12 Tf 72 600 Td (Page 1b) Tj ET\n",
    );
    // Page 2: /Contents is a reference to an array; unbalanced q.
    pdf.add(12, "<< /Type /Page /Parent 4 0 R /Contents 14 0 R >>");
    pdf.add(14, "[15 0 R]");
    pdf.add_stream(
        15,
        "",
        b"q q 3 0 0 3 0 0 cm BT /F1 12 Tf 20 200 Td (Page 2) Tj ET\n",
    );
    // Pages 3-5 under node 20: rotated with a CropBox, no content, own resources.
    pdf.add(
        20,
        "<< /Type /Pages /Parent 2 0 R /Kids [21 0 R 23 0 R 24 0 R] /Count 3 /Rotate 90 >>",
    );
    pdf.add(
        21,
        "<< /Type /Page /Parent 20 0 R /CropBox [10 10 500 800] /Contents 22 0 R >>",
    );
    pdf.add_stream(22, "", &text_content("Page 3", 500));
    pdf.add(23, "<< /Type /Page /Parent 20 0 R /Rotate 0 >>");
    pdf.add(
        24,
        "<< /Type /Page /Parent 20 0 R /Rotate 270 /MediaBox [0 0 300 300] /Contents 25 0 R \
         /Resources << /Font << /F1 3 0 R /WaybillStamp 3 0 R >> >> >>",
    );
    pdf.add_stream(25, "", &text_content("Page 5", 150));
    pdf.trailer_extra =
        "/Info 9 0 R /ID [<00112233445566778899AABBCCDDEEFF> <00112233445566778899AABBCCDDEEFF>]"
            .into();
    pdf
}

/// Whether `tool` runs here. Missing tools skip their checks unless
/// `WAYBILL_REQUIRE_PDF_TOOLS` is set (CI sets it after installing them).
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("WAYBILL_REQUIRE_PDF_TOOLS").is_none(),
            "{tool} is required (apt-get install qpdf poppler-utils)"
        );
        eprintln!("note: {tool} not installed; its checks are skipped");
    }
    found
}

/// `qpdf --check` passes without warnings.
pub fn qpdf_check(path: &Path) {
    let out = Command::new("qpdf")
        .arg("--check")
        .arg(path)
        .output()
        .expect("qpdf runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stdout.contains("WARNING") && !stderr.contains("WARNING"),
        "qpdf --check {}:\n{stdout}\n{stderr}",
        path.display()
    );
    assert!(
        stdout.contains("No syntax or stream encoding errors"),
        "{stdout}"
    );
}

/// The text poppler extracts from page `page` (1-based), in reading order
/// or (`raw`) in content stream order.
pub fn pdftotext(path: &Path, page: usize, raw: bool) -> String {
    let out = Command::new("pdftotext")
        .args([
            "-f",
            &page.to_string(),
            "-l",
            &page.to_string(),
            "-enc",
            "UTF-8",
        ])
        .args(raw.then_some("-raw"))
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "pdftotext {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `pdfinfo`'s `Pages:` line, insisting on no error output.
pub fn pdfinfo_pages(path: &Path) -> usize {
    let out = Command::new("pdfinfo")
        .arg(path)
        .output()
        .expect("pdfinfo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "pdfinfo {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Pages: line")
}
