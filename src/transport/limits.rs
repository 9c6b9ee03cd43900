//! Connection cap and idle timeout for the HTTP listener, as an axum
//! [`Listener`]: beyond `max_connections` a connection is answered `503`
//! and closed at once; an accepted connection that neither reads nor
//! writes for `idle_timeout` fails with `TimedOut`, which makes hyper drop
//! it. Neither affects other connections.

use crate::metrics::ConnStats;
use crate::rpc::Api;
use axum::serve::Listener;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// A TCP listener that caps and times out its connections.
pub struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    per_address: PerAddress,
    idle: Duration,
    request_timeout: Duration,
    api: Arc<Api>,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, limits: super::tcp::Limits, api: Arc<Api>) -> Self {
        LimitedListener {
            inner,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            per_address: PerAddress::new(limits.max_connections_per_ip),
            idle: limits.idle_timeout,
            request_timeout: limits.request_timeout,
            api,
        }
    }

    fn stats(&self) -> &ConnStats {
        &self.api.metrics.http
    }
}

fn busy(per_address: bool) -> Vec<u8> {
    let body = format!(r#"{{"error":"{}"}}"#, too_many(per_address));
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Listener for LimitedListener {
    type Io = LimitedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LimitedIo, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let address_permit = self.per_address.try_acquire(addr.ip());
            let permit = match &address_permit {
                Some(_) => self.permits.clone().try_acquire_owned().ok(),
                None => None,
            };
            let (Some(address_permit), Some(permit)) = (address_permit, permit) else {
                self.stats().refused.fetch_add(1, Relaxed);
                let per_address = self.permits.available_permits() > 0;
                tracing::warn!(peer = %addr, per_address, "http connection refused: a connection cap is reached");
                tokio::spawn(async move {
                    let mut stream = stream;
                    let reply = busy(per_address);
                    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&reply))
                        .await;
                });
                continue;
            };
            let _ = stream.set_nodelay(true);
            self.stats().accepted.fetch_add(1, Relaxed);
            self.stats().open.fetch_add(1, Relaxed);
            return (
                LimitedIo {
                    stream,
                    _permit: permit,
                    _address_permit: address_permit,
                    idle: self.idle,
                    request_timeout: self.request_timeout,
                    request_deadline: None,
                    deadline: Box::pin(tokio::time::sleep(self.idle)),
                    api: self.api.clone(),
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection holding its slot until dropped.
pub struct LimitedIo {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    _address_permit: AddressPermit,
    idle: Duration,
    request_timeout: Duration,
    /// When the request being read must be complete: set by the first
    /// byte read after the last write (HTTP/1 alternates requests and
    /// responses), cleared when the server writes.
    request_deadline: Option<Instant>,
    deadline: Pin<Box<Sleep>>,
    api: Arc<Api>,
}

impl LimitedIo {
    /// Bytes arrived: the idle timer restarts, but never past the deadline
    /// of the request they belong to.
    fn touch_read(&mut self, got: usize) {
        let now = Instant::now();
        if got > 0 && self.request_deadline.is_none() {
            self.request_deadline = Some(now + self.request_timeout);
        }
        let idle = now + self.idle;
        let at = self.request_deadline.map_or(idle, |d| d.min(idle));
        self.deadline.as_mut().reset(at);
    }

    /// The server answered: the next byte read starts a new request.
    fn touch(&mut self) {
        self.request_deadline = None;
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

impl Drop for LimitedIo {
    fn drop(&mut self) {
        self.api.metrics.http.open.fetch_sub(1, Relaxed);
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "idle connection or request not complete in time",
    )
}

impl AsyncRead for LimitedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.touch_read(buf.filled().len() - before);
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for LimitedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_write(cx, data) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Connections open per client address (`listen.max_connections_per_ip`),
/// beside a listener's global cap, so one address cannot hold every slot.
/// An address is in the map only while it has connections open.
#[derive(Clone)]
pub struct PerAddress {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection counted against its address; released when dropped.
pub struct AddressPermit {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

fn lock_map(
    m: &Mutex<HashMap<IpAddr, usize>>,
) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
    // A panic while holding this lock cannot leave the counts half-changed.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PerAddress {
    pub fn new(max: usize) -> Self {
        PerAddress {
            max,
            open: Arc::default(),
        }
    }

    /// A permit for one more connection from `ip`, unless it has `max` open.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<AddressPermit> {
        let ip = ip.to_canonical();
        let mut open = lock_map(&self.open);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressPermit {
            ip,
            open: self.open.clone(),
        })
    }

    /// Addresses with connections open.
    pub fn addresses(&self) -> usize {
        lock_map(&self.open).len()
    }
}

impl Drop for AddressPermit {
    fn drop(&mut self) {
        let mut open = lock_map(&self.open);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The refusal text for a connection over a cap.
pub fn too_many(per_address: bool) -> &'static str {
    if per_address {
        "SERVER_ERROR: too many connections from this address, try again later"
    } else {
        "SERVER_ERROR: too many connections, try again later"
    }
}

#[cfg(test)]
mod per_address_tests {
    use super::*;

    #[test]
    fn counts_per_address_and_forgets_closed_ones() {
        let caps = PerAddress::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let p1 = caps.try_acquire(a).unwrap();
        let _p2 = caps.try_acquire(a).unwrap();
        assert!(caps.try_acquire(a).is_none());
        // The IPv4-mapped form is the same address.
        assert!(caps
            .try_acquire("::ffff:127.0.0.1".parse().unwrap())
            .is_none());
        let _q = caps.try_acquire(b).unwrap();
        drop(p1);
        let _p3 = caps.try_acquire(a).unwrap();
        assert_eq!(caps.addresses(), 2);
        drop(_q);
        assert_eq!(caps.addresses(), 1);
    }
}
