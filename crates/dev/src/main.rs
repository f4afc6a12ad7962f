//! `workhub-dev`: every `workhub db ...` command and `--migrate-only`, over workhub's tables
//! (`workhub_models`) and the migrations embedded at build time, without the service.
//!
//! `just migrate-create`, `just check` and `just migrate-rebase` run it. It depends on the tables, the
//! engine and the migration CLI only, so a model change that breaks the service's code still generates
//! its migration, and generating after a model edit rebuilds only the tables and this binary. Its
//! output is `workhub db ...`'s, with its own name in the hints: both binaries run the same library.

use std::process::ExitCode;

use workhub_migrate_cli::App;

workhub_migrations::include_embedded!();

fn main() -> ExitCode {
    workhub_migrate_cli::main(
        "workhub's migration commands over its tables, without the service: `db create` works while \
         the service does not compile.",
        App {
            program: "workhub-dev",
            // The migrations it writes are applied by the workhub binary, which operators have.
            operator: "workhub",
            embedded: &EMBEDDED,
            models: workhub_models::schema,
        },
    )
}
