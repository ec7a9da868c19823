//! Bundled plugin `pdf-watermark`: stamps every page of the product's PDFs
//! with the buyer's name, e-mail and order id, and puts an invisible
//! per-buyer fingerprint in the document metadata.
//!
//! The output is a PDF incremental update: the original bytes, streamed
//! through unchanged, then new objects — so a large PDF is stamped without
//! being held in memory; only the cross-reference data, the page tree and
//! each page's dictionary are read, in ranged reads. See [`stamp`] for the
//! update and [`config::Config`] for the options. Everything but the last
//! block of this file is plain Rust, tested natively on generated PDFs.

pub mod config;
pub mod document;
pub mod filters;
pub mod helvetica;
pub mod lexer;
pub mod object;
pub mod stamp;
pub mod xref;

use std::fmt;
use std::io;

/// Random access to the PDF being read.
pub trait Source {
    /// Its size in bytes.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads up to `buf.len()` bytes at `offset`; 0 at the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Reads up to `len` bytes at `offset` into a buffer of its own (fewer
    /// is not the end; empty is). A source that already holds the bytes in
    /// a buffer hands that over instead of copying it: in the sandbox a
    /// copy costs fuel, one unit a byte.
    fn read_chunk(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; len];
        let n = self.read_at(offset, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(<[u8]>::len(self));
        let n = buf.len().min(<[u8]>::len(self) - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// Why a PDF could not be stamped.
#[derive(Debug)]
#[non_exhaustive]
pub enum PdfError {
    /// Reading the source or writing the output failed.
    Io(io::Error),
    /// The file is not a PDF this reader understands (or the config is
    /// invalid, when stamping is asked with one).
    Invalid(String),
    /// A valid PDF using something not supported (encryption, a rare
    /// filter).
    Unsupported(String),
    /// A limit of this reader was reached.
    Limit(String),
}

impl PdfError {
    /// An [`PdfError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// An [`PdfError::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::Unsupported(message.into())
    }

    /// An [`PdfError::Limit`].
    pub fn limit(message: impl Into<String>) -> Self {
        Self::Limit(message.into())
    }
}

impl fmt::Display for PdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Invalid(m) => write!(f, "not a readable PDF: {m}"),
            Self::Unsupported(m) => write!(f, "unsupported PDF: {m}"),
            Self::Limit(m) => write!(f, "PDF too large to stamp: {m}"),
        }
    }
}

impl std::error::Error for PdfError {}

impl From<io::Error> for PdfError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// `2026-12-03T17:00:00Z` → `D:20261203170000Z` (PDF date syntax); `None`
/// for anything else.
pub fn pdf_date(rfc3339: &str) -> Option<String> {
    let b = rfc3339.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .map(|_| &rfc3339[r])
    };
    let shape = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b't'))
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if !shape {
        return None;
    }
    let date: String = [
        digits(0..4)?,
        digits(5..7)?,
        digits(8..10)?,
        digits(11..13)?,
        digits(14..16)?,
        digits(17..19)?,
    ]
    .concat();
    let mut zone = &rfc3339[19..];
    if let Some(rest) = zone.strip_prefix('.') {
        zone = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let zone = match zone.as_bytes() {
        [b'Z' | b'z'] => "Z".to_owned(),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()) =>
        {
            format!(
                "{}{}{}'{}{}'",
                *sign as char, *h1 as char, *h2 as char, *m1 as char, *m2 as char
            )
        }
        _ => return None,
    };
    Some(format!("D:{date}{zone}"))
}

mod plugin {
    //! The host side: sources and outputs from the SDK.

    use std::io;

    use waybill_plugin_sdk::{
        Context, Error, Level, Output, Plugin, SourceFile, create_output, log, rng,
    };

    use crate::config::{Config, Facts, render};
    use crate::stamp::{Stamp, stamp};
    use crate::{PdfError, Source, pdf_date};

    /// The plugin.
    pub struct PdfWatermark;

    struct HostSource<'a>(&'a SourceFile);

    impl Source for HostSource<'_> {
        fn len(&self) -> u64 {
            self.0.size()
        }

        fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read_at(offset, buf).map_err(io::Error::other)
        }

        fn read_chunk(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
            self.0.read(offset, len).map_err(io::Error::other)
        }
    }

    fn is_pdf(file: &SourceFile) -> bool {
        file.content_type() == "application/pdf"
            || file.name().to_ascii_lowercase().ends_with(".pdf")
    }

    impl Plugin for PdfWatermark {
        fn personalize(ctx: &Context) -> Result<Output, Error> {
            let config: Config = ctx.config()?;
            config.validate().map_err(Error::InvalidConfig)?;
            let facts = Facts {
                name: ctx.buyer.name.clone(),
                email: ctx.buyer.email.clone(),
                order: ctx.order_id.clone(),
                shipment: ctx.shipment_id.clone(),
                product: ctx.line.product_name.clone(),
                sku: ctx.line.sku.clone(),
                date: ctx.issued_at.chars().take(10).collect(),
            };
            let text = render(&config.template, &facts).map_err(Error::InvalidConfig)?;
            let mut document_id = [0u8; 16];
            rng().fill_bytes(&mut document_id);
            let hex: String = document_id.iter().map(|b| format!("{b:02x}")).collect();
            let fingerprint = format!("{}.{hex}", ctx.shipment_id);
            let mod_date = pdf_date(&ctx.issued_at);
            let mut stamped = 0;
            for file in &ctx.sources {
                if !is_pdf(file) {
                    log(
                        Level::Warn,
                        &format!("{}: not a PDF, not stamped", file.name()),
                    );
                    continue;
                }
                let mut out = create_output(file.name(), "application/pdf")?;
                let spec = Stamp {
                    text: &text,
                    config: &config,
                    fingerprint: &fingerprint,
                    document_id,
                    mod_date: mod_date.as_deref(),
                };
                let report = stamp(&HostSource(file), &mut out, &spec).map_err(|e| match e {
                    PdfError::Io(e) => Error::from(e),
                    other => Error::InvalidSource(format!("{}: {other}", file.name())),
                })?;
                out.finish()?;
                log(
                    Level::Info,
                    &format!(
                        "{}: stamped {} pages ({} -> {} bytes), fingerprint {fingerprint}",
                        file.name(),
                        report.pages,
                        report.original_bytes,
                        report.bytes
                    ),
                );
                stamped += 1;
            }
            if stamped == 0 {
                return Err(Error::invalid_source(
                    "the product has no PDF file to stamp",
                ));
            }
            Ok(Output::new())
        }
    }
}

pub use plugin::PdfWatermark;

#[cfg(target_arch = "wasm32")]
waybill_plugin_sdk::export_plugin!(PdfWatermark);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_to_pdf_syntax() {
        assert_eq!(
            pdf_date("2026-12-03T17:00:00Z").as_deref(),
            Some("D:20261203170000Z")
        );
        assert_eq!(
            pdf_date("2026-12-03T17:00:00.123+02:00").as_deref(),
            Some("D:20261203170000+02'00'")
        );
        assert_eq!(pdf_date("2026-12-03"), None);
        assert_eq!(pdf_date("2026-12-03T17:00:00"), None);
        assert_eq!(pdf_date("2026-12-0xT17:00:00Z"), None);
    }

    #[test]
    fn slices_are_sources() {
        let data: &[u8] = b"hello";
        let mut buf = [0u8; 3];
        assert_eq!(data.read_at(3, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"lo");
        assert_eq!(data.read_at(9, &mut buf).unwrap(), 0);
        assert_eq!(data.read_chunk(1, 3).unwrap(), b"ell");
        assert_eq!(data.read_chunk(3, 10).unwrap(), b"lo");
        assert!(data.read_chunk(5, 10).unwrap().is_empty());
    }

    /// A source that hands out at most 2 bytes a read, as a host may.
    struct Trickle<'a>(&'a [u8]);

    impl Source for Trickle<'_> {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }

        fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            let end = buf.len().min(2);
            self.0.read_at(offset, &mut buf[..end])
        }
    }

    #[test]
    fn exact_reads_gather_short_chunks_and_name_a_short_file() {
        let source = Trickle(b"0123456789");
        assert_eq!(lexer::read_exact_at(&source, 3, 5).unwrap(), b"34567");
        assert_eq!(lexer::read_exact_at(&source, 0, 0).unwrap(), b"");
        let err = lexer::read_exact_at(&source, 8, 5).unwrap_err();
        assert!(err.to_string().contains("ends before byte 13"), "{err}");
    }
}
