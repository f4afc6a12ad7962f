//! The `workhub` binary: the HTTP service and the migration CLI (`workhub_migrate_cli`), carrying
//! every migration of `migrations/` embedded at build time so it can migrate any database on its own.

mod api;
mod cli;
mod embedded;
mod health;
mod log;
mod rows;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use workhub_migrate_cli::context::Context;
use workhub_migrate_cli::failure::Failure;
use workhub_migrate_cli::{db, App};

use crate::cli::{Cli, Command};

/// workhub's migrations and tables, for the migration commands.
pub const APP: App = App {
    program: "workhub",
    operator: "workhub",
    embedded: &embedded::EMBEDDED,
    models: workhub_models::schema,
};

fn main() -> ExitCode {
    if let Err(code) = workhub_migrate_cli::load_dotenv() {
        return code;
    }
    workhub_migrate_cli::trust::use_system_store();
    let command = workhub_migrate_cli::cli::with_examples(Cli::command(), APP.program);
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let format = match log::Format::from_env() {
        Ok(format) => format,
        Err(failure) => return workhub_migrate_cli::finish(Err(failure)),
    };
    let serving = !cli.migrate_only && matches!(cli.command, None | Some(Command::Serve));
    log::init(
        format,
        if serving {
            log::Stream::Stdout
        } else {
            log::Stream::Stderr
        },
    );
    workhub_migrate_cli::finish(run(cli))
}

fn run(cli: Cli) -> Result<(), Failure> {
    let creating = matches!(&cli.command, Some(Command::Db { command }) if command.creates());
    let db = match &cli.command {
        Some(Command::Db { command }) => Some(command),
        _ => None,
    };
    let ctx = Context::new(APP, &cli.database, &cli.run.for_command(db), creating)?;
    if cli.migrate_only {
        if cli.command.is_some() {
            return Err(Failure::Usage(
                "--migrate-only runs alone; drop the subcommand".into(),
            ));
        }
        return db::migrate_to_head(&ctx);
    }
    match cli.command {
        None | Some(Command::Serve) => serve::run(ctx),
        Some(Command::Db { command }) => db::run(&ctx, command),
    }
}
