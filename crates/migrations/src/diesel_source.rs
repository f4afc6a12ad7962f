//! workhub's migrations as diesel's own [`MigrationSource`], so a crate that uses diesel_migrations'
//! `MigrationHarness` can run them: `conn.run_pending_migrations(DieselSource::embedded(MIGRATIONS))`
//! in its tests, on SQLite or PostgreSQL.
//!
//! diesel's harness runs each migration as diesel_cli does (in a transaction unless its
//! `metadata.toml` says `run_in_transaction = false`) and records its version in
//! `__diesel_schema_migrations`. It skips everything else the [`Migrator`](crate::Migrator) does: no
//! migration lock (two processes may race), no checksums and no `__workhub_migrations` companion row
//! (workhub later counts such versions as applied without a checksum, until `db repair` records one),
//! no out-of-order refusal, no divergence refusal (two branches' migrations merged without `db
//! rebase` run in version order, unchecked), and no head fingerprint. Use it for test databases, not
//! for deployments.
//!
//! On SQLite it runs every migration with foreign keys off, as the Migrator does: libsqlite3-sys's
//! bundled SQLite turns them on by default, and a generated table rebuild refuses to run with them on
//! (dropping the old table would delete the rows that reference it). SQLite ignores the setting
//! inside a transaction, so each migration tells diesel it runs outside one, and runs its own: the
//! previous setting is read, foreign keys turned off, the statements run in a transaction (rolled back
//! whole on failure; none for `run_in_transaction = false`), and the setting restored. diesel then records the version just after that
//! transaction commits rather than inside it. On a connection that is not a plain
//! `SqliteConnection`, or one already inside a transaction (where SQLite cannot change the setting),
//! the migration runs in a savepoint with foreign keys as they are, and a rebuild's guard fails it
//! before it changes anything.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use diesel::connection::BoxableConnection;
use diesel::migration::{
    self, MigrationMetadata, MigrationName, MigrationSource, MigrationVersion,
};
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;

use crate::source::{self, statements, SourceError};
use crate::{Dialect, Migration};

/// A set of workhub migrations that diesel's `MigrationHarness` can run.
#[derive(Debug, Clone)]
pub struct DieselSource {
    migrations: Cow<'static, [Migration]>,
}

impl DieselSource {
    /// The set a build script embedded (`&'static [Migration]`); nothing is copied.
    pub const fn embedded(migrations: &'static [Migration]) -> Self {
        Self {
            migrations: Cow::Borrowed(migrations),
        }
    }

    /// The migrations of a directory, read under the same rules as `--migrations-dir`.
    pub fn scan(dir: &Path) -> Result<Self, SourceError> {
        Ok(Self::from(source::scan(dir)?.migrations))
    }
}

impl From<Vec<Migration>> for DieselSource {
    fn from(migrations: Vec<Migration>) -> Self {
        Self {
            migrations: Cow::Owned(migrations),
        }
    }
}

impl MigrationSource<Sqlite> for DieselSource {
    fn migrations(&self) -> migration::Result<Vec<Box<dyn migration::Migration<Sqlite>>>> {
        Ok(self.for_dialect(Dialect::Sqlite))
    }
}

impl MigrationSource<Pg> for DieselSource {
    fn migrations(&self) -> migration::Result<Vec<Box<dyn migration::Migration<Pg>>>> {
        Ok(self.for_dialect(Dialect::Postgres))
    }
}

impl DieselSource {
    fn for_dialect<DB: diesel::backend::Backend>(
        &self,
        dialect: Dialect,
    ) -> Vec<Box<dyn migration::Migration<DB>>>
    where
        DieselMigration: migration::Migration<DB>,
    {
        self.migrations
            .iter()
            .map(|m| {
                Box::new(DieselMigration {
                    migration: m.clone(),
                    dialect,
                }) as Box<dyn migration::Migration<DB>>
            })
            .collect()
    }
}

/// One workhub migration as diesel sees it, with the SQL of one dialect.
#[derive(Debug)]
struct DieselMigration {
    migration: Migration,
    dialect: Dialect,
}

/// Why diesel's harness could not run a migration: the folder, and what went wrong.
#[derive(Debug)]
pub enum HarnessError {
    /// A revert of a migration without `down.sql`.
    NoDown { folder: String },
    /// A script of zero bytes, which diesel refuses to run too.
    EmptyScript { folder: String },
    /// A statement the database refused.
    Statement {
        folder: String,
        statement: String,
        message: String,
    },
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDown { folder } => {
                write!(
                    f,
                    "migration `{folder}` has no down.sql and cannot be reverted"
                )
            }
            Self::EmptyScript { folder } => write!(
                f,
                "migration `{folder}`: its script is empty (zero bytes); nothing was run"
            ),
            Self::Statement {
                folder,
                statement,
                message,
            } => write!(f, "migration `{folder}` failed at `{statement}`: {message}"),
        }
    }
}

impl std::error::Error for HarnessError {}

#[derive(diesel::QueryableByName)]
struct ForeignKeys {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    foreign_keys: i32,
}

impl DieselMigration {
    /// Whether this migration runs with foreign keys off, in its own transaction if it has one (see
    /// the module).
    fn foreign_keys_off(&self) -> bool {
        self.dialect == Dialect::Sqlite
    }

    /// Runs `sql` on SQLite with foreign keys off (in a transaction unless its metadata says
    /// otherwise), restoring the previous setting.
    fn execute_sqlite(
        &self,
        conn: &mut dyn BoxableConnection<Sqlite>,
        sql: &str,
    ) -> migration::Result<()> {
        use diesel::connection::{Connection, SimpleConnection, TransactionManager};
        use diesel::RunQueryDsl;
        let Some(sqlite) = conn.as_any_mut().downcast_mut::<diesel::SqliteConnection>() else {
            return self.execute_in_savepoint(conn, sql);
        };
        let outer = <diesel::SqliteConnection as Connection>::TransactionManager::transaction_manager_status_mut(sqlite)
            .transaction_depth()
            .map_or(true, |depth| depth.is_some());
        if outer {
            return self.execute_in_savepoint(sqlite, sql);
        }
        let was_on = diesel::sql_query("SELECT foreign_keys FROM pragma_foreign_keys")
            .load::<ForeignKeys>(sqlite)?
            .first()
            .is_some_and(|row| row.foreign_keys == 1);
        sqlite.batch_execute("PRAGMA foreign_keys = OFF")?;
        let ran = if self.migration.run_in_transaction() {
            sqlite.transaction(|sqlite| self.execute(sqlite, sql))
        } else {
            self.execute(sqlite, sql)
        };
        let restored = if was_on {
            sqlite.batch_execute("PRAGMA foreign_keys = ON")
        } else {
            Ok(())
        };
        ran?;
        restored?;
        Ok(())
    }

    /// Runs `sql` as diesel would (foreign keys as they are), in a savepoint unless its metadata says
    /// otherwise: diesel was told the migration brings its own transaction.
    fn execute_in_savepoint(
        &self,
        conn: &mut dyn BoxableConnection<Sqlite>,
        sql: &str,
    ) -> migration::Result<()> {
        if !self.migration.run_in_transaction() {
            return self.execute(conn, sql);
        }
        conn.batch_execute("SAVEPOINT workhub_migration")?;
        match self.execute(conn, sql) {
            Ok(()) => Ok(conn.batch_execute("RELEASE workhub_migration")?),
            Err(err) => {
                conn.batch_execute("ROLLBACK TO workhub_migration; RELEASE workhub_migration")?;
                Err(err)
            }
        }
    }

    /// Runs `sql` one statement at a time, as the Migrator does: outside a transaction PostgreSQL runs
    /// a multi-statement batch as one implicit transaction, where `CREATE INDEX CONCURRENTLY` fails.
    fn execute<DB: diesel::backend::Backend>(
        &self,
        conn: &mut dyn BoxableConnection<DB>,
        sql: &str,
    ) -> migration::Result<()> {
        if sql.is_empty() {
            return Err(Box::new(HarnessError::EmptyScript {
                folder: self.migration.folder().to_string(),
            }));
        }
        for statement in statements::split(sql, self.dialect) {
            conn.batch_execute(statement)
                .map_err(|err| HarnessError::Statement {
                    folder: self.migration.folder().to_string(),
                    statement: statement.to_string(),
                    message: err.to_string(),
                })?;
        }
        Ok(())
    }
}

macro_rules! diesel_migration_for {
    ($backend:ty) => {
        impl migration::Migration<$backend> for DieselMigration {
            fn run(&self, conn: &mut dyn BoxableConnection<$backend>) -> migration::Result<()> {
                self.run_sql(conn, self.migration.scripts(self.dialect).up())
            }

            fn revert(&self, conn: &mut dyn BoxableConnection<$backend>) -> migration::Result<()> {
                match self.migration.scripts(self.dialect).down() {
                    Some(down) => self.run_sql(conn, down),
                    None => Err(Box::new(HarnessError::NoDown {
                        folder: self.migration.folder().to_string(),
                    })),
                }
            }

            fn metadata(&self) -> &dyn MigrationMetadata {
                self
            }

            fn name(&self) -> &dyn MigrationName {
                self
            }
        }
    };
}

diesel_migration_for!(Sqlite);
diesel_migration_for!(Pg);

/// How each backend runs a migration's SQL.
trait RunSql<DB: diesel::backend::Backend> {
    fn run_sql(&self, conn: &mut dyn BoxableConnection<DB>, sql: &str) -> migration::Result<()>;
}

impl RunSql<Sqlite> for DieselMigration {
    fn run_sql(
        &self,
        conn: &mut dyn BoxableConnection<Sqlite>,
        sql: &str,
    ) -> migration::Result<()> {
        if self.foreign_keys_off() {
            self.execute_sqlite(conn, sql)
        } else {
            self.execute(conn, sql)
        }
    }
}

impl RunSql<Pg> for DieselMigration {
    fn run_sql(&self, conn: &mut dyn BoxableConnection<Pg>, sql: &str) -> migration::Result<()> {
        self.execute(conn, sql)
    }
}

impl MigrationMetadata for DieselMigration {
    /// On SQLite a migration runs its own transaction (see the module), so diesel must not.
    fn run_in_transaction(&self) -> bool {
        self.migration.run_in_transaction() && !self.foreign_keys_off()
    }
}

impl MigrationName for DieselMigration {
    fn version(&self) -> MigrationVersion<'_> {
        MigrationVersion::from(self.migration.version())
    }
}

/// diesel names a migration by its folder, as diesel_cli prints it.
impl fmt::Display for DieselMigration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.migration.folder())
    }
}
