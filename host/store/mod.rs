//! The only code that opens redb: typed access to every table, and durable
//! writes batched into group commits.
//!
//! Writes go through [`Store::write`]: the operation runs on the writer
//! thread inside a redb write transaction shared with the other operations
//! that arrived meanwhile, and its caller hears back only after that
//! transaction committed durably (two-phase commit, `Durability::Immediate`).
//! An operation's writes are staged and applied only when it returns `Ok`,
//! so a refused operation leaves nothing behind even in a shared batch.

mod access;
mod records;
mod tables;
mod writer;

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable};

pub use access::{Reader, Source, Tx};
pub use records::{
    ApiKeyRecord, BlobRecord, FileMetaRecord, JobRecord, OutboxMessage, PluginRecord,
    SessionRecord, TrashRecord, UploadRecord,
};
use tables::Table;

/// Version of the on-disk layout; a file with another version is refused.
pub const SCHEMA_VERSION: u32 = 1;
/// redb's page cache, which also bounds its write buffer (half of it): keeps
/// memory flat while 128 MiB files stream through; metadata fits easily.
const CACHE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Most operations committed together in one group commit.
const BATCH_OPERATIONS_MAX: usize = 512;

/// A storage failure. Never a refused business rule: those are domain errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the database could not be opened: {0}")]
    Open(String),
    #[error("the data directory is in use by another Waybill process")]
    Locked,
    #[error("the database has schema version {found}; this Waybill reads version {expected}")]
    SchemaMismatch { found: u32, expected: u32 },
    #[error("storage error: {0}")]
    Storage(String),
    #[error("corrupt record ({0})")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
}

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Storage(e.to_string())
            }
        }
    )*};
}
storage_errors!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

/// The metadata store. Cheap to clone; all clones share one database and writer.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    writer: writer::WriterHandle,
}

impl Store {
    /// Opens (or creates) the database file, checks its schema version and
    /// starts the writer thread.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = match Database::builder()
            .set_cache_size(CACHE_BYTES_MAX)
            .create(path)
        {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::Locked),
            Err(e) => return Err(StoreError::Open(e.to_string())),
        };
        init_schema(&db)?;
        let db = Arc::new(db);
        let writer = writer::spawn(db.clone(), BATCH_OPERATIONS_MAX)?;
        Ok(Store { db, writer })
    }

    /// Runs `op` in a durable write transaction (possibly shared with other
    /// operations) and answers once it is committed.
    pub async fn write<T, E>(
        &self,
        op: impl FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.submit(op, true).await
    }

    /// Like [`Store::write`], but the commit need not reach the disk before
    /// the answer: it becomes durable with the next durable commit. For bulk
    /// data (upload chunks) whose owner commits durably at its end.
    pub async fn write_relaxed<T, E>(
        &self,
        op: impl FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.submit(op, false).await
    }

    /// Like [`Store::write`], for code outside the async runtime (the CLI).
    pub fn write_blocking<T, E>(
        &self,
        op: impl FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.submit_blocking(op)
    }

    /// A consistent read-only snapshot.
    pub fn read(&self) -> Result<Reader, StoreError> {
        Ok(Reader::new(self.db.begin_read()?))
    }
}

fn init_schema(db: &Database) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_two_phase_commit(true);
    txn.set_quick_repair(true);
    {
        for table in Table::ALL {
            txn.open_table(table.def())?;
        }
        let mut meta = txn.open_table(Table::Meta.def())?;
        let found =
            meta.get(&b"schema_version"[..])?
                .map(|v| {
                    let bytes: [u8; 4] = v.value().try_into().map_err(|_| {
                        StoreError::Corrupt("schema version is not 4 bytes".to_owned())
                    })?;
                    Ok::<u32, StoreError>(u32::from_be_bytes(bytes))
                })
                .transpose()?;
        match found {
            Some(found) if found != SCHEMA_VERSION => {
                return Err(StoreError::SchemaMismatch {
                    found,
                    expected: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
            None => {
                meta.insert(&b"schema_version"[..], &SCHEMA_VERSION.to_be_bytes()[..])?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests;
