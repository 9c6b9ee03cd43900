//! `rpc-load`: a load driver for tollgate's raw TCP JSON-RPC port, and a
//! bare JSON echo server speaking the same codec as the ceiling to compare
//! against.
//!
//! ```text
//! rpc-load --addr 127.0.0.1:2001 --connections 32 --depth 4 --duration 10s
//! rpc-load --echo-server --listen 127.0.0.1:2002
//! rpc-load --addr 127.0.0.1:2002 ...            # the same load against the echo server
//! ```
//!
//! Each connection keeps `--depth` requests in flight (pipelining: one
//! write carries every request that the last read freed), measures each
//! request's latency from the write that carried it to the read that
//! brought its reply, and counts replies whose `error` is not `null` as
//! failures. After `--warmup` it measures for `--duration` and prints
//! requests/s, p50/p90/p99/max latency and failures.

use clap::Parser;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Parser)]
#[command(
    name = "rpc-load",
    about = "Load driver and echo server for JSON-RPC over raw TCP"
)]
struct Args {
    /// Server to load.
    #[arg(long, default_value = "127.0.0.1:2001")]
    addr: SocketAddr,
    /// Connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 4)]
    depth: usize,
    /// Measured time, in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured time before, in seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Worker threads of the driver (or of the echo server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Method to call.
    #[arg(long, default_value = "Responder.GetCost")]
    method: String,
    /// Its parameter object.
    #[arg(
        long,
        default_value = r#"{"Tenant":"vdf","Category":"call","Subject":"rif","Account":"rif","Destination":"0256","TimeStart":"2012-02-02T17:30:00Z","TimeEnd":"2012-02-02T17:31:00Z"}"#
    )]
    params: String,
    /// Spread the requests over this many accounts: `{account}` in
    /// `--params` becomes `bench0` … `bench<N-1>`, in turn on each
    /// connection (for debits over many accounts).
    #[arg(long)]
    accounts: Option<usize>,
    /// Serve a bare JSON echo server instead (answers each request with its params).
    #[arg(long)]
    echo_server: bool,
    /// Where the echo server listens.
    #[arg(long, default_value = "127.0.0.1:2002")]
    listen: SocketAddr,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    if args.echo_server {
        runtime.block_on(echo_server(args.listen));
    } else {
        runtime.block_on(load(args));
    }
}

// ---------------------------------------------------------------- driver

struct ConnResult {
    latencies_us: Vec<u32>,
    failures: u64,
    first_failure: Option<String>,
}

async fn load(args: Args) {
    let variants: Vec<Vec<u8>> = match args.accounts {
        None => vec![args.params.clone()],
        Some(n) => (0..n.max(1))
            .map(|i| args.params.replace("{account}", &format!("bench{i}")))
            .collect(),
    }
    .into_iter()
    .map(|p| {
        let params: serde_json::Value = serde_json::from_str(&p).expect("--params is JSON");
        let request = serde_json::json!({"id": 1, "method": args.method, "params": [params]});
        (request.to_string() + "\n").into_bytes()
    })
    .collect();
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(variants);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let stream = TcpStream::connect(args.addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        tasks.push(tokio::spawn(connection(
            stream,
            Requests {
                all: requests.clone(),
                next: c,
            },
            args.depth,
            measuring.clone(),
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut all: Vec<u32> = Vec::new();
    let mut failures = 0;
    let mut first_failure = None;
    for t in tasks {
        let r = t.await.expect("connection task");
        all.extend(r.latencies_us);
        failures += r.failures;
        first_failure = first_failure.or(r.first_failure);
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i] as f64 / 1000.0
    };
    let rate = all.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{} {} connections x {} in flight, {:.1}s: {} requests, {:.0} req/s, latency ms p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}, failures {}",
        args.method,
        args.connections,
        args.depth,
        elapsed.as_secs_f64(),
        all.len(),
        rate,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
        failures
    );
    if let Some(f) = first_failure {
        println!("first failure: {f}");
    }
    if failures > 0 {
        std::process::exit(1);
    }
}

/// The requests a connection sends, in turn.
struct Requests {
    all: Arc<Vec<Vec<u8>>>,
    next: usize,
}

impl Requests {
    fn push_next(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.all[self.next % self.all.len()]);
        self.next = self.next.wrapping_add(1);
    }
}

async fn connection(
    mut stream: TcpStream,
    mut requests: Requests,
    depth: usize,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> ConnResult {
    let mut result = ConnResult {
        latencies_us: Vec::with_capacity(1 << 16),
        failures: 0,
        first_failure: None,
    };
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(depth);
    let mut out: Vec<u8> = Vec::with_capacity(requests.all[0].len() * depth);
    let mut buf: Vec<u8> = Vec::with_capacity(256 * 1024);
    // Fill the window.
    for _ in 0..depth {
        requests.push_next(&mut out);
    }
    let now = Instant::now();
    for _ in 0..depth {
        sent.push_back(now);
    }
    if stream.write_all(&out).await.is_err() {
        return result;
    }
    let mut stopping = false;
    loop {
        buf.reserve(64 * 1024);
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let now = Instant::now();
        let measure = measuring.load(Ordering::Relaxed);
        let mut start = 0;
        let mut freed = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[start..]) {
            let reply = &buf[start..start + nl];
            start += nl + 1;
            let Some(t0) = sent.pop_front() else { break };
            freed += 1;
            if memchr::memmem::find(reply, b"\"error\":null").is_none() {
                result.failures += 1;
                if result.first_failure.is_none() {
                    result.first_failure = Some(String::from_utf8_lossy(reply).into_owned());
                }
            }
            if measure && !stopping {
                let us = now.duration_since(t0).as_micros().min(u32::MAX as u128) as u32;
                result.latencies_us.push(us);
            }
        }
        buf.drain(..start);
        if !stopping && stop.load(Ordering::Relaxed) {
            stopping = true;
        }
        if stopping {
            if sent.is_empty() {
                break;
            }
            continue;
        }
        if freed > 0 {
            out.clear();
            for _ in 0..freed {
                requests.push_next(&mut out);
            }
            let now = Instant::now();
            for _ in 0..freed {
                sent.push_back(now);
            }
            if stream.write_all(&out).await.is_err() {
                break;
            }
        }
    }
    result
}

// ----------------------------------------------------------- echo server

/// Answers every request `{"id":X,"method":…,"params":[P]}` with
/// `{"id":X,"result":[P],"error":null}` and a newline: the JSON-RPC framing,
/// parsing and socket work of a server with no method behind it.
async fn echo_server(listen: SocketAddr) {
    let listener = TcpListener::bind(listen).await.expect("bind");
    println!(
        "rpc-load: echo server listening on {}",
        listener.local_addr().unwrap()
    );
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(echo_connection(stream));
    }
}

#[derive(serde::Deserialize)]
struct EchoRequest<'a> {
    #[serde(borrow)]
    id: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    params: Option<&'a serde_json::value::RawValue>,
}

async fn echo_connection(mut stream: TcpStream) {
    stream.set_nodelay(true).ok();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let mut start = 0;
        loop {
            let mut it =
                serde_json::Deserializer::from_slice(&buf[start..]).into_iter::<EchoRequest>();
            match it.next() {
                None => {
                    start = buf.len();
                    break;
                }
                Some(Ok(req)) => {
                    out.extend_from_slice(b"{\"id\":");
                    out.extend_from_slice(req.id.map_or("null", |r| r.get()).as_bytes());
                    out.extend_from_slice(b",\"result\":");
                    out.extend_from_slice(req.params.map_or("null", |r| r.get()).as_bytes());
                    out.extend_from_slice(b",\"error\":null}\n");
                    start += it.byte_offset();
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => return,
            }
        }
        buf.drain(..start);
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        buf.reserve(32 * 1024);
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
