//! The command line: `workhub [serve]`, `workhub --migrate-only` and `workhub db ...` (the migration
//! commands, from `workhub_migrate_cli`).

use clap::{Parser, Subcommand};
use workhub_migrate_cli::cli::{after_help, DatabaseOptions, DbCommand, RunOptions, EXIT_CODES};

#[derive(Debug, Parser)]
#[command(
    name = "workhub",
    version,
    about = "The workhub service, and the migrations that build its database.",
    after_help = after_help("WORKHUB_ADDR, ")
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
    #[command(after_help = EXIT_CODES)]
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
