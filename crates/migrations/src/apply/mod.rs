//! Running a plan against a database: the [`Migrator`], the [`Backend`] trait for what differs between
//! databases, and the lock that keeps two migrators from ever running at once.

mod backend;
mod migrator;
mod postgres;
mod progress;
mod sqlite;
mod url;

pub use backend::Backend;
pub use migrator::{Migrator, Ran, StampReport, TransactionMode};
pub use postgres::{Postgres, TemporaryDatabase};
pub use progress::{Progress, Silent};
pub use sqlite::{FileLock, Sqlite};
pub use url::{redact, scrub, DatabaseUrl};

use crate::MigrateError;

/// An open database of either kind.
#[derive(Debug)]
pub enum Database {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

impl Database {
    pub fn open(url: &DatabaseUrl) -> Result<Self, MigrateError> {
        Ok(match url {
            DatabaseUrl::Sqlite(path) => Self::Sqlite(Sqlite::open(path)?),
            DatabaseUrl::Postgres(_) => Self::Postgres(Postgres::open(url)?),
        })
    }

    pub fn backend(&mut self) -> &mut dyn Backend {
        match self {
            Self::Sqlite(db) => db,
            Self::Postgres(db) => db,
        }
    }
}
