//! The writer thread: runs write operations in batches, one durable commit per batch.

use std::sync::Arc;
use std::sync::mpsc;

use redb::Database;
use tokio::sync::oneshot;

use super::{StoreError, Tx};

/// Tells a finished operation how its batch's commit went.
type Completion = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// A type-erased operation: runs against the batch transaction, reports
/// whether its staged writes should be kept, and hands back its completion.
type Op = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Completion) + Send>;

/// An operation and whether its caller needs it durable before the answer.
struct Job {
    op: Op,
    durable: bool,
}

/// Sends operations to the writer thread. Dropping the last handle lets the
/// thread finish the operations already sent and waits for it, so the
/// database is closed when the store is gone.
#[derive(Clone)]
pub(super) struct WriterHandle {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(super) fn spawn(db: Arc<Database>, batch_max: usize) -> Result<WriterHandle, StoreError> {
    let (jobs, rx) = mpsc::channel::<Job>();
    let thread = std::thread::Builder::new()
        .name("waybill-store-writer".to_owned())
        .spawn(move || run(&db, &rx, batch_max))
        .map_err(|e| StoreError::Open(format!("cannot start the writer thread: {e}")))?;
    Ok(WriterHandle {
        inner: Arc::new(Inner {
            jobs: Some(jobs),
            thread: Some(thread),
        }),
    })
}

impl WriterHandle {
    fn sender(&self) -> &mpsc::Sender<Job> {
        self.inner
            .jobs
            .as_ref()
            .expect("the sender lives until drop")
    }

    fn job<T, E>(
        op: impl FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        durable: bool,
    ) -> (Job, oneshot::Receiver<Result<T, E>>)
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: Op = Box::new(move |txn: &mut Tx<'_>| {
            let result = op(txn);
            let keep = result.is_ok();
            let completion: Completion = Box::new(move |commit: Result<(), &StoreError>| {
                let answer = match (commit, result) {
                    (Ok(()), result) => result,
                    // A refused operation wrote nothing: its answer stands.
                    (Err(_), Err(e)) => Err(e),
                    (Err(e), Ok(_)) => Err(E::from(StoreError::Storage(e.to_string()))),
                };
                let _ = tx.send(answer);
            });
            (keep, completion)
        });
        (Job { op, durable }, rx)
    }

    pub(super) async fn submit<T, E>(
        &self,
        op: impl FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        durable: bool,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (job, rx) = Self::job(op, durable);
        self.sender()
            .send(job)
            .map_err(|_| E::from(StoreError::Closed))?;
        rx.await
            .unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }

    pub(super) fn submit_blocking<T, E>(
        &self,
        op: impl FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (job, rx) = Self::job(op, true);
        self.sender()
            .send(job)
            .map_err(|_| E::from(StoreError::Closed))?;
        rx.blocking_recv()
            .unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }
}

fn run(db: &Database, jobs: &mpsc::Receiver<Job>, batch_max: usize) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < batch_max {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(db, batch);
    }
}

fn run_batch(db: &Database, batch: Vec<Job>) {
    let mut completions = Vec::with_capacity(batch.len());
    let durable = batch.iter().any(|job| job.durable);
    let outcome = (|| {
        let mut txn = db.begin_write()?;
        txn.set_two_phase_commit(true);
        if durable {
            // Recovery after a crash then trusts the primary commit slot and
            // the saved allocator state instead of walking (and checksumming)
            // every page: fast for large files, and one rotten chunk page no
            // longer makes the whole database refuse to open.
            txn.set_quick_repair(true);
        } else {
            // Persisted by the next durable commit; until then a crash loses
            // only writes whose callers did not ask for durability.
            txn.set_durability(redb::Durability::None)
                .map_err(|e| StoreError::Storage(e.to_string()))?;
        }
        let mut failure = None;
        for job in batch {
            let mut tx = Tx::new(&txn);
            let (keep, completion) = (job.op)(&mut tx);
            completions.push(completion);
            if keep && failure.is_none() {
                let staged = tx.into_staged();
                if let Err(e) = staged.apply(&txn) {
                    failure = Some(e);
                }
            }
        }
        if let Some(e) = failure {
            let _ = txn.abort();
            return Err(e);
        }
        txn.commit()?;
        Ok(())
    })();
    if let Err(e) = &outcome {
        tracing::error!(error = %e, "a write batch failed; its operations were refused");
    }
    for completion in completions {
        completion(outcome.as_ref().map(|_| ()));
    }
}
