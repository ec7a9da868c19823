//! The `waybill` binary: parses the command line, binds, and hands over to the library.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use waybill::cli::{Cli, Command, FilesCommand, KeysCommand, PluginsCommand};
use waybill::config::Config;
use waybill::server::{self, DataDir};
use waybill::tokens::KeyRing;

fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            let config = args.config()?.validated()?;
            let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            runtime.block_on(async {
                // Handlers first, so a SIGTERM right after start is a clean stop.
                let shutdown = shutdown_signal()?;
                let listener = TcpListener::bind(config.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", config.listen))?;
                server::run(config, listener, shutdown).await?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Keys(KeysCommand::Create { name, data }) => {
            let config = Config::new(data.dir, "127.0.0.1:0".parse()?);
            let data = DataDir::open(&config)?;
            let key =
                waybill::auth::create_key_blocking(&data.store, &name, OffsetDateTime::now_utc())?;
            println!("created API key `{name}`; it is shown only now:");
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Files(FilesCommand::Add {
            path,
            name,
            content_type,
            data,
        }) => {
            let config = Config::new(data.dir, "127.0.0.1:0".parse()?);
            let data = DataDir::open(&config)?;
            let raw_name = name.unwrap_or_else(|| {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let name = waybill::http::files::sanitize_file_name(&raw_name)
                .context("the file name has no usable characters; pass --name")?;
            let content_type = content_type
                .unwrap_or_else(|| waybill::files_cli::guess_content_type(&name).to_owned());
            let id = waybill::files_cli::add(
                &data.store,
                &path,
                &name,
                &content_type,
                config.upload_bytes_max,
            )?;
            println!(
                "stored {} as `{name}` ({content_type}); name it in a product or shipment within {} hours or it is collected:",
                path.display(),
                config.blob_grace_secs / 3600
            );
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Files(FilesCommand::Verify { data }) => {
            let config = Config::new(data.dir, "127.0.0.1:0".parse()?);
            let data = DataDir::open(&config)?;
            let (checked, problems) = waybill::files_cli::verify(&data.store)?;
            for p in &problems {
                println!("CORRUPT {}: {}", p.blob, p.problem);
            }
            println!("checked {checked} files: {} corrupt", problems.len());
            // Close the store before reporting failure: exiting with it open
            // would leave redb to repair the file at the next start.
            drop(data);
            Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plugins(PluginsCommand::Run {
            wasm,
            context,
            files,
            out,
            signing_key_hex,
            limits,
            cache_dir,
        }) => waybill::plugins::cli::run(&waybill::plugins::cli::RunArgs {
            wasm,
            context,
            files,
            out,
            signing_key_hex,
            limits: limits.limits(),
            cache_dir,
        }),
        Command::Plugins(PluginsCommand::Add { wasm, name, data }) => {
            let config = Config::new(data.dir, "127.0.0.1:0".parse()?);
            let name = match name {
                Some(name) => name,
                None => wasm
                    .file_stem()
                    .map(|s| s.to_string_lossy().replace('_', "-"))
                    .unwrap_or_default(),
            };
            let bytes =
                std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
            let data = DataDir::open(&config)
                .context("cannot open the data directory (stop the server, or use PUT /api/v1/plugins/{name})")?;
            let registry = server::registry(&config, &data.store)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let installed =
                runtime.block_on(registry.install(&name, bytes, OffsetDateTime::now_utc()));
            drop(registry);
            drop(data);
            match installed {
                Ok((record, created)) => {
                    println!(
                        "{} plugin `{}` version {} ({} bytes)",
                        if created { "installed" } else { "replaced" },
                        record.name,
                        record.hash,
                        record.size
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Plugins(PluginsCommand::List { data }) => {
            let config = Config::new(data.dir, "127.0.0.1:0".parse()?);
            let data = DataDir::open(&config)?;
            for p in data.store.read()?.plugins()? {
                println!(
                    "{}\t{}\t{} bytes\t{}",
                    p.name,
                    p.hash,
                    p.size,
                    if p.bundled { "bundled" } else { "installed" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::RotateSigning { data }) => {
            let config = Config::new(data.dir, "127.0.0.1:0".parse()?);
            // A running server would keep signing with the old key: refuse
            // while it holds the data directory.
            if config.db_path().exists() {
                drop(waybill::store::Store::open(&config.db_path()).context(
                    "stop the server before rotating the signing key, then start it again",
                )?);
            }
            let kid = KeyRing::rotate(&config.keys_dir())?;
            println!("new signing key {kid} is active; earlier links stay valid");
            println!("restart a running server to sign with it");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Installs the Ctrl-C and SIGTERM handlers now; the future resolves on either.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}
