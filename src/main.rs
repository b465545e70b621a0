//! The `latchkey` binary: parse the command line, load configuration, set up
//! logging, serve until SIGINT or SIGTERM.

use clap::Parser;
use latchkey::cli::{Cli, Command};
use latchkey::commands::{self, AccountCommand};
use latchkey::config::Config;
use latchkey::logging::{self, LogSetup};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything is created: the data dir, restores, TLS files.
    latchkey::keep_created_files_private();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("latchkey: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let config = Config::load(&cli.config_file(), &cli.overrides()).map_err(|e| e.to_string())?;
    let serving = matches!(cli.command, None | Some(Command::Serve));
    // The server logs at info through a queue that never blocks a request;
    // admin commands print their result on stdout and keep stderr, written
    // directly, for warnings.
    let _log = logging::init(LogSetup {
        format: config.log.format,
        access: config.log.access,
        default_level: if serving { "info" } else { "warn" },
        queue_lines: serving.then_some(config.log.queue_lines),
    });
    config.warn_deprecated();
    match cli.command {
        None | Some(Command::Serve) => serve(config),
        Some(Command::User(c)) => commands::run(config, AccountCommand::User(c), cli.json),
        Some(Command::Token(c)) => commands::run(config, AccountCommand::Token(c), cli.json),
        Some(Command::Keys(c)) => commands::run(config, AccountCommand::Keys(c), cli.json),
        Some(Command::Check) => commands::check(config, cli.json),
        Some(Command::Backup { file }) => commands::backup(config, &file, cli.json),
        Some(Command::Restore { file }) => commands::restore(config, &file, cli.json),
        Some(Command::Tls(c)) => commands::tls(&config, c, cli.json),
    }
}

fn serve(config: Config) -> Result<(), String> {
    if config.password.scrypt_is_weak() {
        tracing::warn!(
            log_n = config.password.scrypt_log_n,
            r = config.password.scrypt_r,
            p = config.password.scrypt_p,
            "scrypt parameters are weaker than OWASP ASVS recommends"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let scheme = if config.tls.files().is_some() {
        "https"
    } else {
        "http"
    };
    runtime.spawn(logging::report_dropped_lines());
    runtime.block_on(async {
        let store = latchkey::open_store(&config).map_err(|e| e.to_string())?;
        let (addr, server) = latchkey::serve(config, store, shutdown_signal()?)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!("listening on {scheme}://{addr}");
        server
            .await
            .map_err(|e| format!("server task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        tracing::info!("stopped; store flushed");
        Ok(())
    })
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed here, before
/// the server starts, so a signal sent the moment "listening on" is logged
/// already means a clean stop rather than the default (die unflushed).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind| signal(kind).map_err(|e| format!("cannot handle signals: {e}"));
        let mut interrupt = install(SignalKind::interrupt())?;
        let mut terminate = install(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
}
