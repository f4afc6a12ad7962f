use std::fmt;
use std::time::Duration;

use crate::source::lineage::Divergence;
use crate::SourceError;

/// Everything that can stop a migration command. Each variant carries what the user needs to see the
/// cause and the way out; none of them has run anything it could not roll back.
#[derive(Debug)]
pub enum MigrateError {
    Source(SourceError),
    /// The database URL is not one workhub understands.
    BadUrl {
        url: String,
        reason: String,
    },
    /// The database cannot be reached or opened.
    Connect {
        url: String,
        message: String,
    },
    /// A target that matches no migration.
    UnknownTarget {
        target: String,
    },
    /// A version prefix that matches more than one migration.
    AmbiguousTarget {
        target: String,
        candidates: Vec<String>,
    },
    /// `+N` / `-N` reaching past the migrations there are.
    OutOfRange {
        target: String,
        available: usize,
        what: &'static str,
    },
    /// A target that points the other way (`upgrade -1`, `downgrade` to a pending version).
    WrongDirection {
        target: String,
        hint: String,
    },
    /// Applied migrations whose `up` SQL changed since they ran.
    Modified {
        folders: Vec<String>,
    },
    /// Versions the database has applied that this binary or directory does not know.
    UnknownApplied {
        versions: Vec<String>,
        head: Option<String>,
        /// Whether any of them sorts after `head`: only then can a newer build know them. Below head
        /// they are a renamed or removed folder, or a migration of another branch.
        newer: bool,
    },
    /// A pending migration whose `up` script is empty (zero bytes), which diesel refuses to run.
    EmptyUp {
        folder: String,
        file: &'static str,
    },
    /// Pending migrations older than the newest applied one, typically merged from another branch.
    OutOfOrder {
        pending: Vec<String>,
        newest_applied: String,
    },
    /// Migrations a downgrade would revert that have no `down.sql`.
    Irreversible {
        folders: Vec<String>,
    },
    /// A statement of a migration failed; that migration was rolled back.
    Statement {
        folder: String,
        direction: &'static str,
        statement: String,
        message: String,
        undone: Undone,
    },
    /// Another process held the migration lock longer than the timeout.
    LockTimeout {
        holder: String,
        waited: Duration,
    },
    /// Another connection kept writing to the database (SQLite's write lock: the running service, or
    /// another tool) longer than the timeout.
    WriterTimeout {
        doing: String,
        waited: Duration,
        /// What the failure took back; `None` when nothing had been changed.
        undone: Option<Undone>,
    },
    /// `--transaction all` with a migration that must run outside a transaction.
    NeedsOwnTransaction {
        folders: Vec<String>,
    },
    /// Stamping a database whose schema differs from the target's.
    SchemaMismatch {
        target: String,
        differences: Vec<String>,
    },
    /// A database failure that stopped a migration command, with what was being done and what it
    /// left of the database.
    Stopped {
        doing: String,
        message: String,
        /// What the failure took back; `None` when nothing had been changed.
        undone: Option<Undone>,
    },
    /// Pending migrations written against a parent other than the migration before them: branches
    /// merged without rebasing. Nothing ran.
    Diverged {
        divergences: Vec<Divergence>,
    },
    /// Any other database failure, with what was being done.
    Database {
        doing: String,
        message: String,
    },
}

/// What a failed statement took back with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undone {
    /// Its own migration's transaction.
    Migration,
    /// The single transaction of a `--transaction all` run.
    Run,
    /// Nothing: the migration runs outside a transaction.
    Nothing,
    /// Nothing to take back: the migration had not started; those before it in the run stay applied.
    NotStarted,
    /// Nothing to take back of any migration, but the run had created the (empty) history tables.
    TablesOnly,
}

impl Undone {
    /// Where the database stands after a failure that took this back.
    pub fn left(self) -> &'static str {
        match self {
            Self::Migration => {
                "the migration was rolled back; migrations before it in this run stay applied"
            }
            Self::Run => "the whole run was rolled back (--transaction all); nothing changed",
            Self::Nothing => {
                "it runs outside a transaction (run_in_transaction = false): statements before this \
                 one took effect and the migration is not recorded; make it safe to rerun, then rerun"
            }
            Self::NotStarted => {
                "the migration did not start; migrations before it in this run stay applied"
            }
            Self::TablesOnly => {
                "no migration was run or recorded; only the empty history tables were created"
            }
        }
    }
}

fn list(items: &[String]) -> String {
    items.iter().map(|item| format!("\n    {item}")).collect()
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Source(err) => err.fmt(f),
            Self::BadUrl { url, reason } => write!(
                f,
                "database URL `{url}`: {reason}\n  hint: use a SQLite path (workhub.db, sqlite://path/to.db) \
                 or postgres://user@host/dbname, via --database-url or DATABASE_URL"
            ),
            Self::Connect { url, message } => write!(
                f,
                "cannot open database {url}: {message}\n  hint: check --database-url / DATABASE_URL and that \
                 the server is running and the directory exists"
            ),
            Self::UnknownTarget { target } => write!(
                f,
                "no migration matches `{target}`\n  hint: use head, base, +N, -N, a version or a version prefix; \
                 `workhub db history` lists them"
            ),
            Self::AmbiguousTarget { target, candidates } => write!(
                f,
                "`{target}` matches {} migrations:{}\n  hint: give more digits of the version",
                candidates.len(),
                list(candidates)
            ),
            Self::OutOfRange { target, available, what } => write!(
                f,
                "`{target}` goes past the end: only {available} {what}\n  hint: nothing was run; \
                 `workhub db history` shows where the database stands"
            ),
            Self::WrongDirection { target, hint } => write!(f, "`{target}`: {hint}"),
            Self::Modified { folders } => write!(
                f,
                "applied migrations were modified after they ran:{}\n  hint: restore their up.sql from version \
                 control and put the change in a new migration; if the edit is deliberate and the schema \
                 already matches, record the new checksums with `workhub db repair`",
                list(folders)
            ),
            Self::UnknownApplied { versions, head, newer } => {
                write!(
                    f,
                    "the database has applied migrations this binary does not know:{}\n  \
                     this binary's newest migration is {}\n  nothing was run\n  hint: ",
                    list(versions),
                    head.as_deref().unwrap_or("(none)")
                )?;
                if *newer {
                    write!(f, "the database is ahead of this build; deploy the newer binary")
                } else {
                    write!(
                        f,
                        "they sort below this binary's newest migration, so no newer build explains them: \
                         a migration folder was renamed or removed, or they come from another branch; \
                         revert them with the build that has them"
                    )
                }
            }
            Self::EmptyUp { folder, file } => write!(
                f,
                "migration `{folder}`: {file} is empty (zero bytes), which diesel refuses to run too; \
                 nothing was run\n  hint: write the SQL it runs (a comment alone is a no-op), or \
                 delete the folder"
            ),
            Self::OutOfOrder { pending, newest_applied } => write!(
                f,
                "pending migrations are older than the newest applied one ({newest_applied}):{}\n  \
                 they were probably merged from another branch after {newest_applied} ran.\n  hint: check \
                 they do not conflict with it, then rerun with --allow-out-of-order, or recreate them with \
                 a newer timestamp",
                list(pending)
            ),
            Self::Irreversible { folders } => write!(
                f,
                "cannot downgrade: these migrations have no down.sql:{}\n  hint: nothing was run; add a \
                 down.sql, or choose a target above them",
                list(folders)
            ),
            Self::Statement { folder, direction, statement, message, undone } => {
                write!(
                    f,
                    "migration {folder} ({direction}) failed: {message}\n  statement:\n{}\n  ",
                    indent(statement)
                )?;
                f.write_str(undone.left())?;
                // PostgreSQL keeps the catalog entry of a concurrent index build that failed midway.
                let upper = statement.to_ascii_uppercase();
                if upper.contains("CREATE") && upper.contains("INDEX") && upper.contains("CONCURRENTLY")
                {
                    f.write_str(
                        "\n  hint: a failed CREATE INDEX CONCURRENTLY may leave an INVALID index \
                         behind (see \\d TABLE in psql); drop it with DROP INDEX CONCURRENTLY IF \
                         EXISTS before rerunning",
                    )?;
                }
                Ok(())
            }
            Self::LockTimeout { holder, waited } => write!(
                f,
                "gave up after {:.1}s waiting for the migration lock, held by {holder}\n  nothing was \
                 run\n  hint: another workhub is migrating this database; wait for it, or raise \
                 WORKHUB_LOCK_TIMEOUT",
                waited.as_secs_f64()
            ),
            Self::WriterTimeout {
                doing,
                waited,
                undone,
            } => write!(
                f,
                "{doing}: gave up after {:.1}s waiting for another connection to finish writing to the \
                 database (the running service, or another tool)\n  {}\n  hint: retry when it is done, \
                 or raise the lock timeout",
                waited.as_secs_f64(),
                undone.map_or("nothing was changed", Undone::left)
            ),
            Self::NeedsOwnTransaction { folders } => write!(
                f,
                "--transaction all cannot include migrations with run_in_transaction = false:{}\n  \
                 hint: use --transaction each (the default), or stop the run before them",
                list(folders)
            ),
            Self::SchemaMismatch { target, differences } => write!(
                f,
                "the database's schema differs from what {target} builds:{}\n  hint: nothing was recorded; \
                 bring the schema in line, or stamp anyway with --force",
                list(differences)
            ),
            Self::Diverged { divergences } => write!(
                f,
                "the history has diverged: migrations were merged from branches that did not know of \
                 each other:{}\n  nothing was run; the merged-in branch's migrations must be re-created on top \
                 of the branch they were merged into",
                list(&divergences.iter().map(ToString::to_string).collect::<Vec<_>>())
            ),
            Self::Database { doing, message } => write!(f, "{doing}: {message}"),
            Self::Stopped {
                doing,
                message,
                undone,
            } => write!(
                f,
                "{doing}: {message}\n  {}",
                undone.map_or("nothing was changed", Undone::left)
            ),
        }
    }
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

impl std::error::Error for MigrateError {}

impl From<SourceError> for MigrateError {
    fn from(err: SourceError) -> Self {
        Self::Source(err)
    }
}
