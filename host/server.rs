//! Starting and stopping the server: open the data dir, wire the parts, serve until shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, watch};

use crate::blobs::{self, Blobs};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::fulfilment::{Fulfilment, Settings};
use crate::http::{AppState, app};
use crate::notify::mailer::Mailer;
use crate::notify::worker;
use crate::personalizer;
use crate::plugins::{ComponentCache, Registry, Sandbox, Signer};
use crate::store::{Store, StoreError};
use crate::tokens::{KeyError, KeyRing};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("mail: {0}")]
    Mail(String),
    #[error("files: {0}")]
    Blobs(String),
    #[error("plugins: {0}")]
    Plugins(String),
    #[error("serving HTTP failed: {0}")]
    Http(std::io::Error),
}

/// An opened data directory: the store and the signing keys.
pub struct DataDir {
    pub store: Store,
    pub keys: KeyRing,
}

impl DataDir {
    /// Creates the directory if needed and opens its store and keys.
    pub fn open(config: &Config) -> Result<DataDir, ServeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = Store::open(&config.db_path())?;
        let keys = KeyRing::load_or_create(&config.keys_dir())?;
        Ok(DataDir { store, keys })
    }
}

/// Serves on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish and stops the outbox worker (which resumes on the next
/// start). Prints the first admin key on first start and the listening line.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let data = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let data = DataDir::open(&config)?;
            if !data.store.read()?.has_api_keys()? {
                let key =
                    crate::auth::create_key_blocking(&data.store, "admin", SystemClock.now())?;
                println!("admin API key: {key}");
                println!("(shown once: keep it; create more with `waybill keys create NAME`)");
            }
            Ok::<_, ServeError>(data)
        })
        .await
        .expect("startup task does not panic")?
    };
    let addr = listener.local_addr().map_err(ServeError::Http)?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let wake = Arc::new(Notify::new());
    let registry = open_registry(&config, &data.store, clock.now()).await?;
    let fulfilment = Fulfilment::new(
        data.store.clone(),
        Arc::new(data.keys),
        clock.clone(),
        Settings {
            shop_name: config.shop_name.clone(),
            public_url,
            upload_bytes_max: config.upload_bytes_max,
        },
        wake.clone(),
        registry.clone(),
    );
    let reclaimed = blobs::recover_abandoned_uploads(fulfilment.blobs())
        .await
        .map_err(|e| ServeError::Blobs(e.to_string()))?;
    if reclaimed > 0 {
        tracing::info!(
            uploads = reclaimed,
            "reclaiming uploads cut off by the last stop"
        );
    }
    let mailer = Mailer::new(config.smtp_url.as_deref(), &config.mail_from)
        .map_err(|e| ServeError::Mail(e.0))?;
    if config.smtp_url.is_none() {
        tracing::info!("no --smtp-url: buyer e-mails are written to this log");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let gc = tokio::spawn(housekeeping(
        data.store.clone(),
        fulfilment.blobs().clone(),
        clock.clone(),
        time::Duration::seconds(config.blob_grace_secs.min(i64::MAX as u64) as i64),
        std::time::Duration::from_secs(config.gc_interval_secs),
        stop_rx.clone(),
    ));
    // On its own thread, not the runtime's blocking pool: stopping the
    // server must not wait for a compile.
    let warm_stop = stop_rx.clone();
    let warming = std::thread::Builder::new()
        .name("plugin-warm-up".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let (loaded, failed) = registry.load_all(&|| *warm_stop.borrow());
            tracing::info!(
                loaded,
                failed,
                ms = started.elapsed().as_millis() as u64,
                "plugins ready"
            );
        });
    if let Err(e) = warming {
        tracing::warn!("plugins load on first use: no warm-up thread: {e}");
    }
    let (personalized, _) = broadcast::channel(PERSONALIZED_CHANNEL_CAPACITY);
    let personalizer = tokio::spawn(personalizer::run(
        fulfilment.clone(),
        config.plugin_runs_concurrent_max,
        personalized.clone(),
        stop_rx.clone(),
    ));
    let host_id = addr.ip().to_string();
    let worker = tokio::spawn(worker::run(
        data.store.clone(),
        mailer,
        host_id,
        clock,
        wake,
        stop_rx,
    ));
    let state = AppState {
        fulfilment,
        store: data.store,
        shop_name: config.shop_name.clone(),
        upload_bytes_max: config.upload_bytes_max,
        mail_transport: mail_transport(config.smtp_url.as_deref()),
        personalized,
    };
    println!("waybill listening on http://{addr}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = gc.await;
    let _ = personalizer.await;
    served.map_err(ServeError::Http)
}

/// Announcements of finished personalizations kept for slow listeners.
const PERSONALIZED_CHANNEL_CAPACITY: usize = 1024;

/// The plugin sandbox (with the shop's license-signing key) and registry
/// of the data directory `config` names.
pub fn registry(config: &Config, store: &Store) -> Result<Arc<Registry>, ServeError> {
    let license_key = crate::tokens::load_or_create_license_key(&config.license_key_dir())?;
    let sandbox = Sandbox::new(config.plugin_limits.clone(), Some(Signer::new(license_key)))
        .map_err(|e| ServeError::Plugins(e.to_string()))?;
    Ok(Arc::new(Registry::new(
        Arc::new(sandbox),
        ComponentCache::new(config.plugin_cache_dir()),
        store.clone(),
    )))
}

/// The registry, with the bundled plugins installed.
async fn open_registry(
    config: &Config,
    store: &Store,
    now: time::OffsetDateTime,
) -> Result<Arc<Registry>, ServeError> {
    let registry = registry(config, store)?;
    let installed = registry
        .install_bundled(now)
        .await
        .map_err(|e| ServeError::Plugins(e.to_string()))?;
    if !installed.is_empty() {
        tracing::info!(plugins = ?installed, "installed the bundled plugins");
    }
    Ok(registry)
}

/// Now and then until shutdown: collects unreferenced files and removes
/// ended admin sessions.
async fn housekeeping(
    store: Store,
    blobs: Blobs,
    clock: Arc<dyn Clock>,
    grace: time::Duration,
    interval: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match blobs::collect_garbage(&blobs, clock.now(), grace).await {
            Ok(report) if report != blobs::GcReport::default() => {
                tracing::info!(?report, "collected unreferenced files");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "file collection failed; will retry"),
        }
        if let Err(e) = sweep_sessions(&store, clock.now()).await {
            tracing::warn!(error = %e, "could not remove ended admin sessions; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The mail transport as shown to the seller: the SMTP server without any
/// credentials in its URL, or the log.
fn mail_transport(smtp_url: Option<&str>) -> String {
    match smtp_url {
        None => "the server log (no --smtp-url)".to_owned(),
        Some(url) => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", url));
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            let host = host.split(['/', '?']).next().unwrap_or(host);
            format!("SMTP ({scheme}://{host})")
        }
    }
}

/// Ended admin sessions removed per sweep.
const SESSIONS_PER_SWEEP_MAX: usize = 1000;

/// Removes admin sessions that have ended (they no longer open anything;
/// this only keeps the table small).
async fn sweep_sessions(store: &Store, now: time::OffsetDateTime) -> Result<(), StoreError> {
    let expired = store
        .read()?
        .expired_sessions(now, SESSIONS_PER_SWEEP_MAX)?;
    if expired.is_empty() {
        return Ok(());
    }
    store
        .write(move |tx| {
            for hash in &expired {
                tx.delete_session(hash);
            }
            Ok::<_, StoreError>(())
        })
        .await
}
