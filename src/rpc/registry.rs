//! The one method registry every transport calls: raw TCP JSON-RPC,
//! `POST /jsonrpc` and the HTTP GET endpoints all end in
//! [`Registry::call`], so no method is written twice.
//!
//! A method is a function of the shared [`AppState`] and the request's
//! single parameter, returning something `Serialize` or an [`ApiError`].
//! Three kinds, by what the function does:
//!
//! - [`RegistryBuilder::sync`]: pure CPU work that finishes in
//!   microseconds (GetCost); called inline on the connection's task.
//! - [`RegistryBuilder::sync_or_blocking`]: CPU work whose size the
//!   request decides (GetCost rates as many hours as it is asked): called
//!   inline, where the function may answer [`Ran::Offload`] after a cheap
//!   look at the request, and is then called again on the blocking pool,
//!   so a long request never holds a runtime worker.
//! - [`RegistryBuilder::blocking`]: file or database I/O done with
//!   blocking calls (fsync); run on tokio's blocking pool.
//! - [`RegistryBuilder::asynchronous`]: an `async` function.
//!
//! Names follow Go `net/rpc`: `Service.Method`, case-sensitive. A service
//! exists when at least one of its methods is registered, which decides
//! between `rpc: can't find service X` and `rpc: can't find method X`.

use super::error::{ApiError, ErrorClass};
use super::params::Obj;
use crate::metrics::MethodStats;
use crate::state::AppState;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The single parameter of a request (`params[0]` in JSON-RPC 1.0).
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    raw: &'a RawValue,
}

impl<'a> Params<'a> {
    pub fn new(raw: &'a RawValue) -> Self {
        Params { raw }
    }

    /// The parameter as sent (`null` when the request had none).
    pub fn raw(&self) -> &'a RawValue {
        self.raw
    }

    /// The parameter as an object with case-insensitive fields; `type_name`
    /// is the Go struct name shown in type errors (`CallDescriptor`).
    pub fn obj(&self, type_name: &'static str) -> Result<Obj<'a>, ApiError> {
        Obj::parse(self.raw, type_name)
    }
}

/// The JSON text of a successful result.
pub type Json = Vec<u8>;

type SyncFn = dyn Fn(&AppState, Params<'_>, &mut Vec<u8>) -> Result<(), ApiError> + Send + Sync;
/// What a [`RegistryBuilder::sync_or_blocking`] method did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// It answered.
    Done,
    /// It did nothing: the request is too big to run on a runtime worker.
    /// Only answered when called with `inline == true`.
    Offload,
}

type SizedFn =
    dyn Fn(&AppState, Params<'_>, &mut Vec<u8>, bool) -> Result<Ran, ApiError> + Send + Sync;
type AsyncFn = dyn Fn(Arc<AppState>, Box<RawValue>) -> BoxFuture<'static, Result<Json, ApiError>>
    + Send
    + Sync;

#[derive(Clone)]
enum Handler {
    Sync(Arc<SyncFn>),
    Sized(Arc<SizedFn>),
    Async(Arc<AsyncFn>),
}

struct Method {
    handler: Handler,
    stats: MethodStats,
}

/// Collects methods, then [`build`](RegistryBuilder::build)s the registry.
#[derive(Default)]
pub struct RegistryBuilder {
    methods: Vec<(String, Handler)>,
}

fn write_json<R: Serialize>(out: &mut Vec<u8>, value: &R) -> Result<(), ApiError> {
    serde_json::to_writer(out, value).map_err(ApiError::server)
}

fn owned(raw: &RawValue) -> Box<RawValue> {
    // Copying valid JSON text cannot fail.
    RawValue::from_string(raw.get().to_string()).expect("raw JSON stays valid")
}

impl RegistryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&mut self, names: &[&str], handler: Handler) {
        for name in names {
            assert!(
                name.contains('.'),
                "method {name:?} must be named Service.Method"
            );
            assert!(
                !self.methods.iter().any(|(n, _)| n == name),
                "method {name} registered twice"
            );
            self.methods.push((name.to_string(), handler.clone()));
        }
    }

    /// A method that computes its answer in microseconds without I/O.
    /// Every name in `names` is an alias of the same function.
    pub fn sync<F, R>(&mut self, names: &[&str], f: F) -> &mut Self
    where
        F: Fn(&AppState, Params<'_>) -> Result<R, ApiError> + Send + Sync + 'static,
        R: Serialize,
    {
        let handler = move |state: &AppState, params: Params<'_>, out: &mut Vec<u8>| {
            write_json(out, &f(state, params)?)
        };
        self.add(names, Handler::Sync(Arc::new(handler)));
        self
    }

    /// Like [`sync`](Self::sync), for a method that appends its result's
    /// JSON to `out` itself (a hand-written serializer on a hot path). On
    /// error whatever it appended is discarded.
    pub fn sync_json<F>(&mut self, names: &[&str], f: F) -> &mut Self
    where
        F: Fn(&AppState, Params<'_>, &mut Vec<u8>) -> Result<(), ApiError> + Send + Sync + 'static,
    {
        self.add(names, Handler::Sync(Arc::new(f)));
        self
    }

    /// Like [`sync_json`](Self::sync_json), for a method whose work grows
    /// with the request. It is first called with `inline == true` on the
    /// connection's task; it answers [`Ran::Offload`] (having appended
    /// nothing) when the request is too big for that, and is then called
    /// with `inline == false` on the blocking pool.
    pub fn sync_or_blocking<F>(&mut self, names: &[&str], f: F) -> &mut Self
    where
        F: Fn(&AppState, Params<'_>, &mut Vec<u8>, bool) -> Result<Ran, ApiError>
            + Send
            + Sync
            + 'static,
    {
        self.add(names, Handler::Sized(Arc::new(f)));
        self
    }

    /// A method doing blocking I/O (files, fsync); it runs on the blocking pool.
    pub fn blocking<F, R>(&mut self, names: &[&str], f: F) -> &mut Self
    where
        F: Fn(&AppState, Params<'_>) -> Result<R, ApiError> + Send + Sync + 'static,
        R: Serialize,
    {
        let f = Arc::new(f);
        let handler = move |state: Arc<AppState>, raw: Box<RawValue>| {
            let f = f.clone();
            let fut = async move {
                let task = tokio::task::spawn_blocking(move || {
                    let mut out = Vec::new();
                    write_json(&mut out, &f(&state, Params::new(&raw))?)?;
                    Ok(out)
                });
                task.await
                    .unwrap_or_else(|e| Err(ApiError::server(format!("method failed: {e}"))))
            };
            Box::pin(fut) as BoxFuture<'static, Result<Json, ApiError>>
        };
        self.add(names, Handler::Async(Arc::new(handler)));
        self
    }

    /// An `async` method. It receives its own copy of the parameter.
    pub fn asynchronous<F, Fut, R>(&mut self, names: &[&str], f: F) -> &mut Self
    where
        F: Fn(Arc<AppState>, Box<RawValue>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ApiError>> + Send + 'static,
        R: Serialize,
    {
        let handler = move |state: Arc<AppState>, raw: Box<RawValue>| {
            let fut = f(state, raw);
            Box::pin(async move {
                let mut out = Vec::new();
                write_json(&mut out, &fut.await?)?;
                Ok(out)
            }) as BoxFuture<'static, Result<Json, ApiError>>
        };
        self.add(names, Handler::Async(Arc::new(handler)));
        self
    }

    pub fn build(self) -> Registry {
        let services = self
            .methods
            .iter()
            .filter_map(|(n, _)| n.rsplit_once('.').map(|(s, _)| s.to_string()))
            .collect();
        let methods = self
            .methods
            .into_iter()
            .map(|(name, handler)| {
                (
                    name,
                    Method {
                        handler,
                        stats: MethodStats::default(),
                    },
                )
            })
            .collect();
        Registry { methods, services }
    }
}

/// The error that replaces a result over `limits.max_reply_bytes`.
pub fn reply_too_large(max: usize) -> ApiError {
    ApiError::server(format!("reply larger than {max} bytes"))
}

/// Every method the server answers, by `Service.Method`.
pub struct Registry {
    methods: HashMap<String, Method>,
    services: HashSet<String>,
}

impl Registry {
    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.methods.contains_key(name)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.methods.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Per-method statistics, for `/metrics`.
    pub fn stats(&self) -> impl Iterator<Item = (&str, &MethodStats)> {
        let mut v: Vec<_> = self
            .methods
            .iter()
            .map(|(n, m)| (n.as_str(), &m.stats))
            .collect();
        v.sort_unstable_by_key(|(n, _)| *n);
        v.into_iter()
    }

    fn lookup(&self, name: &str) -> Result<&Method, ApiError> {
        if let Some(m) = self.methods.get(name) {
            return Ok(m);
        }
        match name.rsplit_once('.') {
            None => Err(ApiError::IllFormed(name.to_string())),
            Some((service, _)) if self.services.contains(service) => {
                Err(ApiError::NoMethod(name.to_string()))
            }
            Some(_) => Err(ApiError::NoService(name.to_string())),
        }
    }

    /// Calls method `name` with `params` and appends the JSON of its result
    /// to `out`. On error `out` is left as it was. Counts the request in the
    /// method's statistics (or `unknown` for an unknown name).
    pub async fn call(
        &self,
        state: &Arc<AppState>,
        unknown: &MethodStats,
        name: &str,
        params: &RawValue,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let started = Instant::now();
        let method = match self.lookup(name) {
            Ok(m) => m,
            Err(e) => {
                unknown.record(Some(e.class()), started.elapsed());
                tracing::debug!(method = name, error = %e, "unknown method");
                return Err(e);
            }
        };
        let span = tracing::debug_span!("rpc", method = name);
        let mark = out.len();
        let result = match &method.handler {
            Handler::Sync(f) => {
                let _entered = span.enter();
                f(state, Params::new(params), out)
            }
            Handler::Sized(f) => {
                let ran = {
                    let _entered = span.enter();
                    f(state, Params::new(params), out, true)
                };
                match ran {
                    Ok(Ran::Done) => Ok(()),
                    Err(e) => Err(e),
                    Ok(Ran::Offload) => {
                        let (f, state, raw) = (f.clone(), state.clone(), owned(params));
                        let inner = span.clone();
                        tokio::task::spawn_blocking(move || {
                            let _entered = inner.enter();
                            let mut json = Vec::new();
                            f(&state, Params::new(&raw), &mut json, false).map(|_| json)
                        })
                        .await
                        .unwrap_or_else(|e| Err(ApiError::server(format!("method failed: {e}"))))
                        .map(|json| out.extend_from_slice(&json))
                    }
                }
            }
            Handler::Async(f) => f(state.clone(), owned(params))
                .instrument(span.clone())
                .await
                .map(|json| out.extend_from_slice(&json)),
        };
        let max = state.config.limits.max_reply_bytes;
        let result = match result {
            Ok(()) if out.len() - mark > max => {
                tracing::warn!(
                    method = name,
                    bytes = out.len() - mark,
                    max,
                    "reply over limits.max_reply_bytes"
                );
                Err(reply_too_large(max))
            }
            other => other,
        };
        let class = result.as_ref().err().map(ApiError::class);
        method.stats.record(class, started.elapsed());
        if let Err(e) = &result {
            out.truncate(mark);
            if out.capacity() > 2 * mark.max(1 << 20) {
                // Do not keep the memory of a refused huge reply.
                out.shrink_to(mark.max(16 * 1024));
            }
            let _entered = span.enter();
            match e.class() {
                ErrorClass::Server => tracing::warn!(error = %e, "request failed"),
                _ => tracing::debug!(error = %e, "request refused"),
            }
        }
        result
    }
}
