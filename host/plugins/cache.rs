//! Precompiled plugins on disk, so a restart loads machine code in
//! milliseconds instead of compiling every component again.
//!
//! One file per component and engine: `<wasm blake3>-<compatibility key>.cwasm`
//! in the cache directory (default `<data dir>/plugin-cache`). A file holds
//! the BLAKE3 of its payload, then the payload wasmtime wrote; a file that
//! fails that check (a torn write, a flipped bit) is ignored and replaced,
//! never loaded. Writes go to a temporary file that is renamed into place,
//! so servers sharing the directory never see half a file. The checksum
//! guards against damage, not against a forger: the directory is created
//! mode 0700 and files 0600, because whoever can write there can make the
//! server run their code (as whoever can write the redb file can change
//! its data).

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::{Plugin, RunError, Sandbox};

/// Where precompiled components live.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
}

/// How [`ComponentCache::load`] got its plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a precompiled file.
    Hit,
    /// Compiled (and written to the cache).
    Compiled,
}

const CHECKSUM_BYTES: usize = 32;

impl ComponentCache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, sandbox: &Sandbox, wasm_hash: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_hash}-{}.cwasm", sandbox.compatibility_key()))
    }

    /// The plugin whose component has BLAKE3 `wasm_hash`: precompiled from
    /// the cache when a valid file is there, else compiled from `wasm()` and
    /// written to the cache. A cache that cannot be written only costs the
    /// next start a compile; it is logged, not an error.
    pub fn load(
        &self,
        sandbox: &Sandbox,
        wasm_hash: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, RunError>,
    ) -> Result<(Plugin, CacheOutcome), RunError> {
        let path = self.path(sandbox, wasm_hash);
        if let Some(payload) = read_checked(&path) {
            match sandbox.load_precompiled_trusted(&payload) {
                Ok(plugin) => return Ok((plugin, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring a cached component: {e}")
                }
            }
        }
        let bytes = wasm()?;
        let actual = blake3::hash(&bytes).to_hex();
        if actual.as_str() != wasm_hash {
            return Err(RunError::Io(format!(
                "the stored component does not match its hash {wasm_hash} (it hashes to {actual})"
            )));
        }
        let plugin = sandbox.load(&bytes)?;
        if let Err(e) = plugin
            .precompiled()
            .and_then(|code| write_checked(&path, &code).map_err(|e| RunError::Io(e.to_string())))
        {
            tracing::warn!(path = %path.display(), "could not cache a compiled component: {e}");
        }
        Ok((plugin, CacheOutcome::Compiled))
    }
}

impl ComponentCache {
    /// Removes the compiled code of component `wasm_hash` for this engine,
    /// if there is any.
    pub fn forget(&self, sandbox: &Sandbox, wasm_hash: &str) {
        let path = self.path(sandbox, wasm_hash);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), "could not remove a cached component: {e}")
            }
        }
    }
}

/// The payload of a cache file, if the file exists and its checksum holds.
fn read_checked(path: &Path) -> Option<Vec<u8>> {
    let mut bytes = fs::read(path).ok()?;
    if bytes.len() < CHECKSUM_BYTES {
        return None;
    }
    let payload = bytes.split_off(CHECKSUM_BYTES);
    (blake3::hash(&payload).as_bytes()[..] == bytes[..]).then_some(payload)
}

/// Writes `payload` behind its checksum to `path`, atomically.
fn write_checked(path: &Path, payload: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // Machine code the server runs: only its own user may write here.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("component"),
        std::process::id()
    ));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(blake3::hash(payload).as_bytes())?;
    file.write_all(payload)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_file_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cwasm");
        write_checked(&path, b"machine code").unwrap();
        assert_eq!(read_checked(&path).as_deref(), Some(&b"machine code"[..]));
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read_checked(&path), None);
        fs::write(&path, b"short").unwrap();
        assert_eq!(read_checked(&path), None);
        assert_eq!(read_checked(&dir.path().join("missing")), None);
    }
}
