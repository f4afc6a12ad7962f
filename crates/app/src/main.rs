//! The `workhub` binary: the HTTP service and the migration CLI, carrying every migration of
//! `migrations/` embedded at build time so it can migrate any database on its own.

mod api;
mod cli;
mod context;
mod db;
mod drift;
mod embedded;
mod failure;
mod mode;
mod progress;
mod serve;
mod trust;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::failure::Failure;

fn main() -> ExitCode {
    // A missing .env is the normal case; a malformed one is worth saying.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            eprintln!("error: cannot read .env: {err}");
            return ExitCode::from(2);
        }
    }
    trust::use_system_store();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = Context::new(&cli)?;
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
