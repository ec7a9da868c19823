//! The installed plugins: which component each name runs, kept in the store
//! (a record per name, the component itself as a blob), and the compiled
//! plugins in memory.
//!
//! Installing validates and compiles the component first (so a component
//! the host would refuse never gets a name) and writes the precompiled code
//! to the [`ComponentCache`]; loading later reads the cache, so a restart
//! compiles nothing. The bundled plugins are installed on first start and
//! upgraded with the binary, unless the seller installed their own under
//! the same name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use time::OffsetDateTime;

use super::bundled::BUNDLED;
use super::{CacheOutcome, ComponentCache, Plugin, RunError, Sandbox};
use crate::blobs::{self, BlobError, Blobs};
use crate::store::{FileMetaRecord, PluginRecord, Source, Store, StoreError};

/// The longest plugin name, in bytes.
pub const PLUGIN_NAME_BYTES_MAX: usize = 64;
/// The largest component accepted, in bytes.
pub const PLUGIN_BYTES_MAX: u64 = 64 << 20;

/// Why an install or a load failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A bad name or size.
    #[error("{0}")]
    Validation(String),
    /// The component was refused (the message says why).
    #[error(transparent)]
    Refused(RunError),
    #[error("plugin `{0}` is not installed")]
    NotInstalled(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// The plugin registry over one store.
pub struct Registry {
    sandbox: Arc<Sandbox>,
    cache: ComponentCache,
    store: Store,
    blobs: Blobs,
    /// Compiled plugins by component hash.
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
    /// Held while compiling, so two runs of a cold plugin compile it once.
    compiling: Mutex<()>,
}

/// `name` if it is a valid plugin name: 1-64 of `a-z`, `0-9`, `-`, `_`,
/// starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= PLUGIN_NAME_BYTES_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Validation(format!(
            "plugin name `{name}` must be 1-{PLUGIN_NAME_BYTES_MAX} characters of a-z, 0-9, `-` and `_`, starting with a letter or digit"
        )))
    }
}

impl Registry {
    /// A registry running plugins in `sandbox`, caching compiled code in `cache`.
    pub fn new(sandbox: Arc<Sandbox>, cache: ComponentCache, store: Store) -> Self {
        Self {
            sandbox,
            cache,
            blobs: Blobs::in_redb(store.clone()),
            store,
            loaded: Mutex::new(HashMap::new()),
            compiling: Mutex::new(()),
        }
    }

    /// Where compiled plugins are kept.
    pub fn cache_dir(&self) -> &std::path::Path {
        self.cache.dir()
    }

    /// The sandbox plugins run in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Every installed plugin, by name.
    pub fn list(&self) -> Result<Vec<PluginRecord>, RegistryError> {
        Ok(self.store.read()?.plugins()?)
    }

    /// The installed plugin `name`, if any.
    pub fn get(&self, name: &str) -> Result<Option<PluginRecord>, RegistryError> {
        Ok(self.store.read()?.plugin(name)?)
    }

    /// Whether the component `hash` is compiled and in memory.
    pub fn is_loaded(&self, hash: &str) -> bool {
        self.loaded.lock().expect("lock").contains_key(hash)
    }

    /// Validates, compiles and installs `bytes` as plugin `name` (replacing
    /// the version installed under that name). Answers the record and
    /// whether the name is new.
    pub async fn install(
        self: &Arc<Self>,
        name: &str,
        bytes: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<(PluginRecord, bool), RegistryError> {
        check_name(name)?;
        if bytes.len() as u64 > PLUGIN_BYTES_MAX {
            return Err(RegistryError::Validation(format!(
                "a plugin component is at most {PLUGIN_BYTES_MAX} bytes"
            )));
        }
        let bytes = Arc::new(bytes);
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let this = self.clone();
        let (hash_, bytes_) = (hash.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || this.load_component(&hash_, || Ok(bytes_.to_vec())))
            .await
            .map_err(|e| RegistryError::Refused(RunError::Io(format!("compile task: {e}"))))?
            .map_err(RegistryError::Refused)?;
        self.store_record(name, &bytes, hash, false, now).await
    }

    /// Installs the bundled plugins that are missing, and upgrades the
    /// bundled ones this binary carries a new version of. Does not compile:
    /// [`Registry::load_all`] does, in the background. Answers the names
    /// installed or upgraded.
    pub async fn install_bundled(&self, now: OffsetDateTime) -> Result<Vec<String>, RegistryError> {
        let mut changed = Vec::new();
        for (name, bytes) in BUNDLED {
            let hash = blake3::hash(bytes).to_hex().to_string();
            match self.get(name)? {
                Some(existing) if !existing.bundled || existing.hash == hash => continue,
                _ => {}
            }
            self.store_record(name, bytes, hash, true, now).await?;
            changed.push((*name).to_owned());
        }
        Ok(changed)
    }

    /// Stores the component as a blob and names it `name`, in one write.
    async fn store_record(
        &self,
        name: &str,
        bytes: &[u8],
        hash: String,
        bundled: bool,
        now: OffsetDateTime,
    ) -> Result<(PluginRecord, bool), RegistryError> {
        if let Some(existing) = self.get(name)?
            && existing.hash == hash
            && existing.bundled == bundled
        {
            return Ok((existing, false));
        }
        let mut ingest = self.blobs.ingest(PLUGIN_BYTES_MAX, now).await?;
        for piece in bytes.chunks(1 << 20) {
            ingest.write(piece).await?;
        }
        let ingested = ingest.finish().await?;
        if ingested.id != hash {
            return Err(RegistryError::Blob(BlobError::Interrupted(
                "the component changed while it was stored".into(),
            )));
        }
        let record = PluginRecord {
            name: name.to_owned(),
            hash,
            size: bytes.len() as u64,
            bundled,
            installed_at: now,
        };
        let meta = FileMetaRecord {
            name: format!("{name}.wasm"),
            content_type: "application/wasm".to_owned(),
            uploaded_at: now,
        };
        let stored = record.clone();
        let (record, replaced) = self
            .store
            .write(move |tx| {
                ingested.commit(tx, &meta, now)?;
                blobs::add_ref(tx, &stored.hash)?;
                let existing = tx.plugin(&stored.name)?;
                if let Some(old) = &existing {
                    blobs::release_ref(tx, &old.hash, now)?;
                }
                tx.put_plugin(&stored);
                Ok::<_, RegistryError>((stored, existing))
            })
            .await?;
        if let Some(old) = &replaced
            && old.hash != record.hash
        {
            self.forget_unused(&old.hash);
        }
        Ok((record, replaced.is_none()))
    }

    /// Drops the compiled code of a component no installed plugin names any
    /// more (replaced by a new version), from memory and from the cache.
    /// Best effort: what is left costs only space.
    fn forget_unused(&self, hash: &str) {
        match self.list() {
            Ok(records) if records.iter().all(|r| r.hash != hash) => {
                self.loaded.lock().expect("lock").remove(hash);
                self.cache.forget(&self.sandbox, hash);
            }
            _ => {}
        }
    }

    /// The compiled plugin of `record` (blocking: may compile). From memory,
    /// else from the cache, else compiled from its stored component.
    pub fn load(&self, record: &PluginRecord) -> Result<Arc<Plugin>, RunError> {
        self.load_component(&record.hash, || self.read_component(&record.hash))
    }

    fn load_component(
        &self,
        hash: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, RunError>,
    ) -> Result<Arc<Plugin>, RunError> {
        if let Some(plugin) = self.loaded.lock().expect("lock").get(hash) {
            return Ok(plugin.clone());
        }
        let _compiling = self.compiling.lock().expect("lock");
        if let Some(plugin) = self.loaded.lock().expect("lock").get(hash) {
            return Ok(plugin.clone());
        }
        let started = Instant::now();
        let (plugin, outcome) = self.cache.load(&self.sandbox, hash, wasm)?;
        tracing::debug!(
            hash,
            ms = started.elapsed().as_millis() as u64,
            cached = outcome == CacheOutcome::Hit,
            "plugin loaded"
        );
        let plugin = Arc::new(plugin);
        self.loaded
            .lock()
            .expect("lock")
            .insert(hash.to_owned(), plugin.clone());
        Ok(plugin)
    }

    /// The stored component bytes (blocking).
    fn read_component(&self, hash: &str) -> Result<Vec<u8>, RunError> {
        let io = |e: BlobError| RunError::Io(format!("reading the stored component: {e}"));
        let reader = self.blobs.open(hash).map_err(io)?;
        let chunks = reader.record().chunk_hashes.len() as u32;
        let mut bytes = Vec::with_capacity(reader.record().size as usize);
        for index in 0..chunks {
            bytes.extend_from_slice(&reader.read_chunk_blocking(index).map_err(io)?);
        }
        Ok(bytes)
    }

    /// Loads every installed plugin (blocking), so the first run of each
    /// does not wait for a compile; gives up early once `stopping()`.
    /// Answers how many were loaded and how many failed (logged).
    pub fn load_all(&self, stopping: &dyn Fn() -> bool) -> (usize, usize) {
        let records = match self.list() {
            Ok(records) => records,
            Err(e) => {
                tracing::error!("listing plugins: {e}");
                return (0, 0);
            }
        };
        let (mut ok, mut failed) = (0, 0);
        for record in records {
            if stopping() {
                break;
            }
            match self.load(&record) {
                Ok(_) => ok += 1,
                Err(e) => {
                    failed += 1;
                    tracing::error!(plugin = record.name, "plugin cannot be loaded: {e}");
                }
            }
        }
        (ok, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::Limits;
    use time::macros::datetime;

    fn registry() -> (tempfile::TempDir, Arc<Registry>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("waybill.redb")).unwrap();
        let sandbox = Arc::new(Sandbox::new(Limits::default(), None).unwrap());
        let cache = ComponentCache::new(dir.path().join("cache"));
        (dir, Arc::new(Registry::new(sandbox, cache, store)))
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn bundled_plugins_are_installed_once_and_upgraded_unless_replaced() {
        let (_dir, registry) = registry();
        let rt = runtime();
        let t0 = datetime!(2026-12-01 10:00 UTC);
        let installed = rt.block_on(registry.install_bundled(t0)).unwrap();
        assert_eq!(installed.len(), BUNDLED.len());
        for (name, bytes) in BUNDLED {
            let record = registry.get(name).unwrap().unwrap();
            assert!(record.bundled);
            assert_eq!(record.hash, blake3::hash(bytes).to_hex().as_str());
            assert_eq!(record.size, bytes.len() as u64);
        }
        // The same binary again: nothing to do.
        assert!(
            rt.block_on(registry.install_bundled(t0))
                .unwrap()
                .is_empty()
        );

        // An older bundled version is upgraded; a seller's own version of a
        // bundled name is left alone.
        let (upgraded, kept) = (BUNDLED[0].0, BUNDLED[1].0);
        let old = b"\0asm\x0d\0\x01\0 an older build".to_vec();
        rt.block_on(registry.store_record(
            upgraded,
            &old,
            blake3::hash(&old).to_hex().to_string(),
            true,
            t0,
        ))
        .unwrap();
        let own = b"\0asm\x0d\0\x01\0 the seller's build".to_vec();
        rt.block_on(registry.store_record(
            kept,
            &own,
            blake3::hash(&own).to_hex().to_string(),
            false,
            t0,
        ))
        .unwrap();
        let changed = rt.block_on(registry.install_bundled(t0)).unwrap();
        assert_eq!(changed, vec![upgraded.to_owned()]);
        assert!(registry.get(upgraded).unwrap().unwrap().bundled);
        let kept_record = registry.get(kept).unwrap().unwrap();
        assert!(!kept_record.bundled);
        assert_eq!(kept_record.hash, blake3::hash(&own).to_hex().as_str());
        // The replaced component's blob lost its reference.
        let old_blob = registry
            .blobs
            .record(blake3::hash(&old).to_hex().as_str())
            .unwrap()
            .unwrap();
        assert_eq!(old_blob.refs, 0);
    }

    #[test]
    fn a_replaced_version_leaves_no_compiled_code_behind() {
        let (dir, registry) = registry();
        let rt = runtime();
        let now = datetime!(2026-12-01 10:00 UTC);
        let cached = || {
            let mut names: Vec<String> = std::fs::read_dir(dir.path().join("cache"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let (first, second) = (BUNDLED[0].1, BUNDLED[1].1);
        let (v1, created) = rt
            .block_on(registry.install("x", first.to_vec(), now))
            .unwrap();
        assert!(created);
        assert!(registry.is_loaded(&v1.hash));
        assert_eq!(cached().len(), 1);
        assert!(cached()[0].starts_with(&v1.hash));
        // The same component under a second name: replacing `x` keeps its code.
        rt.block_on(registry.install("y", first.to_vec(), now))
            .unwrap();
        let (v2, created) = rt
            .block_on(registry.install("x", second.to_vec(), now))
            .unwrap();
        assert!(!created);
        assert!(registry.is_loaded(&v1.hash) && registry.is_loaded(&v2.hash));
        assert_eq!(cached().len(), 2);
        // Now nothing names the first version: its code goes.
        rt.block_on(registry.install("y", second.to_vec(), now))
            .unwrap();
        assert!(!registry.is_loaded(&v1.hash));
        assert_eq!(cached().len(), 1);
        assert!(cached()[0].starts_with(&v2.hash));
    }

    #[test]
    fn a_refused_component_is_not_installed() {
        let (_dir, registry) = registry();
        let rt = runtime();
        let now = datetime!(2026-12-01 10:00 UTC);
        for (bytes, says) in [
            (b"garbage".to_vec(), "not a WebAssembly component"),
            (b"\0asm\x01\0\0\0".to_vec(), "core WebAssembly module"),
        ] {
            let e = rt.block_on(registry.install("x", bytes, now)).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        assert!(matches!(
            rt.block_on(registry.install("Bad Name", b"\0asm".to_vec(), now)),
            Err(RegistryError::Validation(_))
        ));
        assert!(registry.list().unwrap().is_empty());
    }

    #[test]
    fn plugin_names() {
        for ok in ["license-key", "pdf_watermark", "v2", "a"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "-x", "License", "a b", "../x", "ä", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
