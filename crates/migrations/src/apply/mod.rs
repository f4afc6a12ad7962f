//! Running a plan against a database: the [`Migrator`], the [`Backend`] trait for what differs between
//! databases, and the lock that keeps two migrators from ever running at once. A backend migrates
//! through a connection it opens itself ([`Sqlite::open`], [`Postgres::open`]) or one the
//! application lends it ([`Sqlite::on`], [`Postgres::on`]), handed back as it was found.

mod backend;
mod handle;
mod lock;
mod migrator;
#[cfg(feature = "mysql")]
mod mysql;
mod mysql_sql;
mod offline;
mod postgres;
mod progress;
pub(crate) mod sqlite;
mod url;

pub use backend::{Backend, BeginError, RunRecord};
pub use lock::FileLock;
pub use migrator::{Migrator, Outcome, Ran, StampReport, TransactionMode};
#[cfg(feature = "mysql")]
pub use mysql::{Mysql, TemporaryMysqlDatabase};
pub use offline::Offline;
pub use postgres::{Postgres, TemporaryDatabase, DEFAULT_LOCK_KEY};
pub use progress::{BlockedNotice, Progress, Silent};
pub use sqlite::Sqlite;
pub use url::{redact, scrub, DatabaseUrl};

use crate::MigrateError;

/// A name no other temporary database of this server has: `workhub_PURPOSE_PID_N_NANOS`.
pub(crate) fn temporary_name(purpose: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "workhub_{purpose}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// An open database of any kind this build serves.
#[derive(Debug)]
pub enum Database {
    Sqlite(Sqlite<'static>),
    Postgres(Postgres<'static>),
    #[cfg(feature = "mysql")]
    Mysql(Mysql),
}

impl Database {
    /// Opens the database; a SQLite file that does not exist yet is created only by the first change
    /// (see [`Sqlite`]).
    pub fn open(url: &DatabaseUrl) -> Result<Self, MigrateError> {
        Ok(match url {
            DatabaseUrl::Sqlite(path) => Self::Sqlite(Sqlite::open(path)?),
            DatabaseUrl::Postgres(_) => Self::Postgres(Postgres::open(url)?),
            #[cfg(feature = "mysql")]
            DatabaseUrl::Mysql(_) => Self::Mysql(Mysql::open(url)?),
            #[cfg(not(feature = "mysql"))]
            DatabaseUrl::Mysql(_) => {
                return Err(MigrateError::NotBuiltFor {
                    url: url.to_string(),
                    backend: "MySQL",
                    feature: "mysql",
                })
            }
        })
    }

    /// Whether the database exists: always for a server (the connection reached it), for SQLite
    /// whether the file does.
    pub fn exists(&self) -> bool {
        match self {
            Self::Sqlite(db) => db.exists(),
            _ => true,
        }
    }

    pub fn backend(&mut self) -> &mut dyn Backend {
        match self {
            Self::Sqlite(db) => db,
            Self::Postgres(db) => db,
            #[cfg(feature = "mysql")]
            Self::Mysql(db) => db,
        }
    }
}
