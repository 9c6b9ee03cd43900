//! Wiring: engine state, registry, listeners, signals and the graceful
//! shutdown sequence.
//!
//! Shutdown (SIGINT or SIGTERM): first the drain, `listen.drain` long,
//! during which `GET /health` answers `503 draining` while the node goes on
//! accepting and serving as before, so that a load balancer checking health
//! takes it out of rotation without a request failing; then the listeners
//! stop accepting; each connection answers the requests it already read and
//! closes; once every connection is done, [`AppState::shutdown`] releases
//! the calls and flushes the stores; then the process exits.

use crate::api;
use crate::config::Config;
use crate::rpc::Api;
use crate::state::{AppState, StartError};
use crate::transport::tcp::Limits;
use crate::transport::{http, tcp, Shutdown};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use thiserror::Error;
use tokio::net::TcpListener;

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot listen on {key} {addr}: {source}")]
    Bind {
        key: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("shutdown: {0}")]
    Shutdown(String),
}

/// A started server.
pub struct Running {
    /// Bound address of the raw TCP JSON-RPC listener (real port if 0 was asked).
    pub rpc_json: Option<SocketAddr>,
    /// Bound address of the HTTP listener.
    pub http: Option<SocketAddr>,
    pub api: Arc<Api>,
    shutdown: Shutdown,
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { key, addr, source })
}

/// Loads the state, binds the listeners and starts serving.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    let listen = config.listen.clone();
    let state = AppState::open(config).await?;
    let api = Arc::new(Api::new(Arc::new(state), api::registry()));
    let limits = Limits {
        idle_timeout: listen.idle_timeout,
        max_connections: listen.max_connections,
        max_connections_per_ip: listen.max_connections_per_ip,
        request_timeout: listen.request_timeout,
    };
    let shutdown = Shutdown::default();
    let mut running = Running {
        rpc_json: None,
        http: None,
        api: api.clone(),
        shutdown: shutdown.clone(),
    };
    if let Some(addr) = listen.rpc_json {
        let listener = bind("listen.rpc_json", addr).await?;
        running.rpc_json = listener.local_addr().ok();
        shutdown
            .tracker
            .spawn(tcp::serve(listener, api.clone(), limits, shutdown.clone()));
    }
    if let Some(addr) = listen.http {
        let listener = bind("listen.http", addr).await?;
        running.http = listener.local_addr().ok();
        shutdown
            .tracker
            .spawn(http::serve(listener, api.clone(), limits, shutdown.clone()));
    }
    Ok(running)
}

impl Running {
    /// Serves until `signal` completes, then drains for `listen.drain`
    /// and shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), ServerError> {
        signal.await;
        let drain = self.api.state.config.listen.drain;
        self.api.state.health.start_draining();
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "draining: /health answers 503, still serving"
        );
        tokio::time::sleep(drain).await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        self.shutdown.token.cancel();
        self.shutdown.tracker.close();
        self.shutdown.tracker.wait().await;
        self.api
            .state
            .shutdown()
            .await
            .map_err(ServerError::Shutdown)?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed
/// when this is called, not when the future is first polled: call it
/// before announcing the listeners, so that a signal sent as soon as they
/// are known starts the graceful stop instead of killing the process.
/// Must be called within the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {},
                _ = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
