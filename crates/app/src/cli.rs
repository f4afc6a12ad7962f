//! The command line: `workhub [serve]`, `workhub --migrate-only` and `workhub db ...` (the migration
//! commands, from `workhub_migrate_cli`).

use clap::{Parser, Subcommand};
use workhub_migrate_cli::cli::{DatabaseOptions, DbCommand, RunOptions};

#[derive(Debug, Parser)]
#[command(
    name = "workhub",
    version,
    about = "The workhub service, and the migrations that build its database.",
    after_help = "Exit codes: 0 success, 1 failure, 2 usage.\n\
                  Environment: DATABASE_URL, WORKHUB_ENV, WORKHUB_ADDR, WORKHUB_MIGRATIONS_DIR, \
                  WORKHUB_LOCK_TIMEOUT (see .env.example)."
)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseOptions,

    /// Apply pending migrations, report them, and exit: the release step of a production deploy.
    #[arg(long)]
    pub migrate_only: bool,

    #[command(flatten)]
    pub run: RunOptions,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Manage the database schema.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
