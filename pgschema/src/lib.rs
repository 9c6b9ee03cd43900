//! tollgate's PostgreSQL schema as versioned migrations, embedded in the
//! binary from `pgschema/migrations/` (`V<n>__<name>.sql`) and applied
//! with refinery, which records each applied version, its name and a
//! checksum of its text in `refinery_schema_history`.
//!
//! [`migrate`] brings a database up to the latest version this build
//! knows. Several nodes starting at once take turns: each holds a
//! session-level advisory lock ([`LOCK_KEY`], the key tollgate has always
//! taken around its schema) on its own connection while it checks and
//! applies, so the second finds the work done. It refuses, changing
//! nothing, a database that is ahead of this build (a version applied
//! that it does not know: an older tollgate must not write to a schema it
//! does not understand) or that diverged from it (a version applied with
//! another name or text).
//!
//! V1 is the schema tollgate created inline before migrations existed,
//! with `IF NOT EXISTS`, so a database made by such a tollgate is adopted:
//! V1 applies without error and records itself.

use std::error::Error as StdError;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

#[cfg(feature = "testing")]
pub mod testing;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The advisory lock (session level, bigint key space) held while
/// migrating.
pub const LOCK_KEY: i64 = 7220319;

/// Refinery's table of applied versions.
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// Connect timeout used when the URL sets none.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The migrations this call applied (`V2__cluster`…), oldest first;
    /// empty when the database was already current.
    pub migrations: Vec<String>,
    /// The schema version the database is at now.
    pub version: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Connecting, or a statement around the migrations, failed.
    #[error("postgres: {0}")]
    Postgres(String),
    #[error(
        "the database schema is at version {found}, newer than this tollgate knows ({known}): \
         upgrade tollgate before starting it on this database"
    )]
    Newer { found: u32, known: u32 },
    #[error(
        "the database schema's version {version} was applied as {applied}, but this tollgate has \
         {ours}: the database was migrated by a different build of tollgate; run a build whose \
         migrations match it"
    )]
    Divergent {
        version: u32,
        /// `name (checksum …)` as recorded.
        applied: String,
        /// `name (checksum …)` as this build has it, or `no such migration`.
        ours: String,
    },
    /// The history table holds a row this build cannot read.
    #[error("the database's {HISTORY_TABLE} is damaged: {0}")]
    History(String),
    /// Applying a migration failed (its transaction was rolled back).
    #[error("schema migration failed: {0}")]
    Migration(String),
}

/// Names of the migrations this build has, with their versions, oldest first.
pub fn known() -> Vec<(u32, String)> {
    let mut all: Vec<(u32, String)> = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| (m.version(), m.to_string()))
        .collect();
    all.sort();
    all
}

/// The newest schema version this build knows.
pub fn latest() -> u32 {
    known().last().map(|(v, _)| *v).unwrap_or(0)
}

/// Connects to `url` (a connect timeout of [`CONNECT_TIMEOUT`] unless the
/// URL sets one), migrates, and disconnects.
pub async fn migrate(url: &str) -> Result<Applied, SchemaError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| SchemaError::Postgres(describe(&e)))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| SchemaError::Postgres(describe(&e)))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %describe(&e), "schema connection ended");
        }
    });
    let result = migrate_client(&mut client).await;
    // Closing the session releases the lock even if the unlock failed.
    drop(client);
    let _ = driver.await;
    result
}

/// Migrates on `client`'s session: takes the advisory lock, checks and
/// applies, releases the lock (also on failure, when the session lives).
pub async fn migrate_client(client: &mut Client) -> Result<Applied, SchemaError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(|e| SchemaError::Postgres(describe(&e)))?;
    let result = migrate_locked(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    match (result, unlocked) {
        (Ok(applied), Ok(_)) => Ok(applied),
        (Ok(_), Err(e)) => Err(SchemaError::Postgres(describe(&e))),
        (Err(e), _) => Err(e),
    }
}

async fn migrate_locked(client: &mut Client) -> Result<Applied, SchemaError> {
    check_history(client).await?;
    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run_async(client)
        .await
        .map_err(|e| SchemaError::Migration(describe(&e)))?;
    let migrations: Vec<String> = report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect();
    for m in &migrations {
        tracing::info!(migration = %m, "applied schema migration");
    }
    let version = applied_versions(client)
        .await?
        .last()
        .map(|r| r.version)
        .unwrap_or(0);
    Ok(Applied {
        migrations,
        version,
    })
}

/// One row of the history table, as text (refinery's reader panics on a
/// malformed row; this one reports it).
struct Recorded {
    version: u32,
    name: String,
    checksum: String,
}

async fn applied_versions(client: &Client) -> Result<Vec<Recorded>, SchemaError> {
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&HISTORY_TABLE])
        .await
        .map_err(|e| SchemaError::Postgres(describe(&e)))?;
    let exists: bool = exists
        .try_get(0)
        .map_err(|e| SchemaError::Postgres(describe(&e)))?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!(
                "SELECT version, coalesce(name, ''), coalesce(checksum, '') \
                 FROM {HISTORY_TABLE} ORDER BY version"
            ),
            &[],
        )
        .await
        .map_err(|e| SchemaError::Postgres(describe(&e)))?;
    rows.iter()
        .map(|row| {
            let version: i32 = row
                .try_get(0)
                .map_err(|e| SchemaError::History(describe(&e)))?;
            let version = u32::try_from(version)
                .map_err(|_| SchemaError::History(format!("negative version {version}")))?;
            let name: String = row
                .try_get(1)
                .map_err(|e| SchemaError::History(describe(&e)))?;
            let checksum: String = row
                .try_get(2)
                .map_err(|e| SchemaError::History(describe(&e)))?;
            if checksum.parse::<u64>().is_err() {
                return Err(SchemaError::History(format!(
                    "version {version} has checksum {checksum:?}, not a number"
                )));
            }
            Ok(Recorded {
                version,
                name,
                checksum,
            })
        })
        .collect()
}

/// Refuses a database ahead of this build or diverged from it, with a
/// message that says what to do.
async fn check_history(client: &Client) -> Result<(), SchemaError> {
    let recorded = applied_versions(client).await?;
    let runner = embedded::migrations::runner();
    let ours = runner.get_migrations();
    let known = latest();
    if let Some(found) = recorded.iter().map(|r| r.version).max() {
        if found > known {
            return Err(SchemaError::Newer { found, known });
        }
    }
    for r in &recorded {
        match ours.iter().find(|m| m.version() == r.version) {
            Some(m) if m.name() == r.name && m.checksum().to_string() == r.checksum => {}
            Some(m) => {
                return Err(SchemaError::Divergent {
                    version: r.version,
                    applied: format!("{} (checksum {})", r.name, r.checksum),
                    ours: format!("{} (checksum {})", m.name(), m.checksum()),
                })
            }
            // A gap below the newest version we know: refinery calls this
            // missing; it is also a database from another build.
            None => {
                return Err(SchemaError::Divergent {
                    version: r.version,
                    applied: format!("{} (checksum {})", r.name, r.checksum),
                    ours: "no such migration".to_string(),
                })
            }
        }
    }
    Ok(())
}

/// `e: cause: cause …`, with a server error's severity, SQLSTATE and
/// detail: how every tollgate crate names a PostgreSQL failure.
pub fn describe(e: &(dyn StdError + 'static)) -> String {
    if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
        if let Some(db) = pg.as_db_error() {
            let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" (detail: {detail})"));
            }
            return text;
        }
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(pg) = s.downcast_ref::<tokio_postgres::Error>() {
            if pg.as_db_error().is_some() {
                text.push_str(": ");
                text.push_str(&describe(pg));
                break;
            }
        }
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
