//! workhub's migration command line as a library: the `db` subcommands (`upgrade`, `downgrade`,
//! `current`, `history`, `stamp`, `check`, `repair`, `diff`, `create`, `reset`, `rebase`) and
//! `--migrate-only`, with their reports, progress lines, hints and exit codes.
//!
//! It owns the wording; the engine (`workhub_migrations`) decides. It knows no tables and no service:
//! a binary gives it an [`App`] (the migrations its build script embedded and the schema its models
//! declare). `workhub` runs it beside its HTTP service; `workhub-dev` runs it alone, over the tables
//! only, so a migration can be generated while the service does not compile.
//!
//! - [`cli`]: the options and subcommands, for a binary's own parser or whole ([`cli::MigrateCli`]);
//! - [`context`]: what every command works with (database, migrations, mode, run options);
//! - [`db`]: the commands;
//! - [`drift`]: whether the models, the migrations and a database agree;
//! - [`adoption`]: a database with tables and no recorded migration, and the revision it matches;
//! - [`progress`], [`failure`], [`hint`], [`mode`]: how a run shows itself, how it fails (exit codes
//!   1 problems found, 2 usage, 3 database unreachable), the way out of each failure, the startup
//!   policy;
//! - [`trust`]: where the bundled OpenSSL finds the system's trusted certificates, for both binaries.

pub mod adoption;
pub mod cli;
pub mod context;
pub mod db;
pub mod drift;
pub mod failure;
pub mod hint;
pub mod mode;
pub mod progress;
pub mod trust;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use workhub_migrations::embed::Embedded;
use workhub_schema::Schema;

use crate::cli::{MigrateCli, MigrateCommand};
use crate::context::Context;
use crate::failure::Failure;

/// What an application gives the migration commands.
#[derive(Debug, Clone, Copy)]
pub struct App {
    /// The program's name, as its hints name its commands (`workhub` says `workhub db upgrade`).
    pub program: &'static str,
    /// The program operators apply migrations with: the guards of the migrations this program
    /// generates name `OPERATOR db upgrade` for whoever runs them with another tool. The same as
    /// `program`, except in a developer's binary that generates migrations for another one to apply.
    pub operator: &'static str,
    /// The migrations its build script embedded (`workhub_migrations::include_embedded!`'s `EMBEDDED`).
    pub embedded: &'static Embedded,
    /// The schema its models declare (the `schema()` that `workhub_schema::tables!` defines).
    pub models: fn() -> Schema,
}

/// The whole program of a binary that only migrates: reads `.env`, parses [`MigrateCli`] under the
/// app's program name, runs the command and turns a failure into `error: ...` on stderr and its exit
/// code.
pub fn main(about: &'static str, app: App) -> ExitCode {
    trust::use_system_store();
    if let Err(code) = load_dotenv() {
        return code;
    }
    let command = cli::with_examples(
        MigrateCli::command()
            .name(app.program)
            .bin_name(app.program)
            .about(about),
        app.program,
    );
    let cli = match MigrateCli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    finish(run(app, cli))
}

fn run(app: App, cli: MigrateCli) -> Result<(), Failure> {
    let creating =
        matches!(&cli.command, Some(MigrateCommand::Db { command }) if command.creates());
    let db = cli
        .command
        .as_ref()
        .map(|MigrateCommand::Db { command }| command);
    let ctx = Context::new(app, &cli.database, &cli.run.for_command(db), creating)?;
    match (cli.migrate_only, cli.command) {
        (true, Some(_)) => Err(Failure::Usage(
            "--migrate-only runs alone; drop the subcommand".into(),
        )),
        (true, None) => db::migrate_to_head(&ctx),
        (false, Some(MigrateCommand::Db { command })) => db::run(&ctx, command),
        (false, None) => Err(Failure::Usage(
            "a command is needed: `db SUBCOMMAND` (see --help), or --migrate-only".into(),
        )),
    }
}

/// Reads `.env` when there is one: a missing file is the normal case, a malformed one is worth saying
/// (exit code 2).
pub fn load_dotenv() -> Result<(), ExitCode> {
    match dotenvy::dotenv() {
        Err(err) if !err.not_found() => {
            eprintln!("error: cannot read .env: {err}");
            Err(ExitCode::from(2))
        }
        _ => Ok(()),
    }
}

/// A command's result as the process ends: a failure is printed as `error: ...` on stderr.
pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
