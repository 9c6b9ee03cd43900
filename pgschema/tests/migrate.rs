//! Migrations against a real server: each test in a database of its own on
//! the cluster of TOLLGATE_TEST_PG_URL (skipped when unset, a failure
//! under CI).

use pgschema::{migrate, Applied, SchemaError};
use tokio_postgres::NoTls;

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// A fresh database (`pgschema::testing`), dropped with the guard.
struct Db(pgschema::testing::TestDb);

impl std::ops::Deref for Db {
    type Target = pgschema::testing::TestDb;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Db {
    async fn create() -> Option<Db> {
        pgschema::testing::TestDb::create().map(Db)
    }

    async fn tables(&self) -> Vec<String> {
        client(&self.url)
            .await
            .query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    async fn versions(&self) -> Vec<i32> {
        client(&self.url)
            .await
            .query(
                "SELECT version FROM refinery_schema_history ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

const ALL_TABLES: [&str; 7] = [
    "refinery_schema_history",
    "tollgate_accounts",
    "tollgate_cdrs",
    "tollgate_ops",
    "tollgate_sessions",
    "tollgate_switch_leases",
    "tollgate_tp",
];

#[test]
fn this_build_knows_v1_and_v2() {
    assert_eq!(
        pgschema::known(),
        [
            (1, "V1__accounts".to_string()),
            (2, "V2__cluster".to_string())
        ]
    );
    assert_eq!(pgschema::latest(), 2);
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let Some(db) = Db::create().await else { return };
    let first = migrate(&db.url).await.unwrap();
    assert_eq!(
        first,
        Applied {
            migrations: vec!["V1__accounts".into(), "V2__cluster".into()],
            version: 2
        }
    );
    assert_eq!(db.tables().await, ALL_TABLES);
    let again = migrate(&db.url).await.unwrap();
    assert_eq!(
        again,
        Applied {
            migrations: vec![],
            version: 2
        }
    );
    assert_eq!(db.versions().await, [1, 2]);
}

#[tokio::test]
async fn a_database_from_before_migrations_is_adopted() {
    let Some(db) = Db::create().await else { return };
    // What tollgate created inline before migrations, with an account in it.
    let c = client(&db.url).await;
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS tollgate_accounts (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, data TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS tollgate_accounts_tenant ON tollgate_accounts (tenant, id);
         CREATE TABLE IF NOT EXISTS tollgate_ops (id TEXT PRIMARY KEY, reply TEXT NOT NULL, created TIMESTAMPTZ NOT NULL DEFAULT now());
         CREATE INDEX IF NOT EXISTS tollgate_ops_created ON tollgate_ops (created);
         INSERT INTO tollgate_accounts VALUES ('t:a', 't', '{}');
         INSERT INTO tollgate_ops (id, reply) VALUES ('op-1', '\"OK\"');",
    )
    .await
    .unwrap();
    let applied = migrate(&db.url).await.unwrap();
    assert_eq!(applied.migrations, ["V1__accounts", "V2__cluster"]);
    assert_eq!(db.tables().await, ALL_TABLES);
    let row = c
        .query_one(
            "SELECT (SELECT count(*) FROM tollgate_accounts), (SELECT count(*) FROM tollgate_ops)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (1, 1));
}

#[tokio::test]
async fn a_database_ahead_of_this_build_is_refused() {
    let Some(db) = Db::create().await else { return };
    migrate(&db.url).await.unwrap();
    // A newer tollgate applied V3.
    client(&db.url)
        .await
        .batch_execute(
            "CREATE TABLE tollgate_future (x INT);
             INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (3, 'future', '2030-01-01T00:00:00Z', '12345');",
        )
        .await
        .unwrap();
    let e = migrate(&db.url).await.unwrap_err();
    assert!(
        matches!(e, SchemaError::Newer { found: 3, known: 2 }),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the database schema is at version 3, newer than this tollgate knows (2): \
         upgrade tollgate before starting it on this database"
    );
    // The lock was released: another call answers the same, at once.
    let again = tokio::time::timeout(std::time::Duration::from_secs(5), migrate(&db.url))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(again, SchemaError::Newer { .. }));
}

#[tokio::test]
async fn a_diverged_database_is_refused() {
    let Some(db) = Db::create().await else { return };
    migrate(&db.url).await.unwrap();
    client(&db.url)
        .await
        .batch_execute("UPDATE refinery_schema_history SET checksum = '1' WHERE version = 2")
        .await
        .unwrap();
    let e = migrate(&db.url).await.unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, SchemaError::Divergent { version: 2, .. }),
        "{e:?}"
    );
    assert!(
        text.starts_with("the database schema's version 2 was applied as cluster (checksum 1), but this tollgate has cluster (checksum "),
        "{text}"
    );
    assert!(text.contains("different build"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_nodes_migrating_a_fresh_database_at_once_all_succeed() {
    let Some(db) = Db::create().await else { return };
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { migrate(&url).await })
        })
        .collect();
    let mut applied = Vec::new();
    for c in calls {
        applied.push(c.await.unwrap().unwrap());
    }
    // One of them applied both; the others found the work done.
    assert!(applied.iter().all(|a| a.version == 2));
    assert_eq!(
        applied.iter().filter(|a| a.migrations.len() == 2).count(),
        1,
        "{applied:?}"
    );
    assert_eq!(
        applied.iter().filter(|a| a.migrations.is_empty()).count(),
        3
    );
    assert_eq!(db.versions().await, [1, 2]);
    assert_eq!(db.tables().await, ALL_TABLES);
}

#[tokio::test]
async fn an_unreachable_server_is_named() {
    let e = migrate("postgres://postgres@127.0.0.1:1/none")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("postgres: "), "{e}");
    assert!(e.to_lowercase().contains("refused"), "{e}");
}
