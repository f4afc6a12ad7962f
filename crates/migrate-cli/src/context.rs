//! What every command works with: the database, the migrations, the mode and the run options.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use workhub_migrations::apply::TransactionMode;
use workhub_migrations::history::InterruptedRun;
use workhub_migrations::{
    schema_cache, source, Database, DatabaseUrl, MigrateError, Migration, Migrator, Status, Undone,
};
use workhub_schema::render::Generator;

use crate::cli::{DatabaseOptions, RunOptions, TransactionArg};
use crate::failure::Failure;
use crate::hint;
use crate::mode::Mode;
use crate::App;

/// Where the schemas replays build are kept between runs: `WORKHUB_SCHEMA_CACHE` (a directory, or
/// `off`), else the user's cache directory (`$XDG_CACHE_HOME`, else `~/.cache`), else nowhere.
fn schema_cache_dir() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    match set("WORKHUB_SCHEMA_CACHE") {
        Some(value) if value == "off" => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => set("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .map(|cache| cache.join("workhub-migrations").join("schemas")),
    }
}

/// Where this run's migrations come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Embedded,
    Directory(PathBuf),
}

#[derive(Debug)]
pub struct Context {
    /// The application's embedded migrations and models.
    pub app: App,
    pub url: DatabaseUrl,
    pub mode: Mode,
    pub source: Source,
    pub migrations: Cow<'static, [Migration]>,
    pub lock_timeout: Duration,
    pub transaction: TransactionMode,
    pub allow_out_of_order: bool,
    /// `--resume`: continue a migration a run on MySQL left unfinished.
    pub resume: bool,
    /// What diesel accepts in the migrations but `db create` would not write: recorded by the build
    /// script for the embedded set, found by the one scan of a directory.
    findings: Vec<String>,
    /// `PROGRAM db create` and `OPERATOR db upgrade`, as generated SQL names them.
    commands: [String; 2],
}

impl Context {
    /// The context of one command; `creating` when it is `db create`, which writes the first
    /// migration of a directory that does not exist yet.
    pub fn new(
        app: App,
        options: &DatabaseOptions,
        run: &RunOptions,
        creating: bool,
    ) -> Result<Self, Failure> {
        let mode = Mode::from_env().map_err(Failure::Usage)?;
        schema_cache::keep_in(schema_cache_dir());
        let url = DatabaseUrl::parse(&options.database_url)
            .map_err(|err| Failure::coded(&err, hint::message(&err, app.program)))?;
        let (source, migrations, findings) = match &options.migrations_dir {
            Some(dir) if creating && !dir.exists() => (
                Source::Directory(dir.clone()),
                Cow::Owned(Vec::new()),
                Vec::new(),
            ),
            Some(dir) => {
                let scan = source::scan(dir)?;
                let findings = scan.findings.iter().map(ToString::to_string).collect();
                (
                    Source::Directory(dir.clone()),
                    Cow::Owned(scan.migrations),
                    findings,
                )
            }
            None => (
                Source::Embedded,
                Cow::Borrowed(app.embedded.migrations),
                app.embedded
                    .findings
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
        };
        let lock_timeout = Duration::try_from_secs_f64(options.lock_timeout).map_err(|_| {
            Failure::Usage(format!(
                "--lock-timeout / WORKHUB_LOCK_TIMEOUT must be a number of seconds, not {}",
                options.lock_timeout
            ))
        })?;
        Ok(Self {
            app,
            url,
            mode,
            source,
            migrations,
            lock_timeout,
            transaction: match run.transaction {
                None | Some(TransactionArg::Each) => TransactionMode::Each,
                Some(TransactionArg::All) => TransactionMode::All,
            },
            allow_out_of_order: run.allow_out_of_order,
            resume: run.resume,
            findings,
            commands: [
                format!("{} db create", app.program),
                format!("{} db upgrade", app.operator),
            ],
        })
    }

    /// What diesel accepts in this run's migrations but `db create` would not write.
    pub fn findings(&self) -> &[String] {
        &self.findings
    }

    /// This program as the author of generated migrations: their header names its `db create`, and
    /// their guards' errors name the operators' program's `db upgrade`.
    pub fn generator(&self) -> Generator<'_> {
        Generator {
            name: self.app.program,
            create: &self.commands[0],
            upgrade: &self.commands[1],
        }
    }

    pub fn migrator(&self) -> Migrator<'_> {
        let mut migrator = Migrator::new(&self.migrations);
        migrator.lock_timeout = self.lock_timeout;
        migrator.transaction = self.transaction;
        migrator.allow_out_of_order = self.allow_out_of_order;
        migrator.resume = self.resume;
        // workhub owns user_version; earlier builds (from 03bd9e8) kept a cache there that trusted the
        // history unchanged, so every change of the history clears it.
        migrator.clear_user_version = true;
        migrator
    }

    /// Opens the database. A SQLite file that does not exist yet is created only by the first change
    /// a command makes, so a refusal leaves nothing behind.
    pub fn open(&self) -> Result<Database, Failure> {
        Database::open(&self.url).map_err(|err| self.failure(err))
    }

    /// The database's status, for a command that only reads: a SQLite file that does not exist is an
    /// error naming it, never an empty database.
    pub fn status(&self) -> Result<Status<'_>, Failure> {
        // Opened first, then asked: whether the file exists is the open's own answer, not a look
        // taken before it that a deletion could overtake.
        let opened = Database::open(&self.url);
        if let DatabaseUrl::Sqlite(path) = &self.url {
            let missing = match &opened {
                Ok(db) => !db.exists(),
                // The open's own error for a missing directory reads better as a missing database.
                Err(MigrateError::Connect { .. }) => path
                    .parent()
                    .is_some_and(|p| !p.as_os_str().is_empty() && !p.is_dir()),
                Err(_) => false,
            };
            if missing {
                return Err(Failure::Unreachable(missing_database(
                    path,
                    self.app.program,
                )));
            }
        }
        let mut db = opened.map_err(|err| self.failure(err))?;
        self.migrator()
            .status(db.backend())
            .map_err(|err| self.failure(err))
    }

    /// The migration a run on MySQL left unfinished, for a command that only reads; `None` on the
    /// other databases, which never leave one (nothing is opened for them).
    pub fn unfinished(&self) -> Result<Option<InterruptedRun>, Failure> {
        if self.url.dialect() != workhub_migrations::Dialect::Mysql {
            return Ok(None);
        }
        let mut db = self.open()?;
        self.migrator()
            .interrupted(db.backend())
            .map_err(|err| self.failure(err))
    }

    /// A migration failure as the user reads it, with its way out and exit code, without naming the
    /// database (for failures that are not the database's, or name it themselves).
    pub fn error(&self, err: MigrateError) -> Failure {
        Failure::coded(&err, hint::message(&err, self.app.program))
    }

    /// A migration failure as the user reads it: naming the database, with its way out in this
    /// program's words, and its exit code.
    pub fn failure(&self, err: MigrateError) -> Failure {
        let code = |message| Failure::coded(&err, message);
        match &err {
            MigrateError::BadUrl { .. } | MigrateError::Connect { .. } => self.error(err),
            MigrateError::UnknownApplied {
                versions,
                head,
                newer,
            } => code(format!(
                "{}: the database has applied migrations this binary does not know:{}\n  this \
                 binary's newest migration is {}\n  nothing was run\n  hint: {}",
                self.url,
                versions
                    .iter()
                    .map(|v| format!("\n    {v}"))
                    .collect::<String>(),
                head.as_deref().unwrap_or("(none)"),
                self.unknown_hint(*newer)
            )),
            MigrateError::WriterTimeout {
                doing,
                waited,
                undone,
            } => code(format!(
                "{}: {doing}: gave up after {:.1}s waiting for another connection to finish writing \
                 to it (the running service, or another tool)\n  {}\n  hint: retry when it is done, \
                 or raise WORKHUB_LOCK_TIMEOUT (--lock-timeout)",
                self.url,
                waited.as_secs_f64(),
                undone.map_or("nothing was changed", Undone::left)
            )),
            // Named once: SQLite's own messages may already carry the path.
            other if other.to_string().contains(&self.url.to_string()) => self.error(err),
            other => code(format!(
                "{}: {}",
                self.url,
                hint::message(other, self.app.program)
            )),
        }
    }

    /// What to do about applied versions this binary does not know: only versions newer than its
    /// head can come from a newer build.
    pub fn unknown_hint(&self, newer: bool) -> String {
        match (newer, self.mode) {
            (true, _) => "the database was migrated by a newer build; deploy the newer binary, or \
                          run this one against a database it migrated"
                .into(),
            (false, Mode::Development) => "they sort below this binary's newest migration, so no \
                 newer build explains them: a migration folder was renamed or removed, or they come \
                 from another branch; switch to the branch that has them and revert them there \
                 (`just downgrade`), then come back, or rebuild this development database from this \
                 branch's migrations (`just reset`, which deletes its data)"
                .into(),
            (false, Mode::Production) => "they sort below this binary's newest migration, so no \
                 newer build explains them: a migration folder was renamed or removed since they \
                 ran; restore it from version control, or revert them with the build that has them"
                .into(),
        }
    }
}

/// Why a read-only command cannot read a SQLite database at `path`, and how it comes to exist.
fn missing_database(path: &Path, program: &str) -> String {
    match path.parent().filter(|p| !p.as_os_str().is_empty() && !p.is_dir()) {
        Some(dir) => format!(
            "no database at {}: the directory {} does not exist\n  hint: check --database-url / \
             DATABASE_URL; to start a database there, create the directory, then `{program} db upgrade` \
             creates the database",
            path.display(),
            dir.display()
        ),
        None => format!(
            "no database at {}: the file does not exist (nothing was created)\n  hint: `{program} db \
             upgrade` (or `{program} --migrate-only`) creates it and applies the migrations; or check \
             --database-url / DATABASE_URL",
            path.display()
        ),
    }
}
