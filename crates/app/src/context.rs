//! What every command works with: the database, the migrations, the mode and the run options.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use workhub_migrations::apply::TransactionMode;
use workhub_migrations::{source, Database, DatabaseUrl, Migration, Migrator, Status};

use crate::cli::{Cli, Command, DbCommand, TransactionArg};
use crate::failure::Failure;
use crate::mode::Mode;

/// Where this run's migrations come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Embedded,
    Directory(PathBuf),
}

#[derive(Debug)]
pub struct Context {
    pub url: DatabaseUrl,
    pub mode: Mode,
    pub source: Source,
    pub migrations: Cow<'static, [Migration]>,
    pub lock_timeout: Duration,
    pub transaction: TransactionMode,
    pub allow_out_of_order: bool,
}

impl Context {
    pub fn new(cli: &Cli) -> Result<Self, Failure> {
        let mode = Mode::from_env().map_err(Failure::Usage)?;
        let url = DatabaseUrl::parse(&cli.database_url)?;
        // `db create` writes the first migration of a directory that does not exist yet.
        let creating = matches!(
            &cli.command,
            Some(Command::Db {
                command: DbCommand::Create { .. }
            })
        );
        let (source, migrations) = match &cli.migrations_dir {
            Some(dir) if creating && !dir.exists() => {
                (Source::Directory(dir.clone()), Cow::Owned(Vec::new()))
            }
            Some(dir) => (
                Source::Directory(dir.clone()),
                Cow::Owned(source::scan(dir)?.migrations),
            ),
            None => (Source::Embedded, Cow::Borrowed(crate::embedded::MIGRATIONS)),
        };
        let lock_timeout = Duration::try_from_secs_f64(cli.lock_timeout).map_err(|_| {
            Failure::Usage(format!(
                "--lock-timeout / WORKHUB_LOCK_TIMEOUT must be a number of seconds, not {}",
                cli.lock_timeout
            ))
        })?;
        Ok(Self {
            url,
            mode,
            source,
            migrations,
            lock_timeout,
            transaction: match cli.run.transaction {
                TransactionArg::Each => TransactionMode::Each,
                TransactionArg::All => TransactionMode::All,
            },
            allow_out_of_order: cli.run.allow_out_of_order,
        })
    }

    pub fn migrator(&self) -> Migrator<'_> {
        let mut migrator = Migrator::new(&self.migrations);
        migrator.lock_timeout = self.lock_timeout;
        migrator.transaction = self.transaction;
        migrator.allow_out_of_order = self.allow_out_of_order;
        // workhub owns its database, header included.
        migrator.head_fingerprint = true;
        migrator
    }

    /// Opens the database, creating a SQLite file that does not exist yet.
    pub fn open(&self) -> Result<Database, Failure> {
        Ok(Database::open(&self.url)?)
    }

    /// Opens the database only if it exists: a read-only command must not leave an empty SQLite file
    /// behind. `None` means a SQLite file that is not there yet.
    pub fn open_existing(&self) -> Result<Option<Database>, Failure> {
        match &self.url {
            DatabaseUrl::Sqlite(path) if !self.url.is_memory() && !Path::new(path).exists() => {
                Ok(None)
            }
            _ => self.open().map(Some),
        }
    }

    /// Whether the head fingerprint claims head while `status`, read in full, says otherwise.
    pub fn fingerprint_misleads(&self, status: &Status<'_>) -> Result<bool, Failure> {
        // At head nothing can mislead; asking would cost a second connection for nothing.
        if status.is_at_head() {
            return Ok(false);
        }
        match self.open_existing()? {
            Some(mut db) => Ok(self.migrator().fingerprint_misleads(db.backend(), status)?),
            None => Ok(false),
        }
    }

    /// The database's status, or an empty one when the SQLite file does not exist yet.
    pub fn status(&self) -> Result<Status<'_>, Failure> {
        match self.open_existing()? {
            Some(mut db) => Ok(self.migrator().status(db.backend())?),
            None => Ok(Status::new(
                self.url.dialect(),
                &self.migrations,
                Vec::new(),
            )),
        }
    }
}
