//! A fresh PostgreSQL database per test on the cluster named by
//! `TOLLGATE_TEST_PG_URL` (scripts/test.sh starts one), with the tables
//! tollgate expects to find; dropped with the guard. A TCP proxy in front
//! of it, to make the database unreachable and reachable again.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A database of its own for one test, with tollgate's schema (see
/// `pgschema::testing`); dropped with the guard.
pub struct PgDb(pgschema::testing::TestDb);

impl std::ops::Deref for PgDb {
    type Target = pgschema::testing::TestDb;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl PgDb {
    /// `None` (skip) without a test cluster; a failure under CI.
    pub fn create() -> Option<PgDb> {
        pgschema::testing::TestDb::migrated().map(PgDb)
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
