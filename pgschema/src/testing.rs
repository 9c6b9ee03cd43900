//! Throwaway databases for tests (feature `testing`): each test works in a
//! database of its own on the PostgreSQL cluster named by
//! `TOLLGATE_TEST_PG_URL` (`scripts/test.sh` starts one), created empty
//! and dropped with its guard. Without that variable the tests skip, but
//! never under CI (`CI` set), where its absence is a failure.

use tokio_postgres::NoTls;

/// The test cluster's URL; `None` (skip) when unset, a failure under CI.
pub fn cluster_url() -> Option<String> {
    match std::env::var("TOLLGATE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the PostgreSQL tests: TOLLGATE_TEST_PG_URL is not set"
            );
            eprintln!("TOLLGATE_TEST_PG_URL not set: skipping the PostgreSQL tests (scripts/test.sh sets it)");
            None
        }
    }
}

/// A database of its own for one test, dropped (with its connections)
/// when the guard is.
pub struct TestDb {
    /// The cluster's URL (its `postgres` database).
    pub admin_url: String,
    pub name: String,
    /// `postgres://…/<name>`.
    pub url: String,
}

/// Runs `sql` on `url` on a thread and runtime of its own (callable from
/// anywhere, async code included). Panics on failure: tests only.
pub fn execute(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, NoTls)
                .await
                .expect("connect to the test cluster");
            tokio::spawn(conn);
            client.batch_execute(&sql).await.expect("test SQL");
        });
    })
    .join()
    .expect("the SQL thread");
}

impl TestDb {
    /// An empty database; `None` without a test cluster.
    pub fn create() -> Option<TestDb> {
        let admin_url = cluster_url()?;
        let name = format!(
            "tollgate_t{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        execute(&admin_url, &format!("CREATE DATABASE {name}"));
        let (base, _) = admin_url.rsplit_once('/').expect("URL ends in /database");
        let url = format!("{base}/{name}");
        Some(TestDb {
            admin_url,
            name,
            url,
        })
    }

    /// A database with tollgate's schema ([`crate::migrate`]).
    pub fn migrated() -> Option<TestDb> {
        let db = TestDb::create()?;
        let url = db.url.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(crate::migrate(&url)).expect("migrate");
        })
        .join()
        .expect("the migration thread");
        Some(db)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Best effort: a failed drop leaves a database behind, not a failure.
        let _ = std::thread::spawn(move || {
            execute(
                &url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
        })
        .join();
    }
}
