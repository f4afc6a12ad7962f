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
    /// The database: a SQLite path (plain or sqlite://) or postgres://user@host/db.
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
        value_name = "DIR"
    )]
    pub migrations_dir: Option<PathBuf>,

    /// Seconds to wait for another process's migration lock before giving up.
    #[arg(
        long,
        global = true,
        env = "WORKHUB_LOCK_TIMEOUT",
        default_value_t = 60.0,
        value_name = "SECONDS"
    )]
    pub lock_timeout: f64,
}

/// How an upgrade or downgrade runs.
#[derive(Debug, Clone, Args)]
pub struct RunOptions {
    /// Apply pending migrations older than the newest applied one (merged from another branch).
    #[arg(long, global = true)]
    pub allow_out_of_order: bool,

    /// `each`: one transaction per migration; `all`: the whole run in one transaction.
    #[arg(long, global = true, value_enum, default_value_t = TransactionArg::Each)]
    pub transaction: TransactionArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransactionArg {
    Each,
    All,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply migrations up to TARGET: head (default), a version or unique prefix, or +N.
    #[command(after_help = EXIT_CODES)]
    Upgrade {
        #[arg(default_value = "head", value_parser = parse_target, allow_hyphen_values = true)]
        target: Target,
    },
    /// Revert migrations down to TARGET: -N (default -1), a version (kept applied), or base.
    #[command(after_help = EXIT_CODES)]
    Downgrade {
        #[arg(default_value = "-1", value_parser = parse_target, allow_hyphen_values = true)]
        target: Target,
    },
    /// Show the applied revision and whether it is head.
    #[command(after_help = EXIT_CODES)]
    Current {
        #[arg(short, long)]
        verbose: bool,
    },
    /// List every migration, applied or not, with current and head marked.
    #[command(after_help = EXIT_CODES)]
    History {
        #[arg(short, long)]
        verbose: bool,
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
    /// Exit non-zero when anything is pending, modified, unknown or not captured by a migration.
    #[command(after_help = EXIT_CODES)]
    Check,
    /// Record the current checksums of applied migrations whose SQL was deliberately edited.
    #[command(after_help = EXIT_CODES)]
    Repair,
    /// Write a new migration folder from the difference between the models and the migrations.
    #[command(after_help = EXIT_CODES)]
    Create {
        /// What the migration does, e.g. add_due_date (asked for when omitted on a terminal).
        name: Option<String>,
        /// Write an empty template instead of detecting changes.
        #[arg(long)]
        empty: bool,
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
}
