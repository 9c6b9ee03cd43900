//! A fresh PostgreSQL database per test on the cluster named by
//! `TOLLGATE_TEST_PG_URL` (scripts/test.sh starts one), with the tables
//! tollgate expects to find; dropped with the guard. A TCP proxy in front
//! of it, to make the database unreachable and reachable again.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::NoTls;

/// The test cluster's URL; `None` (skip) when unset, a failure under CI.
pub fn pg_url() -> Option<String> {
    match std::env::var("TOLLGATE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the PostgreSQL tests: TOLLGATE_TEST_PG_URL is not set"
            );
            eprintln!("TOLLGATE_TEST_PG_URL not set: skipping the PostgreSQL tests (scripts/test.sh sets it)");
            None
        }
    }
}

/// Runs `sql` on `url`, on a runtime of its own (callable from anywhere,
/// async tests included).
pub fn execute(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
            tokio::spawn(conn);
            client.batch_execute(&sql).await.unwrap();
        });
    })
    .join()
    .unwrap();
}

/// Brings `url`'s schema up to date (`pgschema`), as a starting node does.
pub fn migrate(url: &str) {
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(pgschema::migrate(&url)).unwrap();
    })
    .join()
    .unwrap();
}

/// A database of its own for one test.
pub struct PgDb {
    admin_url: String,
    name: String,
    /// `postgres://…/<name>`.
    pub url: String,
}

impl PgDb {
    /// Creates the database with tollgate's schema; `None` without a cluster.
    pub fn create() -> Option<PgDb> {
        let admin_url = pg_url()?;
        let name = format!("tollgate_t{}_{}", std::process::id(), fastrand::u64(..));
        execute(&admin_url, &format!("CREATE DATABASE {name}"));
        let (base, _) = admin_url.rsplit_once('/').expect("URL ends in /database");
        let url = format!("{base}/{name}");
        migrate(&url);
        Some(PgDb {
            admin_url,
            name,
            url,
        })
    }

    /// The URL of this database through `addr` (a proxy) instead.
    pub fn url_via(&self, addr: SocketAddr) -> String {
        let (scheme_user, rest) = self.url.split_once('@').expect("user@host in the URL");
        let (_, db) = rest.split_once('/').expect("host/db");
        format!("{scheme_user}@{addr}/{db}")
    }

    /// The database's `host:port`.
    pub fn addr(&self) -> SocketAddr {
        let (_, rest) = self.url.split_once('@').expect("user@host in the URL");
        let (host, _) = rest.split_once('/').expect("host/db");
        host.parse().expect("host:port")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            execute(
                &url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
        })
        .join();
    }
}

/// A TCP proxy on `listen` to `target`, until stopped: then the listener
/// is closed and every connection through it cut.
pub struct Proxy {
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(listen: SocketAddr, target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(listen).expect("proxy port free");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, conns2) = (stop.clone(), conns.clone());
        let acceptor = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let mut list = conns2.lock().unwrap();
                for s in [&client, &server] {
                    list.push(s.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy {
            stop,
            conns,
            acceptor: Some(acceptor),
        }
    }

    /// Closes the listener and cuts every connection.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.halt();
    }
}
