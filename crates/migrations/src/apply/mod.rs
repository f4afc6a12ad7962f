//! Running a plan against a database: the [`Migrator`], the [`Backend`] trait for what differs between
//! databases, and the lock that keeps two migrators from ever running at once. A backend migrates
//! through a connection it opens itself ([`Sqlite::open`], [`Postgres::open`]) or one the
//! application lends it ([`Sqlite::on`], [`Postgres::on`]), handed back as it was found.

mod backend;
mod handle;
mod lock;
mod migrator;
mod offline;
mod postgres;
mod progress;
pub(crate) mod sqlite;
mod url;

pub use backend::{Backend, BeginError};
pub use lock::FileLock;
pub use migrator::{Migrator, Outcome, Ran, StampReport, TransactionMode};
pub use offline::Offline;
pub use postgres::{Postgres, TemporaryDatabase, DEFAULT_LOCK_KEY};
pub use progress::{BlockedNotice, Progress, Silent};
pub use sqlite::Sqlite;
pub use url::{redact, scrub, DatabaseUrl};

use crate::MigrateError;

/// An open database of either kind.
#[derive(Debug)]
pub enum Database {
    Sqlite(Sqlite<'static>),
    Postgres(Postgres<'static>),
}

impl Database {
    /// Opens the database; a SQLite file that does not exist yet is created only by the first change
    /// (see [`Sqlite`]).
    pub fn open(url: &DatabaseUrl) -> Result<Self, MigrateError> {
        Ok(match url {
            DatabaseUrl::Sqlite(path) => Self::Sqlite(Sqlite::open(path)?),
            DatabaseUrl::Postgres(_) => Self::Postgres(Postgres::open(url)?),
        })
    }

    /// Whether the database exists: always for PostgreSQL (the connection reached it), for SQLite
    /// whether the file does.
    pub fn exists(&self) -> bool {
        match self {
            Self::Sqlite(db) => db.exists(),
            Self::Postgres(_) => true,
        }
    }

    pub fn backend(&mut self) -> &mut dyn Backend {
        match self {
            Self::Sqlite(db) => db,
            Self::Postgres(db) => db,
        }
    }
}
