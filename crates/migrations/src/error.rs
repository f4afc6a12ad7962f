use std::path::PathBuf;
use std::time::Duration;

use crate::plan::Direction;
use crate::source::lineage::Divergence;
use crate::{DatabaseError, SourceError};

/// Everything that can stop a migration command. Each variant carries what happened and where the
/// database stands (none of them has run anything it could not roll back); the way out is the
/// application's to say, in its own commands' words. A database's failure is the `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The database URL is not one the engine understands.
    #[error("database URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// The database cannot be reached or opened.
    #[error("cannot open database {url}: {cause}")]
    Connect {
        url: String,
        #[source]
        cause: DatabaseError,
    },
    /// A target that matches no migration.
    #[error("no migration matches `{target}`")]
    UnknownTarget { target: String },
    /// A version prefix that matches more than one migration.
    #[error("`{target}` matches {} migrations:{}", candidates.len(), list(candidates))]
    AmbiguousTarget {
        target: String,
        candidates: Vec<String>,
    },
    /// `+N` / `-N` reaching past the migrations there are.
    #[error("`{target}` goes past the end: only {available} {counted}\n  nothing was run")]
    OutOfRange {
        target: String,
        available: usize,
        counted: Counted,
    },
    /// A target that points the other way (`upgrade -1`, `downgrade` to a pending version).
    #[error("`{target}`: {reason}")]
    WrongDirection { target: String, reason: WrongWay },
    /// Applied migrations whose `up` SQL changed since they ran.
    #[error("applied migrations were modified after they ran:{}", list(folders))]
    Modified { folders: Vec<String> },
    /// Versions the database has applied that these migrations do not include.
    #[error(
        "the database has applied migrations this binary does not know:{}\n  this binary's newest \
         migration is {}\n  nothing was run",
        list(versions),
        head.as_deref().unwrap_or("(none)")
    )]
    UnknownApplied {
        versions: Vec<String>,
        head: Option<String>,
        /// Whether any of them sorts after `head`: only then can a newer build know them. Below head
        /// they are a renamed or removed folder, or a migration of another branch.
        newer: bool,
    },
    /// A pending migration whose `up` script is empty (zero bytes), which diesel refuses to run.
    #[error(
        "migration `{folder}`: {file} is empty (zero bytes), which diesel refuses to run too; \
         nothing was run"
    )]
    EmptyUp { folder: String, file: &'static str },
    /// Pending migrations older than the newest applied one, typically merged from another branch.
    #[error(
        "pending migrations are older than the newest applied one ({newest_applied}):{}\n  they \
         were probably merged from another branch after {newest_applied} ran.",
        list(pending)
    )]
    OutOfOrder {
        pending: Vec<String>,
        newest_applied: String,
    },
    /// Migrations a downgrade would revert that have no `down.sql`.
    #[error(
        "cannot downgrade: these migrations have no down.sql:{}\n  nothing was run",
        list(folders)
    )]
    Irreversible { folders: Vec<String> },
    /// A statement of a migration failed; `undone` says what was rolled back.
    #[error(
        "migration {folder} ({direction}) failed: {cause}\n  statement:\n{}\n  {}",
        indent(statement),
        undone.after(*direction)
    )]
    Statement {
        folder: String,
        direction: Direction,
        statement: String,
        #[source]
        cause: DatabaseError,
        undone: Undone,
    },
    /// Another process held the migration lock longer than the timeout.
    #[error(
        "gave up after {:.1}s waiting for the migration lock, held by {holder}\n  nothing was run",
        waited.as_secs_f64()
    )]
    LockTimeout { holder: String, waited: Duration },
    /// Another connection kept writing to the database (SQLite's write lock: the running service, or
    /// another tool) longer than the timeout.
    #[error(
        "{doing}: gave up after {:.1}s waiting for another connection to finish writing to the \
         database (the running service, or another tool)\n  {}",
        waited.as_secs_f64(),
        left(*undone)
    )]
    WriterTimeout {
        doing: String,
        waited: Duration,
        /// What the failure took back; `None` when nothing had been changed.
        undone: Option<Undone>,
    },
    /// A run in one transaction (`TransactionMode::All`) over migrations that must run outside one.
    #[error(
        "one transaction for the whole run cannot include migrations with run_in_transaction = \
         false:{}\n  nothing was run",
        list(folders)
    )]
    NeedsOwnTransaction { folders: Vec<String> },
    /// Stamping a database whose schema differs from the target's.
    #[error(
        "the database's schema differs from what {target} builds:{}\n  nothing was recorded",
        list(differences)
    )]
    SchemaMismatch {
        target: String,
        differences: Vec<String>,
    },
    /// A database failure that stopped a migration command, with what was being done and what it
    /// left of the database.
    #[error("{doing}: {cause}\n  {}", left(*undone))]
    Stopped {
        doing: String,
        #[source]
        cause: DatabaseError,
        /// What the failure took back; `None` when nothing had been changed.
        undone: Option<Undone>,
    },
    /// The file that carries a SQLite database's migration lock cannot be opened or locked.
    #[error("taking the migration lock on {}: {source}\n  nothing was changed", path.display())]
    LockFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The SQLite file was swapped (a reset, a restore) while the command waited for its lock.
    #[error(
        "taking the migration lock: {} was deleted or replaced while this command waited for the \
         lock (a reset or a restore?); rerun the command\n  nothing was changed",
        path.display()
    )]
    FileReplaced { path: PathBuf },
    /// Pending migrations written against a parent other than the migration before them: branches
    /// merged without rebasing. Nothing ran.
    #[error(
        "the history has diverged: migrations were merged from branches that did not know of each \
         other:{}\n  nothing was run; the merged-in branch's migrations must be re-created on top \
         of the branch they were merged into",
        list(&divergences.iter().map(ToString::to_string).collect::<Vec<_>>())
    )]
    Diverged { divergences: Vec<Divergence> },
    /// A scratch database's URL reached another database than the one created for it.
    #[error(
        "opening the scratch database: the URL reaches database {reached}, not {created}; remove \
         dbname from its parameters"
    )]
    ScratchElsewhere { reached: String, created: String },
    /// An application's connection handed to the engine (`Sqlite::on`, `Postgres::on`) with a
    /// transaction open: the engine begins and commits its own, which would end the application's.
    #[error(
        "{database}: the connection has a transaction open; the migration engine begins and commits \
         its own transactions, so hand it a connection outside any transaction\n  nothing was run"
    )]
    InTransaction { database: String },
    /// A database of a kind this build was compiled without (MySQL without the `mysql` feature).
    #[error(
        "cannot open database {url}: this binary was built without {backend} support (the cargo \
         feature `{feature}`)\n  nothing was run"
    )]
    NotBuiltFor {
        url: String,
        backend: &'static str,
        feature: &'static str,
    },
    /// One transaction for a whole run, asked of a database whose DDL commits itself.
    #[error(
        "one transaction for the whole run is impossible on {database}: MySQL commits every DDL \
         statement (CREATE, ALTER, DROP) implicitly, so no transaction can hold a migration, let \
         alone a run; each migration runs statement by statement under a record of how far it \
         got instead\n  nothing was run"
    )]
    NoTransactionalDdl { database: String },
    /// Migrations a run on MySQL would run that have no SQL written for MySQL.
    #[error(
        "these migrations have no {file}, and MySQL runs only SQL written for it (its DDL cannot \
         roll back, so SQL written for SQLite is never tried there):{}\n  nothing was run",
        list(folders)
    )]
    NoMysqlScripts {
        folders: Vec<String>,
        file: &'static str,
    },
    /// A MySQL script of a migration the run would run that cannot be split into the statements its
    /// author meant (a compound body without `DELIMITER`, a `DELIMITER` line that sets nothing).
    #[error("{folder}/{file} cannot be split into its statements: {problem}\n  nothing was run")]
    UnsplittableScript {
        folder: String,
        file: &'static str,
        #[source]
        problem: crate::source::statements::ScriptProblem,
    },
    /// A migration started on a database whose DDL commits itself and did not finish: the run
    /// record says what took effect. `stopped_now` when this run stopped it (rather than one before).
    #[error("{run}\n  {}", if *stopped_now { "the migration is not recorded as run; nothing after it was run" } else { "an earlier run stopped there; nothing was run now" })]
    Interrupted {
        run: Box<crate::history::InterruptedRun>,
        stopped_now: bool,
        /// The database's failure, when this run's statement failed.
        #[source]
        cause: Option<DatabaseError>,
    },
    /// A resume that cannot continue the interrupted run as it was.
    #[error("cannot resume {folder}: {reason}\n  nothing was run")]
    CannotResume { folder: String, reason: String },
    /// Any other database failure, with what was being done.
    #[error("{doing}: {cause}")]
    Database {
        doing: String,
        #[source]
        cause: DatabaseError,
    },
}

impl MigrateError {
    /// The database's failure behind this error, if one is.
    pub fn database_error(&self) -> Option<&DatabaseError> {
        match self {
            Self::Connect { cause, .. }
            | Self::Statement { cause, .. }
            | Self::Stopped { cause, .. }
            | Self::Database { cause, .. } => Some(cause),
            Self::Interrupted { cause, .. } => cause.as_ref(),
            _ => None,
        }
    }
}

/// What `+N` / `-N` counted: the pending migrations or the applied ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Counted {
    Pending,
    Applied,
}

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Applied => "applied",
        })
    }
}

/// Why a target points the other way from the command given it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WrongWay {
    /// An upgrade to `base`.
    #[error("upgrade cannot go to base")]
    UpgradeToBase,
    /// An upgrade by `-N`.
    #[error("upgrade only goes forward")]
    UpgradeBack,
    /// An upgrade to a version the database is already past.
    #[error("the database is already past {folder}")]
    AlreadyPast { folder: String },
    /// A downgrade to `head` or by `+N`.
    #[error("downgrade only goes back")]
    DowngradeForward,
    /// A downgrade to a version that is not applied.
    #[error("{folder} is not applied, so downgrade cannot stop there")]
    NotApplied { folder: String },
}

impl WrongWay {
    /// The direction that does reach the target.
    pub fn way(&self) -> Direction {
        match self {
            Self::UpgradeToBase | Self::UpgradeBack | Self::AlreadyPast { .. } => Direction::Down,
            Self::DowngradeForward | Self::NotApplied { .. } => Direction::Up,
        }
    }
}

/// What a failed statement took back with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Undone {
    /// Its own migration's transaction.
    Migration,
    /// The single transaction of a run in one transaction.
    Run,
    /// Nothing: the migration runs outside a transaction.
    Nothing,
    /// Nothing to take back: the migration had not started; those before it in the run stay applied.
    NotStarted,
    /// Nothing to take back of any migration, but the run had created the (empty) history tables.
    TablesOnly,
    /// The migration's script ended workhub's transaction itself (its own `COMMIT` or `ROLLBACK`):
    /// what it committed stays, the rest was rolled back, and it is not recorded.
    ScriptEndedTransaction,
}

impl Undone {
    /// Where the database stands after a failure that took this back.
    pub fn left(self) -> &'static str {
        match self {
            Self::Migration => {
                "the migration was rolled back; migrations before it in this run stay applied"
            }
            Self::Run => "the whole run was rolled back (it ran in one transaction); nothing changed",
            Self::Nothing => {
                "it runs outside a transaction (run_in_transaction = false): statements before this \
                 one took effect and the migration is not recorded as applied; fix the cause and run \
                 it again (a companion `db create` wrote is written to run again from any point; \
                 check that a hand-written one is)"
            }
            Self::NotStarted => {
                "the migration did not start; migrations before it in this run stay applied"
            }
            Self::TablesOnly => {
                "no migration was run or recorded; only the empty history tables were created"
            }
            Self::ScriptEndedTransaction => {
                "its script ends the transaction workhub runs it in (its own COMMIT, END or \
                 ROLLBACK): what ran before that took effect, what ran after it did not, and the \
                 migration is not recorded; check the database, take the transaction control out of \
                 the script (or set run_in_transaction = false), then rerun"
            }
        }
    }
}

impl Undone {
    /// Where the database stands after a failure of a migration run in `direction`: a failed
    /// revert leaves its migration applied.
    pub fn after(self, direction: Direction) -> &'static str {
        match (direction, self) {
            (Direction::Up, _) => self.left(),
            (Direction::Down, Self::Migration) => {
                "the revert was rolled back: the migration is still applied; migrations reverted \
                 before it in this run stay reverted"
            }
            (Direction::Down, Self::Nothing) => {
                "it runs outside a transaction (run_in_transaction = false): statements of its \
                 revert before this one took effect, and the migration is still recorded as \
                 applied; fix the cause and run the downgrade again (a companion `db create` wrote \
                 reverts again from any point; check that a hand-written one does)"
            }
            (Direction::Down, Self::NotStarted) => {
                "the revert did not start; migrations reverted before it in this run stay reverted"
            }
            (Direction::Down, Self::ScriptEndedTransaction) => {
                "its down script ends the transaction workhub runs it in (its own COMMIT, END or \
                 ROLLBACK): what ran before that took effect, what ran after it did not, and the \
                 migration is still recorded as applied; check the database, take the transaction \
                 control out of the script (or set run_in_transaction = false), then rerun"
            }
            (Direction::Down, Self::Run | Self::TablesOnly) => self.left(),
        }
    }
}

fn left(undone: Option<Undone>) -> &'static str {
    undone.map_or("nothing was changed", Undone::left)
}

/// Items one per line, indented, after the line that introduces them.
pub(crate) fn list(items: &[String]) -> String {
    items.iter().map(|item| format!("\n    {item}")).collect()
}

fn indent(text: &str) -> String {
    const LIMIT: usize = 2000;
    let text = if text.len() > LIMIT {
        let cut = (0..=LIMIT)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        format!("{} ...", &text[..cut])
    } else {
        text.to_string()
    };
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
