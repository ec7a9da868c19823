//! Stamps generated PDFs of every layout and checks the result the way a
//! buyer's reader would see it: our own reader, then qpdf and poppler.

mod support;

use std::cell::Cell;
use std::io;
use std::path::PathBuf;

use pdf_watermark::config::{Config, Position};
use pdf_watermark::document::Document;
use pdf_watermark::object::{Dict, Object};
use pdf_watermark::stamp::{Report, Stamp, stamp};
use pdf_watermark::{PdfError, Source, helvetica};
use support::{Layout, Pdf, have, pdfinfo_pages, pdftotext, qpdf_check, simple, tricky};

const EMAIL: &str = "zoe@example.com";
const TEXT: &str = "Licensed to Zoë Kowalska <zoe@example.com>, order ord_7";
const FINGERPRINT: &str = "shp_1.00112233445566778899aabbccddeeff";
const DOCUMENT_ID: [u8; 16] = *b"waybill-test-id!";
const LAYOUTS: [Layout; 3] = [Layout::Table, Layout::XrefStream, Layout::ObjectStreams];

fn run(input: &[u8], config: &Config) -> Result<(Vec<u8>, Report), PdfError> {
    let mut out = Vec::new();
    let report = stamp(
        input,
        &mut out,
        &Stamp {
            text: TEXT,
            config,
            fingerprint: FINGERPRINT,
            document_id: DOCUMENT_ID,
            mod_date: Some("D:20261203170000Z"),
        },
    )?;
    assert_eq!(report.bytes, out.len() as u64);
    Ok((out, report))
}

/// Stamps `input`, then checks every page of the result: our reader sees the
/// stamp appended to the original content, qpdf finds no error, and
/// poppler extracts the buyer's e-mail and the page's own text.
fn check(name: &str, input: &[u8], config: &Config, page_texts: &[&str]) -> Vec<u8> {
    let (output, report) = run(input, config).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(report.pages, page_texts.len(), "{name}");
    assert!(
        output.starts_with(input),
        "{name}: the original bytes are not a prefix"
    );
    assert_eq!(report.original_bytes, input.len() as u64);

    let mut doc = Document::open(output.as_slice()).unwrap();
    let pages = doc.pages().unwrap();
    assert_eq!(pages.len(), page_texts.len(), "{name}");
    let encoded = helvetica::encode(TEXT);
    for (i, page) in pages.iter().enumerate() {
        let Object::Dict(dict) = doc.get(page.page).unwrap() else {
            panic!("{name}: page {i}")
        };
        let Some(Object::Array(contents)) = dict.get("Contents") else {
            panic!("{name}: page {i} /Contents is not an array: {dict:?}")
        };
        let Some(Object::Ref(last)) = contents.last() else {
            panic!("{name}: page {i}")
        };
        let Object::Stream(sdict, at) = doc.get(*last).unwrap() else {
            panic!("{name}: page {i}")
        };
        let data = doc.stream_data(&sdict, at, 1 << 20).unwrap();
        let mut shown = Vec::new();
        Object::String(encoded.clone()).write_to(&mut shown);
        assert!(
            data.windows(shown.len()).any(|w| w == shown),
            "{name}: page {i}: no stamp in {:?}",
            String::from_utf8_lossy(&data)
        );
        let resources = doc
            .resolve_dict(dict.get("Resources").unwrap(), "res")
            .unwrap()
            .unwrap();
        let fonts = doc
            .resolve_dict(resources.get("Font").unwrap(), "font")
            .unwrap()
            .unwrap();
        assert!(
            fonts.0.iter().any(|(k, _)| k.starts_with(b"WaybillStamp")),
            "{name}: page {i}"
        );
    }
    let info = info(&mut doc);
    assert_eq!(
        info.get("WaybillFingerprint"),
        Some(&Object::String(FINGERPRINT.into()))
    );
    assert_eq!(
        info.get("ModDate"),
        Some(&Object::String(b"D:20261203170000Z".to_vec()))
    );
    let Some(Object::Array(id)) = doc.trailer().get("ID") else {
        panic!("{name}: no /ID")
    };
    assert_eq!(id[1], Object::String(DOCUMENT_ID.to_vec()));

    let path = write_temp(name, &output);
    if have("qpdf") {
        qpdf_check(&path);
    }
    if have("pdftotext") {
        assert_eq!(pdfinfo_pages(&path), page_texts.len(), "{name}");
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        for (i, own) in page_texts.iter().enumerate() {
            let text = pdftotext(&path, i + 1, false);
            assert!(
                text.contains(own),
                "{name}: page {} lost {own:?}: {text:?}",
                i + 1
            );
            if config.position == Position::Diagonal {
                // Poppler breaks slanted text into pieces; in content
                // order (-raw) the characters still follow one another.
                let raw = squeeze(&pdftotext(&path, i + 1, true));
                assert!(
                    raw.contains(&squeeze(TEXT)),
                    "{name}: page {} lacks the stamp: {raw:?}",
                    i + 1
                );
            } else {
                assert!(
                    text.contains(EMAIL),
                    "{name}: page {} lacks the e-mail: {text:?}",
                    i + 1
                );
                assert!(
                    text.contains("Zoë Kowalska"),
                    "{name}: page {}: {text:?}",
                    i + 1
                );
            }
        }
    }
    output
}

fn info(doc: &mut Document<'_, [u8]>) -> Dict {
    let info = doc.trailer().get("Info").cloned().expect("/Info");
    doc.resolve_dict(&info, "info").unwrap().unwrap()
}

fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
    // Kept after the run, for a look with a PDF viewer.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pdf-watermark");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, bytes).unwrap();
    path
}

const SIMPLE_TEXTS: [&str; 3] = ["Page 1", "Page 2", "Page 3"];
const TRICKY_TEXTS: [&str; 5] = ["Page 1a", "Page 2", "Page 3", "", "Page 5"];

#[test]
fn every_layout_gets_every_page_stamped() {
    for layout in LAYOUTS {
        let input = simple(3).build(layout);
        check(
            &format!("simple-{layout:?}"),
            &input,
            &Config::default(),
            &SIMPLE_TEXTS,
        );
        let input = tricky().build(layout);
        check(
            &format!("tricky-{layout:?}"),
            &input,
            &Config::default(),
            &TRICKY_TEXTS,
        );
    }
}

#[test]
fn the_update_matches_the_original_cross_reference_kind() {
    let (out, _) = run(&simple(1).build(Layout::Table), &Config::default()).unwrap();
    let tail = String::from_utf8_lossy(&out[out.len() - 600..]).into_owned();
    assert!(tail.contains("trailer"), "{tail}");
    let (out, _) = run(&simple(1).build(Layout::ObjectStreams), &Config::default()).unwrap();
    let tail = String::from_utf8_lossy(&out[out.len() - 600..]).into_owned();
    assert!(
        tail.contains("/Type /XRef") && !tail.contains("trailer"),
        "{tail}"
    );
}

#[test]
fn every_position_on_plain_and_rotated_pages() {
    for position in [
        Position::TopLeft,
        Position::Top,
        Position::TopRight,
        Position::BottomLeft,
        Position::Bottom,
        Position::BottomRight,
        Position::Center,
        Position::Diagonal,
    ] {
        let config = Config {
            position,
            font_size: 14.0,
            opacity: 0.3,
            color: "#CC0000".into(),
            ..Config::default()
        };
        check(
            &format!("position-{position:?}"),
            &tricky().build(Layout::XrefStream),
            &config,
            &TRICKY_TEXTS,
        );
    }
}

#[test]
fn the_info_dictionary_keeps_what_it_had_and_the_id_keeps_its_first_half() {
    let input = tricky().build(Layout::Table);
    let (out, _) = run(&input, &Config::default()).unwrap();
    let mut doc = Document::open(out.as_slice()).unwrap();
    let info = info(&mut doc);
    assert_eq!(
        info.get("Title"),
        Some(&Object::String(b"Handbook".to_vec()))
    );
    let Some(Object::Array(id)) = doc.trailer().get("ID").cloned() else {
        panic!()
    };
    assert_eq!(
        id[0],
        Object::String(vec![
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD,
            0xEE, 0xFF
        ])
    );
    // Without an /Info or /ID, both are created.
    let (out, _) = run(&simple(1).build(Layout::Table), &Config::default()).unwrap();
    let mut doc = Document::open(out.as_slice()).unwrap();
    assert!(info_has_fingerprint(&mut doc));
}

fn info_has_fingerprint(doc: &mut Document<'_, [u8]>) -> bool {
    info(doc).contains("WaybillFingerprint")
}

#[test]
fn stamping_a_stamped_file_follows_the_prev_chain() {
    for layout in LAYOUTS {
        let once = run(&tricky().build(layout), &Config::default()).unwrap().0;
        let config = Config {
            position: Position::Top,
            ..Config::default()
        };
        let twice = check(&format!("twice-{layout:?}"), &once, &config, &TRICKY_TEXTS);
        let mut doc = Document::open(twice.as_slice()).unwrap();
        let first = doc.pages().unwrap()[0].page;
        let Object::Dict(page) = doc.get(first).unwrap() else {
            panic!()
        };
        let Some(Object::Array(contents)) = page.get("Contents") else {
            panic!()
        };
        // save, save, 1a, 1b, first stamp, second stamp.
        assert_eq!(contents.len(), 6, "{layout:?}: {contents:?}");
    }
}

/// Counts what the stamper reads, to prove it streams.
struct Counting<'a> {
    data: &'a [u8],
    largest_read: Cell<usize>,
    bytes_read: Cell<u64>,
}

impl Source for Counting<'_> {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.data.read_at(offset, buf)?;
        self.largest_read.set(self.largest_read.get().max(n));
        self.bytes_read.set(self.bytes_read.get() + n as u64);
        Ok(n)
    }
}

#[test]
fn a_large_pdf_is_streamed_not_loaded() {
    // 40 pages with ~200 KiB of poorly compressible content each: ~8 MiB.
    let mut pdf = simple(40);
    let mut seed = 1u64;
    for i in 0..40 {
        let mut content = text_with_noise(&format!("Page {}", i + 1), &mut seed);
        content.truncate(200 * 1024);
        pdf.add_stream(11 + 2 * i, "", &content);
    }
    for layout in [Layout::Table, Layout::ObjectStreams] {
        let input = pdf.build(layout);
        assert!(input.len() > 8_000_000);
        let source = Counting {
            data: &input,
            largest_read: Cell::new(0),
            bytes_read: Cell::new(0),
        };
        let mut out = Vec::new();
        let report = stamp(
            &source,
            &mut out,
            &Stamp {
                text: TEXT,
                config: &Config::default(),
                fingerprint: FINGERPRINT,
                document_id: DOCUMENT_ID,
                mod_date: None,
            },
        )
        .unwrap();
        assert_eq!(report.pages, 40);
        assert_eq!(report.stamp_streams, 1, "same geometry, one shared stream");
        assert!(
            source.largest_read.get() <= 64 * 1024,
            "{}",
            source.largest_read.get()
        );
        // One pass to copy, plus a block or two per page for its objects.
        let parsing = source.bytes_read.get() - input.len() as u64;
        assert!(
            parsing < 40 * 16 * 1024,
            "{layout:?}: read {parsing} bytes besides the copy"
        );
        assert!(
            out.len() - input.len() < 64 * 1024,
            "the update is small: {}",
            out.len() - input.len()
        );
        let path = write_temp(&format!("large-{layout:?}"), &out);
        if have("qpdf") {
            qpdf_check(&path);
        }
        if have("pdftotext") {
            assert!(pdftotext(&path, 40, false).contains(EMAIL));
        }
    }
}

/// A content stream that shows `label`, then ~200 KiB of comment lines of
/// pseudo-random hex (valid content, poorly compressible).
fn text_with_noise(label: &str, seed: &mut u64) -> Vec<u8> {
    let mut content = support::text_content(label, 700);
    while content.len() < 210 * 1024 {
        content.extend_from_slice(b"% ");
        for _ in 0..8 {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            content.extend_from_slice(format!("{:016x}", *seed).as_bytes());
        }
        content.push(b'\n');
    }
    content
}

#[test]
fn broken_and_unsupported_files_are_refused_with_a_reason() {
    let config = Config::default();
    let good = simple(2).build(Layout::Table);
    let check_err = |name: &str, input: &[u8], want: &str| match run(input, &config) {
        Ok(_) => panic!("{name}: stamped"),
        Err(e) => assert!(e.to_string().contains(want), "{name}: {e}"),
    };
    check_err("garbage", b"hello, this is not a PDF at all", "not a PDF");
    check_err("empty", b"", "not a PDF");
    check_err("truncated", &good[..good.len() - 40], "startxref");
    let mut wrong_offset = good.clone();
    let at = wrong_offset
        .windows(9)
        .rposition(|w| w == b"startxref")
        .unwrap();
    wrong_offset.truncate(at);
    wrong_offset.extend_from_slice(b"startxref\n20\n%%EOF\n");
    check_err("wrong startxref", &wrong_offset, "no cross-reference");
    let mut encrypted = simple(1);
    encrypted.add(5, "<< /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >>");
    encrypted.trailer_extra = "/Encrypt 5 0 R".into();
    check_err("encrypted", &encrypted.build(Layout::Table), "encrypted");
    let mut looped = Pdf::default();
    looped.add(1, "<< /Type /Catalog /Pages 2 0 R >>");
    looped.add(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    looped.add(3, "<< /Type /Pages /Kids [2 0 R] /Count 1 >>");
    check_err("page tree loop", &looped.build(Layout::Table), "loops");
    let mut empty = Pdf::default();
    empty.add(1, "<< /Type /Catalog /Pages 2 0 R >>");
    empty.add(2, "<< /Type /Pages /Kids [] /Count 0 >>");
    check_err("no pages", &empty.build(Layout::XrefStream), "no pages");
    let bad_config = Config {
        opacity: 7.0,
        ..Config::default()
    };
    assert!(matches!(run(&good, &bad_config), Err(PdfError::Invalid(m)) if m.contains("opacity")));
}

#[test]
fn output_write_errors_stop_the_stamp() {
    /// Accepts `room` bytes, then fails like the host's output limit.
    struct Limited(usize);
    impl io::Write for Limited {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.len() > self.0 {
                return Err(io::Error::new(io::ErrorKind::QuotaExceeded, "output limit"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let input = simple(2).build(Layout::Table);
    let err = stamp(
        input.as_slice(),
        Limited(input.len() + 100),
        &Stamp {
            text: TEXT,
            config: &Config::default(),
            fingerprint: FINGERPRINT,
            document_id: DOCUMENT_ID,
            mod_date: None,
        },
    )
    .unwrap_err();
    assert!(matches!(err, PdfError::Io(e) if e.kind() == io::ErrorKind::QuotaExceeded));
}
