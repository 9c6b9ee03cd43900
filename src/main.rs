//! The `tollgate` binary: `serve` (the default) and the console commands.

use anyhow::{Context, Result};
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use tollgate::cli::{client, requests, Cli, Command, Conn, ServeArgs};
use tollgate::config::Config;
use tollgate::server;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeArgs::default()));
    let result = match command {
        Command::Serve(args) => serve(&args),
        Command::Rpc(args) => requests::rpc(&args.method, &args.params)
            .map_err(Into::into)
            .and_then(|(m, p)| console(&args.conn, &m, &p)),
        Command::Cost(args) => requests::cost(&args, chrono::Utc::now())
            .map_err(Into::into)
            .and_then(|(m, p)| console(&args.conn, &m, &p)),
        Command::Balance(args) => {
            let (m, p) = requests::balance(&args);
            console(&args.conn, &m, &p)
        }
        Command::LoadTp(args) => requests::load_tp(&args)
            .map_err(Into::into)
            .and_then(|(m, p)| console(&args.conn, &m, &p)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &ServeArgs) -> Result<()> {
    let config = Config::load(&args.config)?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        // Before the addresses are printed: a signal sent as soon as they
        // are known must find its handler.
        let signal = server::shutdown_signal();
        let running = server::start(config).await?;
        let mut stdout = std::io::stdout();
        if let Some(a) = running.rpc_json {
            writeln!(stdout, "tollgate: rpc_json listening on {a}")?;
        }
        if let Some(a) = running.http {
            writeln!(stdout, "tollgate: http listening on {a}")?;
        }
        stdout.flush()?;
        tracing::info!(rpc_json = ?running.rpc_json, http = ?running.http, "serving");
        running.run_until(signal).await?;
        Ok(())
    })
}

/// Sends one request to a running server and prints the reply.
fn console(conn: &Conn, method: &str, params: &serde_json::Value) -> Result<()> {
    let timeout = rater::duration::parse_duration(&conn.timeout)
        .ok()
        .and_then(|d| d.to_std().ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(10));
    match client::call(&conn.addr, timeout, method, params) {
        Ok(result) => {
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }
        Err(client::ClientError::Rpc(message)) if message.starts_with("rpc: can't find") => {
            anyhow::bail!("{message} (this server does not offer {method})")
        }
        Err(e) => Err(e.into()),
    }
}
