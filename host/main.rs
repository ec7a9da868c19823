//! The `waybill` binary: parses the command line, binds, and hands over to the library.

use anyhow::Context as _;
use clap::Parser as _;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use waybill::cli::{Cli, Command, KeysCommand};
use waybill::config::Config;
use waybill::server::{self, DataDir};
use waybill::tokens::KeyRing;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            let config = args.config().validated()?;
            let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            runtime.block_on(async {
                let listener = TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", config.listen))?;
                server::run(config, listener, shutdown_signal()).await?;
                Ok(())
            })
        }
        Command::Keys(KeysCommand::Create { name, data }) => {
            let config = Config::new(data.dir, "127.0.0.1:0".parse()?);
            let data = DataDir::open(&config)?;
            let key =
                waybill::auth::create_key_blocking(&data.store, &name, OffsetDateTime::now_utc())?;
            println!("created API key `{name}`; it is shown only now:");
            println!("{key}");
            Ok(())
        }
        Command::Keys(KeysCommand::RotateSigning { data }) => {
            let config = Config::new(data.dir, "127.0.0.1:0".parse()?);
            let kid = KeyRing::rotate(&config.keys_dir())?;
            println!("new signing key {kid} is active; earlier links stay valid");
            println!("restart a running server to sign with it");
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
