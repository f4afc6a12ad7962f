//! The command line of the migration workflow: the options every command takes, and the `db`
//! subcommands. A binary puts them into its own parser (`workhub` beside `serve`), or uses
//! [`MigrateCli`] whole.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use workhub_migrations::Target;

pub use crate::failure::EXIT_CODES;

/// Where the database and the migrations are, and how long to wait for another migrator.
#[derive(Debug, Clone, Args)]
pub struct DatabaseOptions {
    /// The database: a SQLite path (plain or sqlite://), postgres://user@host/db or
    /// mysql://user@host/db (MySQL and MariaDB, in a build with the `mysql` feature).
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "workhub.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Read migrations from this directory instead of the ones embedded in the binary (development).
    #[arg(
        long,
        global = true,
        env = "WORKHUB_MIGRATIONS_DIR",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub migrations_dir: Option<PathBuf>,

    /// Seconds to wait for another process's migration lock before giving up.
    #[arg(
        long,
        global = true,
        env = "WORKHUB_LOCK_TIMEOUT",
        hide_env_values = true,
        default_value_t = 60.0,
        value_name = "SECONDS"
    )]
    pub lock_timeout: f64,
}

/// How an upgrade or downgrade runs: taken by `upgrade`, `downgrade` and `--migrate-only`, and shown
/// only in their help.
#[derive(Debug, Clone, Default, Args)]
pub struct RunOptions {
    /// Apply pending migrations older than the newest applied one (merged from another branch).
    #[arg(long)]
    pub allow_out_of_order: bool,

    /// `each` (the default): one transaction per migration; `all`: the whole run in one transaction.
    #[arg(long, value_enum, value_name = "each|all")]
    pub transaction: Option<TransactionArg>,

    /// MySQL: continue the migration an earlier run left unfinished from the statement that did not
    /// take effect, once its cause is fixed (MySQL's DDL cannot roll back).
    #[arg(long)]
    pub resume: bool,
}

impl RunOptions {
    /// The options a run takes: those given after `command`'s name (upgrade, downgrade), with what
    /// they leave unsaid taken from these, given before it.
    pub fn for_command(&self, command: Option<&DbCommand>) -> RunOptions {
        match command.and_then(DbCommand::run_options) {
            Some(own) => RunOptions {
                allow_out_of_order: own.allow_out_of_order || self.allow_out_of_order,
                transaction: own.transaction.or(self.transaction),
                resume: own.resume || self.resume,
            },
            None => self.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransactionArg {
    Each,
    All,
}

/// Printing what an upgrade or downgrade would run instead of running it.
#[derive(Debug, Clone, Default, Args)]
pub struct OfflineOptions {
    /// Print the SQL that would run (transactions, history rows and lock included) for psql,
    /// sqlite3 or the mysql client, without connecting to the database.
    #[arg(long)]
    pub sql: bool,

    /// The database kind the SQL is for (default: the database URL's).
    #[arg(long, value_enum, requires = "sql")]
    pub dialect: Option<DialectArg>,

    /// Print the migrations the command would run against the database, in order, and run none.
    #[arg(long, conflicts_with = "sql")]
    pub plan: bool,

    /// With --plan: `text` for people, `json` for programs (the shape `workhub-plan/1`).
    #[arg(long, value_enum, default_value_t = Format::Text, requires = "plan")]
    pub format: Format,
}

/// How a report is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    Sqlite,
    Postgres,
    Mysql,
}

/// A command's TARGET, optionally after the revision the database stands at (`FROM:TARGET`, which
/// only `--sql` takes: it cannot ask the database).
#[derive(Debug, Clone)]
pub struct Range {
    pub from: Option<Target>,
    pub to: Target,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply migrations up to TARGET: head (default), a version or unique prefix, or +N.
    #[command(after_help = EXIT_CODES)]
    Upgrade {
        /// With --sql, FROM:TARGET names where the database stands (default base).
        #[arg(default_value = "head", value_parser = parse_range, allow_hyphen_values = true)]
        target: Range,
        #[command(flatten)]
        run: RunOptions,
        #[command(flatten)]
        offline: OfflineOptions,
    },
    /// Revert migrations down to TARGET: -N (default -1), a version (kept applied), or base.
    #[command(after_help = EXIT_CODES)]
    Downgrade {
        /// With --sql, FROM:TARGET names where the database stands (default head).
        #[arg(default_value = "-1", value_parser = parse_range, allow_hyphen_values = true)]
        target: Range,
        #[command(flatten)]
        run: RunOptions,
        #[command(flatten)]
        offline: OfflineOptions,
    },
    /// Show the applied revision and whether it is head.
    #[command(after_help = EXIT_CODES)]
    Current {
        /// Also show where the database and the migrations are, when the revision was applied, and
        /// its checksum.
        #[arg(short, long)]
        verbose: bool,
        /// `text` for people, `json` for programs (the shape `workhub-status/1`, in the README).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List every migration, applied or not, with current and head marked.
    #[command(after_help = EXIT_CODES)]
    History {
        /// Also show each migration's version, checksum, whether it can be reverted, and when it was
        /// applied or stamped.
        #[arg(short, long)]
        verbose: bool,
        /// `text` for people, `json` for programs (the shape `workhub-status/1`, with `migrations`).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Record TARGET as applied without running any SQL (adopting an existing database).
    #[command(after_help = EXIT_CODES)]
    Stamp {
        #[arg(value_parser = parse_target, allow_hyphen_values = true)]
        target: Target,
        /// Also forget the recorded versions this binary does not know.
        #[arg(long)]
        purge: bool,
        /// Stamp even when the database's schema differs from what TARGET builds.
        #[arg(long)]
        force: bool,
    },
    /// Exit non-zero when anything is pending, modified, unknown or not captured by a migration, or
    /// when the database's schema differs from what its applied migrations build.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// `text` for people, `json` for programs (the shape `workhub-check/1`); the exit code is
        /// the same either way.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also lint every migration after REVISION (the one production runs), not only the
        /// pending ones: in CI, where the database was just upgraded, this is what the branch adds.
        #[arg(long, value_name = "REVISION")]
        lint_since: Option<String>,
    },
    /// Record the current checksums of applied migrations whose SQL was deliberately edited, once the
    /// database's schema is shown to be what the migrations as edited build.
    #[command(after_help = EXIT_CODES)]
    Repair {
        /// Record the checksums even when the database's schema differs from what the migrations build.
        #[arg(long)]
        force: bool,
    },
    /// Print the SQL that would bring the database to the models, or to what the migrations build up
    /// to TARGET (head, base, a version or unique prefix), in its dialect, without running it.
    #[command(after_help = EXIT_CODES)]
    Diff {
        #[arg(value_parser = parse_target, allow_hyphen_values = true)]
        target: Option<Target>,
        /// `text` (the SQL), or `json` for programs (the shape `workhub-diff/1`).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Report what migrations do that can lose data or stall a busy database, each finding with its
    /// rule, file and line, why it matters and the safe way to write it; errors fail the command.
    #[command(after_help = EXIT_CODES)]
    Lint {
        /// The migrations to lint (folder names or paths, versions, names); default: every one.
        #[arg(value_name = "MIGRATION")]
        migrations: Vec<String>,
        /// `text` for people, `json` for programs (the shape `workhub-lint/1`).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Write a new migration folder from the difference between the models and the migrations.
    #[command(after_help = EXIT_CODES)]
    Create {
        /// What the migration does, e.g. add_due_date or several words (`add due date` becomes
        /// add_due_date); asked for when omitted on a terminal.
        #[arg(value_name = "NAME")]
        name: Vec<String>,
        /// Write an empty template instead of detecting changes.
        #[arg(long)]
        empty: bool,
        /// The lock_timeout each generated PostgreSQL migration sets first (`5s`, `500ms`,
        /// `1min`): a statement that waits longer for a lock fails instead of queueing all traffic
        /// on its table behind it.
        #[arg(
            long,
            env = "WORKHUB_POSTGRES_LOCK_TIMEOUT",
            hide_env_values = true,
            default_value = workhub_migrations::schema::render::online::DEFAULT_LOCK_TIMEOUT,
            value_name = "DURATION"
        )]
        postgres_lock_timeout: String,
    },
    /// Development only: delete the SQLite database and rebuild it from the migrations.
    #[command(after_help = EXIT_CODES)]
    Reset,
    /// Re-create migrations merged from another branch on top of the branch merged into (after a merge).
    #[command(after_help = EXIT_CODES)]
    Rebase {
        /// The migration the other branch was merged into (kept as it is); default: the one
        /// migrations/lineage.head names, or its `<<<<<<<` side when it has conflict markers.
        #[arg(long, value_name = "FOLDER")]
        onto: Option<String>,
    },
}

impl DbCommand {
    /// `db create`, which may write the first migration of a directory that does not exist yet.
    pub fn creates(&self) -> bool {
        matches!(self, Self::Create { .. })
    }

    /// The run options this command was given, where it takes them.
    pub fn run_options(&self) -> Option<&RunOptions> {
        match self {
            Self::Upgrade { run, .. } | Self::Downgrade { run, .. } => Some(run),
            _ => None,
        }
    }
}

/// What each `db` subcommand's help closes with: examples under `program`'s name, then the
/// environment it reads and the exit codes.
pub fn with_examples(command: clap::Command, program: &str) -> clap::Command {
    let examples: [(&str, &[&str]); 12] = [
        (
            "upgrade",
            &[
                "",
                "+1",
                "20240501",
                "head --transaction all",
                "--plan --format json",
                "--sql base:head > upgrade.sql",
            ],
        ),
        (
            "downgrade",
            &[
                "",
                "-2",
                "base",
                "base --plan",
                "--sql head:-1 --dialect postgres",
            ],
        ),
        ("current", &["", "--verbose", "--format json"]),
        ("history", &["", "-v", "--format json"]),
        ("stamp", &["head", "head --purge", "20240501 --force"]),
        ("check", &["", "--format json", "--lint-since 20240501"]),
        ("repair", &["", "--force"]),
        ("diff", &["", "head", "20240501", "--format json"]),
        (
            "lint",
            &["", "2024-05-01-120000_add_due_date", "--format json"],
        ),
        (
            "create",
            &["add_due_date", "make estimate not null", "backfill --empty"],
        ),
        ("reset", &[""]),
        ("rebase", &["", "--onto 2024-05-01-120000_add_due_date"]),
    ];
    let environment = "Environment: DATABASE_URL, WORKHUB_MIGRATIONS_DIR, WORKHUB_LOCK_TIMEOUT, \
                       WORKHUB_ENV (see .env.example).";
    command.mut_subcommand("db", |db| {
        examples.iter().fold(db, |db, (name, uses)| {
            let lines: String = uses
                .iter()
                .map(|args| {
                    format!("  {program} db {name} {args}")
                        .trim_end()
                        .to_string()
                        + "\n"
                })
                .collect();
            let help = format!("Examples:\n{lines}\n{environment}\n\n{EXIT_CODES}");
            db.mut_subcommand(*name, |sub| sub.after_help(help))
        })
    })
}

/// The whole command line of a binary that only migrates: `PROGRAM --migrate-only` and
/// `PROGRAM db ...`, with [`DatabaseOptions`] and [`RunOptions`]. [`crate::main`] names it after the
/// program.
#[derive(Debug, Parser)]
#[command(
    version,
    arg_required_else_help = true,
    after_help = after_help("")
)]
pub struct MigrateCli {
    #[command(flatten)]
    pub database: DatabaseOptions,

    /// Apply pending migrations, report them, and exit: the release step of a production deploy.
    #[arg(long)]
    pub migrate_only: bool,

    #[command(flatten)]
    pub run: RunOptions,

    #[command(subcommand)]
    pub command: Option<MigrateCommand>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Manage the database schema.
    #[command(after_help = EXIT_CODES)]
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

/// The top-level help's closing lines: the exit codes, then the environment the program reads
/// (`more` lists a binary's own variables, each followed by `, `).
pub fn after_help(more: &str) -> String {
    format!(
        "{EXIT_CODES}\nEnvironment: DATABASE_URL, WORKHUB_ENV, {more}WORKHUB_MIGRATIONS_DIR, \
         WORKHUB_LOCK_TIMEOUT, WORKHUB_SCHEMA_CACHE (see .env.example)."
    )
}

fn parse_range(text: &str) -> Result<Range, String> {
    match text.split_once(':') {
        Some((from, to)) => Ok(Range {
            from: Some(parse_target(from)?),
            to: parse_target(to)?,
        }),
        None => Ok(Range {
            from: None,
            to: parse_target(text)?,
        }),
    }
}

fn parse_target(text: &str) -> Result<Target, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not a target: use head, base, +N, -N (N at least 1), a version or a version prefix")
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::MigrateCli::command().debug_assert();
    }

    #[test]
    fn every_db_subcommand_has_examples_under_the_programs_name() {
        let command = super::with_examples(super::MigrateCli::command(), "tool");
        let db = command.find_subcommand("db").expect("db");
        for sub in db.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let example = format!("  tool db {}", sub.get_name());
            assert!(help.contains(&example), "{}: {help}", sub.get_name());
            assert!(help.contains("Exit codes:"), "{}: {help}", sub.get_name());
        }
    }
}
