//! The connection pool: one r2d2 pool per backend (SQLite, PostgreSQL, and MySQL or MariaDB in a
//! build with the `mysql` feature), each connection set up for the service as it is opened (SQLite:
//! WAL, busy timeout, foreign keys; PostgreSQL: UTC; MySQL: UTC, strict mode, READ COMMITTED), and
//! [`Pool::run`], which runs blocking diesel work on tokio's blocking threads so it never stalls the
//! async workers. A request waits for a
//! connection of its own before it takes a thread, so however many requests queue, the blocking
//! threads are never more than the pool's connections.
//!
//! Queries are written once and compiled for every backend through [`with_conn!`] and
//! [`write_tx!`]: each arm of their `match` is the same block typed against one connection. The few
//! writes whose SQL differs by backend (MySQL has no `RETURNING`) are in `returning`.

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, PooledConnection};
use diesel::{PgConnection, SqliteConnection};
use tokio::sync::Semaphore;
use workhub_migrations::DatabaseUrl;

use super::error::ApiError;

/// How long a SQLite connection waits for another writer before it reports the database busy.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

type SqlitePool = diesel::r2d2::Pool<ConnectionManager<SqliteConnection>>;
type PgPool = diesel::r2d2::Pool<ConnectionManager<PgConnection>>;
#[cfg(feature = "mysql")]
type MysqlPool = diesel::r2d2::Pool<ConnectionManager<diesel::MysqlConnection>>;

/// The service's pool of database connections, and as many turns as it has connections.
#[derive(Clone, Debug)]
pub struct Pool {
    connections: Connections,
    turns: Arc<Semaphore>,
}

#[derive(Clone, Debug)]
enum Connections {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    #[cfg(feature = "mysql")]
    Mysql(MysqlPool),
}

/// One connection checked out of the [`Pool`].
pub enum Conn {
    Sqlite(PooledConnection<ConnectionManager<SqliteConnection>>),
    Postgres(PooledConnection<ConnectionManager<PgConnection>>),
    #[cfg(feature = "mysql")]
    Mysql(PooledConnection<ConnectionManager<diesel::MysqlConnection>>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite(_) => "Conn::Sqlite",
            Self::Postgres(_) => "Conn::Postgres",
            #[cfg(feature = "mysql")]
            Self::Mysql(_) => "Conn::Mysql",
        })
    }
}

/// Runs `$body` with `$c` bound to the checked-out connection, whichever backend it is.
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::api::pool::Conn::Sqlite($c) => {
                let $c: &mut diesel::SqliteConnection = &mut *$c;
                $body
            }
            $crate::api::pool::Conn::Postgres($c) => {
                let $c: &mut diesel::PgConnection = &mut *$c;
                $body
            }
            #[cfg(feature = "mysql")]
            $crate::api::pool::Conn::Mysql($c) => {
                let $c: &mut diesel::MysqlConnection = &mut *$c;
                $body
            }
        }
    };
}

/// Runs `$body` in a write transaction: `BEGIN IMMEDIATE` on SQLite (so two writers queue on the
/// busy timeout instead of failing to upgrade a read lock), a READ COMMITTED transaction on
/// PostgreSQL and MySQL. `$body` returns `Result<T, ApiError>`; an error rolls back.
macro_rules! write_tx {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::api::pool::Conn::Sqlite(conn) => {
                diesel::SqliteConnection::immediate_transaction(&mut **conn, |$c| $body)
            }
            // Pinned, whatever the server's default: the membership lock in `tasks` relies on
            // each statement of a removal seeing what committed before it.
            $crate::api::pool::Conn::Postgres(conn) => conn
                .build_transaction()
                .read_committed()
                .run(|$c: &mut diesel::PgConnection| $body),
            // READ COMMITTED for the same reason, pinned for the whole session (see `MysqlTuning`).
            #[cfg(feature = "mysql")]
            $crate::api::pool::Conn::Mysql(conn) => {
                diesel::Connection::transaction(&mut **conn, |$c: &mut diesel::MysqlConnection| {
                    $body
                })
            }
        }
    };
}

pub(crate) use {with_conn, write_tx};

/// Pool settings read from the environment.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
}

impl Pool {
    /// Opens the pool, failing now (with a message for the operator) if no connection can be made.
    pub fn open(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, String> {
        let connections = Self::connections(url, options)?;
        Ok(Self {
            connections,
            turns: Arc::new(Semaphore::new(options.max_size as usize)),
        })
    }

    fn connections(url: &DatabaseUrl, options: &PoolOptions) -> Result<Connections, String> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                if url.is_memory() {
                    return Err(
                        "the service needs a database file: every pooled connection to `:memory:` \
                         would see its own empty database"
                            .into(),
                    );
                }
                let manager = ConnectionManager::new(path.to_string_lossy());
                build(url, manager, options, SqliteTuning).map(Connections::Sqlite)
            }
            DatabaseUrl::Postgres(raw) => {
                build(url, ConnectionManager::new(raw.as_str()), options, PostgresTuning)
                    .map(Connections::Postgres)
            }
            #[cfg(feature = "mysql")]
            DatabaseUrl::Mysql(raw) => {
                build(url, ConnectionManager::new(raw.as_str()), options, MysqlTuning)
                    .map(Connections::Mysql)
            }
            // Never reached: without the feature a mysql:// URL is refused before the service
            // starts (its migration step cannot open it either).
            #[cfg(not(feature = "mysql"))]
            DatabaseUrl::Mysql(_) => Err(format!(
                "{url}: this build has no MySQL support (the `mysql` cargo feature); nothing was run"
            )),
        }
    }

    /// Runs `work` with a pooled connection on a blocking thread.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.connections.clone();
        // Waited for here, without a thread: the pool never hands out more connections than turns.
        let turn = Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(|err| ApiError::internal("the connection pool is closed", err))?;
        // Logs from the blocking thread keep the request's span (and so its request id).
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _turn = turn;
            let mut conn = match &pool {
                Connections::Sqlite(p) => p.get().map(Conn::Sqlite),
                Connections::Postgres(p) => p.get().map(Conn::Postgres),
                #[cfg(feature = "mysql")]
                Connections::Mysql(p) => p.get().map(Conn::Mysql),
            }
            .map_err(|err| ApiError::unavailable("no database connection is available", err))?;
            work(&mut conn)
        })
        .await
        .map_err(|err| ApiError::internal("a database task failed", err))?
    }
}

/// A pool of `manager`'s connections to `url`, each set up by `tuning` as it opens; the error names
/// the database (never its password).
fn build<C>(
    url: &DatabaseUrl,
    manager: ConnectionManager<C>,
    options: &PoolOptions,
    tuning: impl CustomizeConnection<C, diesel::r2d2::Error> + 'static,
) -> Result<diesel::r2d2::Pool<ConnectionManager<C>>, String>
where
    C: diesel::r2d2::R2D2Connection + 'static,
{
    diesel::r2d2::Pool::builder()
        .max_size(options.max_size)
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(tuning))
        .build(manager)
        .map_err(|err| {
            workhub_migrations::apply::scrub(
                &format!("cannot open a connection pool on {url}: {err}"),
                url,
            )
        })
}

/// Applied to every SQLite connection the pool opens.
#[derive(Debug)]
struct SqliteTuning;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteTuning {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};\
             PRAGMA journal_mode = WAL;\
             PRAGMA synchronous = NORMAL;\
             PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Applied to every PostgreSQL connection the pool opens: timestamps (`CURRENT_TIMESTAMP` defaults
/// into `TIMESTAMP` columns) are written and read in UTC, whatever the server's time zone.
#[derive(Debug)]
struct PostgresTuning;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for PostgresTuning {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("SET TIME ZONE 'UTC'")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Applied to every MySQL or MariaDB connection the pool opens, whatever the server's defaults:
/// - UTC, as on PostgreSQL (`CURRENT_TIMESTAMP` defaults into `DATETIME` columns);
/// - strict SQL mode, so a value that does not fit is an error, never silently cut or zeroed;
/// - READ COMMITTED for every transaction of the session: the membership lock in `tasks` relies on
///   each statement of a removal seeing what committed before it, as on PostgreSQL (and no gap
///   locks, which REPEATABLE READ would take on every range a write reads).
#[cfg(feature = "mysql")]
#[derive(Debug)]
struct MysqlTuning;

#[cfg(feature = "mysql")]
impl CustomizeConnection<diesel::MysqlConnection, diesel::r2d2::Error> for MysqlTuning {
    fn on_acquire(&self, conn: &mut diesel::MysqlConnection) -> Result<(), diesel::r2d2::Error> {
        for setting in [
            "SET time_zone = '+00:00'",
            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
             ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ] {
            conn.batch_execute(setting)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}
