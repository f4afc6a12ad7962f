//! Whether the models, the migrations and a database agree: the checks behind `db check`, `db stamp`,
//! `db repair` and the development server's warning.

use std::path::Path;

use workhub_migrations::scratch;
use workhub_migrations::{Database, Dialect, MigrateError, Status, Target};
use workhub_schema::Schema;

use crate::context::{Context, Source};
use crate::failure::Failure;

/// What `db check` found beyond the history: its problems, and what it compared the migrations with.
#[derive(Debug)]
pub struct Checked {
    pub problems: Vec<String>,
    /// Ends the OK line: what was compared.
    pub compared: &'static str,
}

/// The directory of this run's migrations when it is another project's history, which workhub's models
/// do not describe; `None` for the embedded migrations, or for a directory that holds every embedded
/// migration (workhub's own history, with perhaps new folders not built in yet).
pub fn other_history(ctx: &Context) -> Option<&Path> {
    let Source::Directory(dir) = &ctx.source else {
        return None;
    };
    let own = ctx.app.embedded.migrations.iter().all(|embedded| {
        ctx.migrations
            .iter()
            .any(|m| m.version() == embedded.version() && m.folder() == embedded.folder())
    });
    (!own).then_some(dir.as_path())
}

/// `db check`'s comparison. Where workhub's models describe the migrations (not [`other_history`])
/// they are compared with the models. Another project's history (`--migrations-dir`) they do not
/// describe: the database is compared with what its applied migrations build in a scratch database of
/// its own dialect instead. Either way the migration directory's findings are printed as warnings.
pub fn for_check(ctx: &Context, status: &Status<'_>) -> Result<Checked, Failure> {
    for finding in findings(ctx) {
        eprintln!("warning: migrations: {finding}");
    }
    match other_history(ctx) {
        None => Ok(Checked {
            problems: model_changes(ctx)?,
            compared: "the models match the migrations",
        }),
        Some(dir) => {
            println!(
                "note: the models were not compared: the migrations come from {}, which workhub's \
                 models do not describe; the database was compared with what its applied migrations \
                 build on {}",
                dir.display(),
                ctx.url.dialect()
            );
            // `db check` has read the status, so the database exists.
            let mut db = ctx.open()?;
            let problems = live_drift(ctx, &mut db, status)?
                .into_iter()
                .map(|change| {
                    format!(
                        "the database differs from what its applied migrations build; to match, \
                         it would need: {change}"
                    )
                })
                .collect();
            Ok(Checked {
                problems,
                compared: "its schema is what its applied migrations build",
            })
        }
    }
}

/// The findings about this run's migrations: those the build script recorded for the embedded set,
/// else those of the directory's scan.
pub fn findings(ctx: &Context) -> &[String] {
    ctx.findings()
}

/// How the live schema differs from what the migrations `status` counts as applied build when
/// replayed, in order, into a scratch database of the same dialect (in-memory SQLite, or a temporary
/// PostgreSQL database on the same server): one description per difference, none when they agree.
/// PostgreSQL's SQL is never replayed into SQLite.
pub fn live_drift(
    ctx: &Context,
    db: &mut Database,
    status: &Status<'_>,
) -> Result<Vec<String>, Failure> {
    let applied: Vec<_> = status.applied().cloned().collect();
    let (actual, dialect) = read_live(ctx, db)?;
    let expected =
        scratch::built_on(&ctx.url, &applied, &Target::Head).map_err(|err| ctx.error(err))?;
    Ok(scratch::differences(&actual, &expected, dialect)
        .iter()
        .map(|change| change.describe())
        .collect())
}

/// Before `db repair` records checksums for applied migrations that have none (diesel_cli applied
/// them), proves that the database is what those migrations build: it compares the live schema with a
/// scratch replay of every applied migration on the same dialect and refuses on a difference, naming
/// it. With every checksum already recorded there is nothing to prove.
pub fn refuse_repair_over_drift(ctx: &Context, db: &mut Database) -> Result<(), Failure> {
    let status = ctx
        .migrator()
        .status(db.backend())
        .map_err(|err| ctx.error(err))?;
    let unverified: Vec<&str> = status
        .entries()
        .iter()
        .filter(|entry| {
            entry
                .applied
                .as_ref()
                .is_some_and(|row| row.checksum.is_none())
        })
        .map(|entry| entry.migration.folder())
        .collect();
    if unverified.is_empty() {
        return Ok(());
    }
    let differences = live_drift(ctx, db, &status)?;
    if differences.is_empty() {
        return Ok(());
    }
    Err(Failure::failed(format!(
        "cannot record checksums for {} migration{} applied without one ({}): the database's schema \
         differs from what its applied migrations build on {}:\n{}\n  \
         hint: nothing was recorded; the history is unchanged. Bring the schema in line with the \
         migrations (or write a migration that does), then run `{program} db repair` again",
        unverified.len(),
        crate::db::plural(unverified.len()),
        unverified.join(", "),
        ctx.url.dialect(),
        differences
            .iter()
            .map(|change| format!("    to match, the database would need: {change}"))
            .collect::<Vec<_>>()
            .join("\n"),
        program = ctx.app.program
    )))
}

/// The live schema; a failure names the database and says that nothing was changed (only read).
fn read_live(ctx: &Context, db: &mut Database) -> Result<(Schema, Dialect), Failure> {
    let read = match db {
        Database::Sqlite(sqlite) => scratch::read(sqlite).map(|s| (s, Dialect::Sqlite)),
        Database::Postgres(postgres) => {
            scratch::read_postgres(postgres).map(|s| (s, Dialect::Postgres))
        }
    };
    read.map_err(|err| {
        ctx.failure(match err {
            MigrateError::Database { doing, cause } => MigrateError::Stopped {
                doing,
                cause,
                undone: None,
            },
            other => other,
        })
    })
}

/// One line per model change that no migration captures yet. On PostgreSQL the migrations'
/// PostgreSQL SQL is also replayed into a scratch database, so a dialect that drifted is caught too.
pub fn model_changes(ctx: &Context) -> Result<Vec<String>, Failure> {
    let models = (ctx.app.models)();
    let mut lines: Vec<String> = scratch::uncaptured(&ctx.migrations, &models)
        .map_err(|err| ctx.error(err))?
        .iter()
        .map(|change| {
            format!(
                "model change not captured by a migration: {}",
                change.describe()
            )
        })
        .collect();
    if lines.is_empty() && ctx.url.dialect() == Dialect::Postgres {
        let built = scratch::built_by_postgres(&ctx.url, &ctx.migrations, &Target::Head)
            .map_err(|err| ctx.error(err))?;
        lines.extend(
            scratch::differences(&built, &models, Dialect::Postgres)
                .iter()
                .map(|change| {
                    format!(
                        "on PostgreSQL the migrations do not build the models; they would need: {}",
                        change.describe()
                    )
                }),
        );
    }
    Ok(lines)
}

/// Refuses to stamp `target` on a database whose tables differ from what the migrations up to
/// `target` build there. A database with no tables of its own has nothing to compare.
pub fn refuse_stamp_over_other_schema(
    ctx: &Context,
    db: &mut Database,
    target: &Target,
) -> Result<(), Failure> {
    let (actual, dialect) = read_live(ctx, db)?;
    // A relative target (+N, -N) means nothing to a scratch database; the user named no schema.
    if actual.tables.is_empty() || matches!(target, Target::Forward(_) | Target::Back(_)) {
        return Ok(());
    }
    let expected =
        scratch::built_on(&ctx.url, &ctx.migrations, target).map_err(|err| ctx.error(err))?;
    let differences: Vec<String> = scratch::differences(&actual, &expected, dialect)
        .iter()
        .map(|change| format!("to match, the database would need: {}", change.describe()))
        .collect();
    if differences.is_empty() {
        return Ok(());
    }
    Err(ctx.failure(MigrateError::SchemaMismatch {
        target: target.to_string(),
        differences,
    }))
}

/// In development, a warning (not a refusal) when the models have changes no migration captures.
pub fn warn_if_models_differ(ctx: &Context) {
    // Another project's history is not what the models describe (and may be PostgreSQL's alone).
    if other_history(ctx).is_some() {
        return;
    }
    match model_changes(ctx) {
        Ok(lines) if lines.is_empty() => {}
        Ok(lines) => {
            eprintln!("warning: the models differ from the migrations:");
            for line in &lines {
                eprintln!("  {line}");
            }
            eprintln!(
                "  hint: run `just migrate-create NAME` ({} db create NAME) and review it",
                ctx.app.program
            );
        }
        Err(err) => eprintln!("warning: could not compare the models with the migrations: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use workhub_migrations::embed::Embedded;
    use workhub_schema::Schema;

    use crate::cli::{DatabaseOptions, RunOptions, TransactionArg};
    use crate::context::Context;
    use crate::App;

    static EMBEDDED: Embedded = Embedded {
        migrations: &[],
        head: None,
        findings: &["`2031-01-03-000000_Not-A-Name`: not named the way generated migrations are"],
    };

    fn context(migrations_dir: Option<std::path::PathBuf>) -> Context {
        let app = App {
            program: "workhub",
            operator: "workhub",
            embedded: &EMBEDDED,
            models: Schema::default,
        };
        let options = DatabaseOptions {
            database_url: "unused.db".into(),
            migrations_dir,
            lock_timeout: 1.0,
        };
        let run = RunOptions {
            allow_out_of_order: false,
            transaction: TransactionArg::Each,
        };
        Context::new(app, &options, &run, false).unwrap()
    }

    #[test]
    fn db_check_lists_the_findings_the_build_recorded_or_the_directorys() {
        assert_eq!(super::findings(&context(None)), EMBEDDED.findings);
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("2031-01-04-000000_Odd");
        std::fs::create_dir(&odd).unwrap();
        std::fs::write(odd.join("up.sql"), "SELECT 1;\n").unwrap();
        let ctx = context(Some(dir.path().to_path_buf()));
        let found = super::findings(&ctx);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("`2031-01-04-000000_Odd`: not named the way"),
            "{found:?}"
        );
    }
}
