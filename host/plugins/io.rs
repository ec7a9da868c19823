//! Where a run's source files come from and where its output files go.
//!
//! The sandbox reads sources through [`SourceBytes`] (random access, in
//! chunks: a 128 MiB PDF never sits in plugin or host memory whole) and
//! streams outputs into an [`OutputSink`] as the plugin writes them. The
//! local implementations, [`LocalFile`] and [`DirSink`], serve
//! `waybill plugins run`; the server will plug in its blob store.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// One read-only source file of a run.
pub trait SourceBytes: Send {
    /// The file's name as uploaded, e.g. `handbook.pdf`.
    fn name(&self) -> &str;
    /// Its media type, e.g. `application/pdf`.
    fn content_type(&self) -> &str;
    /// Its size in bytes.
    fn size(&self) -> u64;
    /// Reads up to `buf.len()` bytes at `offset`; fewer only at the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// A source backed by a local file, read with `pread`.
pub struct LocalFile {
    file: File,
    size: u64,
    name: String,
    content_type: String,
}

impl LocalFile {
    /// Opens `path`, served to the plugin as `name` with `content_type`.
    pub fn open(path: &Path, name: &str, content_type: &str) -> io::Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            file,
            size,
            name: name.to_owned(),
            content_type: content_type.to_owned(),
        })
    }
}

impl SourceBytes for LocalFile {
    fn name(&self) -> &str {
        &self.name
    }
    fn content_type(&self) -> &str {
        &self.content_type
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// Receives a run's output files as they are written.
pub trait OutputSink: Send {
    /// Starts the output `name` (already checked to be a plain file name,
    /// unique within the run).
    fn create(&mut self, name: &str, content_type: &str) -> io::Result<Box<dyn Write + Send>>;
    /// The run failed: forget every output created so far (best effort).
    fn discard(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes outputs as files into a directory, streaming.
pub struct DirSink {
    dir: PathBuf,
    created: Vec<PathBuf>,
}

impl DirSink {
    /// Outputs go into `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            created: Vec::new(),
        }
    }
}

impl OutputSink for DirSink {
    fn create(&mut self, name: &str, _content_type: &str) -> io::Result<Box<dyn Write + Send>> {
        let name = sanitize_name(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a plain file name"))?;
        let path = self.dir.join(name);
        let file = File::create(&path)?;
        self.created.push(path);
        Ok(Box::new(BufWriter::with_capacity(1 << 16, file)))
    }

    fn discard(&mut self) -> io::Result<()> {
        for path in self.created.drain(..) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The longest output name, in bytes.
pub const NAME_BYTES_MAX: usize = 255;

/// `name` if it is a plain file name the host accepts, else `None`: not
/// empty, at most [`NAME_BYTES_MAX`] bytes, no `/` or `\` (no path parts),
/// not `.` or `..`, no control characters, no leading or trailing spaces.
pub fn sanitize_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= NAME_BYTES_MAX
        && !name.contains(['/', '\\'])
        && name != "."
        && name != ".."
        && !name.chars().any(char::is_control)
        && name.trim() == name;
    ok.then_some(name)
}

/// Output names already used in a run.
#[derive(Default)]
pub(super) struct Names(HashSet<String>);

impl Names {
    /// Why `name` cannot be used, or `None` after recording it.
    pub(super) fn claim(&mut self, name: &str) -> Option<String> {
        if sanitize_name(name).is_none() {
            return Some(format!(
                "output name {name:?}: want a plain file name (1-{NAME_BYTES_MAX} bytes, no `/`, `\\`, control characters or surrounding spaces)"
            ));
        }
        if !self.0.insert(name.to_owned()) {
            return Some(format!("output name {name:?} already used in this run"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass() {
        for name in [
            "handbook.pdf",
            "a",
            "Zoë's book (2e).pdf",
            ".hidden",
            "x..y",
        ] {
            assert_eq!(sanitize_name(name), Some(name));
        }
    }

    #[test]
    fn path_parts_and_oddities_are_refused() {
        let long = "a".repeat(NAME_BYTES_MAX + 1);
        for name in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "/etc/passwd",
            "dir/file.pdf",
            "dir\\file.pdf",
            "C:\\x",
            "a\0b",
            "line\nbreak",
            " padded.pdf",
            "padded.pdf ",
            long.as_str(),
        ] {
            assert_eq!(sanitize_name(name), None, "{name:?}");
        }
        assert!(sanitize_name(&"é".repeat(NAME_BYTES_MAX / 2)).is_some());
    }

    #[test]
    fn names_are_unique_per_run() {
        let mut names = Names::default();
        assert_eq!(names.claim("a.pdf"), None);
        assert!(names.claim("a.pdf").unwrap().contains("already used"));
        assert!(names.claim("../a.pdf").is_some());
    }

    #[test]
    fn dir_sink_writes_and_discards() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = DirSink::new(dir.path());
        let mut w = sink.create("out.txt", "text/plain").unwrap();
        w.write_all(b"hello").unwrap();
        w.flush().unwrap();
        drop(w);
        assert_eq!(std::fs::read(dir.path().join("out.txt")).unwrap(), b"hello");
        assert!(sink.create("../escape.txt", "text/plain").is_err());
        sink.discard().unwrap();
        assert!(!dir.path().join("out.txt").exists());
    }

    #[test]
    fn local_file_reads_at_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("src.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let f = LocalFile::open(&path, "src.bin", "application/octet-stream").unwrap();
        assert_eq!(f.size(), 10);
        let mut buf = [0; 4];
        assert_eq!(f.read_at(8, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"89");
        assert_eq!(f.read_at(10, &mut buf).unwrap(), 0);
    }
}
