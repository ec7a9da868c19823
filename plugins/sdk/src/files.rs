//! Source files (read in chunks from the host) and output files (written in
//! chunks to the host).

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::bindings::waybill::plugin::host as wit;
use crate::{Error, HostError};

/// Bytes asked of the host per `read` call and sent per `write` call. The
/// contract guarantees the host accepts at least this much.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// One of the product's source files, held by the host. Read it with
/// [`read_at`](Self::read_at), [`copy_to`](Self::copy_to) or a
/// [`reader`](Self::reader); it is never loaded whole unless you do so.
#[derive(Debug)]
pub struct SourceFile {
    handle: wit::SourceFile,
    name: String,
    size: u64,
    content_type: String,
}

impl SourceFile {
    pub(crate) fn from_wit(handle: wit::SourceFile) -> Self {
        let name = handle.name();
        let size = handle.size();
        let content_type = handle.content_type();
        Self {
            handle,
            name,
            size,
            content_type,
        }
    }

    /// The file's name as uploaded.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its media type.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// Reads up to `buf.len()` bytes at `offset` with one host call (at
    /// most [`CHUNK_BYTES`]). Returns 0 at the end of the file; an `offset`
    /// past the end is [`HostError::OutOfRange`].
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, HostError> {
        let len = buf.len().min(CHUNK_BYTES);
        let bytes = self.read_chunk(offset, len)?;
        let n = bytes.len().min(len);
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok(n)
    }

    /// Reads up to `len` bytes at `offset` (at most [`CHUNK_BYTES`]) with
    /// one host call and returns the host's buffer as it is, without the
    /// copy [`read_at`](Self::read_at) makes into yours. Empty at the end of
    /// the file; an `offset` past the end is [`HostError::OutOfRange`].
    /// Prefer it for large reads: in the sandbox, copying memory costs fuel
    /// (one unit a byte).
    pub fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, HostError> {
        let mut bytes = self.read_chunk(offset, len.min(CHUNK_BYTES))?;
        bytes.truncate(len);
        Ok(bytes)
    }

    /// Fills `buf` from `offset`; fewer bytes left in the file is an
    /// [`Error::InvalidSource`].
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.read_at(offset + filled as u64, &mut buf[filled..])?;
            if n == 0 {
                return Err(Error::invalid_source(format!(
                    "{}: ends at byte {}, wanted {} bytes at {offset}",
                    self.name,
                    self.size,
                    buf.len()
                )));
            }
            filled += n;
        }
        Ok(())
    }

    /// Reads `len` bytes at `offset`, or fewer when the file ends first.
    pub fn read_range(&self, offset: u64, len: usize) -> Result<Vec<u8>, Error> {
        let len = usize::try_from(self.size.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(len);
        let mut buf = vec![0; len];
        self.read_exact_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// Streams the whole file into `out`, one chunk at a time. Returns the
    /// bytes copied.
    pub fn copy_to(&self, out: &mut impl Write) -> Result<u64, Error> {
        let mut offset = 0;
        loop {
            let chunk = self.read_chunk(offset, CHUNK_BYTES)?;
            if chunk.is_empty() {
                return Ok(offset);
            }
            out.write_all(&chunk)?;
            offset += chunk.len() as u64;
        }
    }

    /// A cursor over the file implementing [`Read`] and [`Seek`]; wrap it in
    /// a [`std::io::BufReader`] for small reads.
    pub fn reader(&self) -> SourceReader<'_> {
        SourceReader {
            file: self,
            position: 0,
        }
    }

    fn read_chunk(&self, offset: u64, len: usize) -> Result<Vec<u8>, HostError> {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.handle.read(offset, len).map_err(HostError::from_wit)
    }
}

/// A [`Read`] + [`Seek`] cursor over a [`SourceFile`].
#[derive(Debug)]
pub struct SourceReader<'a> {
    file: &'a SourceFile,
    position: u64,
}

impl Read for SourceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.file.size || buf.is_empty() {
            return Ok(0);
        }
        let n = self
            .file
            .read_at(self.position, buf)
            .map_err(HostError::into_io)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for SourceReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let position = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.file.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        let position = position
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.position = position;
        Ok(position)
    }
}

/// Starts an output file delivered to the buyer as `name` (a plain file
/// name, unique within the run) with media type `content_type`.
pub fn create_output(name: &str, content_type: &str) -> Result<OutputFile, Error> {
    let handle = wit::create_output(name, content_type).map_err(HostError::from_wit)?;
    Ok(OutputFile {
        handle,
        buffer: Vec::with_capacity(CHUNK_BYTES),
        written: 0,
        failed: None,
    })
}

/// An output file being written, an [`std::io::Write`]. Writes are
/// buffered into chunks of [`CHUNK_BYTES`]; call [`finish`](Self::finish)
/// at the end to send the last one and see any error (dropping it sends
/// the rest too, but cannot report a failure).
#[derive(Debug)]
pub struct OutputFile {
    handle: wit::OutputFile,
    buffer: Vec<u8>,
    written: u64,
    failed: Option<HostError>,
}

impl OutputFile {
    /// Sends what is buffered and returns the file's total size.
    pub fn finish(mut self) -> Result<u64, Error> {
        self.send_buffer().map_err(Error::Host)?;
        Ok(self.written)
    }

    /// Bytes written so far, buffered or not.
    pub fn len(&self) -> u64 {
        self.written + self.buffer.len() as u64
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), HostError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Err(e) = self.handle.write(bytes) {
            let e = HostError::from_wit(e);
            self.failed = Some(e.clone());
            return Err(e);
        }
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn send_buffer(&mut self) -> Result<(), HostError> {
        if self.buffer.is_empty() {
            return match &self.failed {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            };
        }
        let buffer = std::mem::take(&mut self.buffer);
        let result = self.send(&buffer);
        self.buffer = buffer;
        self.buffer.clear();
        result
    }
}

impl Write for OutputFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buffer.is_empty() && bytes.len() >= CHUNK_BYTES {
            let chunk = &bytes[..CHUNK_BYTES];
            self.send(chunk).map_err(HostError::into_io)?;
            return Ok(chunk.len());
        }
        let n = bytes.len().min(CHUNK_BYTES - self.buffer.len());
        self.buffer.extend_from_slice(&bytes[..n]);
        if self.buffer.len() == CHUNK_BYTES {
            self.send_buffer().map_err(HostError::into_io)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer().map_err(HostError::into_io)
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        // A failure here was a host limit; the host fails the run itself.
        let _ = self.send_buffer();
    }
}
