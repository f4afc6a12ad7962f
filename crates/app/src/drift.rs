//! Whether the models, the migrations and a database agree: the checks behind `db check`, `db stamp`
//! and the development server's warning.

use workhub_migrations::schema::{diff, render, scratch, Schema};
use workhub_migrations::{Database, DatabaseUrl, Dialect, MigrateError, Target};

use crate::context::Context;
use crate::failure::Failure;

/// One line per model change that no migration captures yet. On PostgreSQL the migrations'
/// PostgreSQL SQL is also replayed into a scratch database, so a dialect that drifted is caught too.
pub fn model_changes(ctx: &Context) -> Result<Vec<String>, Failure> {
    let models = workhub_models::schema();
    let mut lines: Vec<String> = scratch::uncaptured(&ctx.migrations, &models)?
        .iter()
        .map(|change| {
            format!(
                "model change not captured by a migration: {}",
                change.describe()
            )
        })
        .collect();
    if lines.is_empty() && ctx.url.dialect() == Dialect::Postgres {
        let built = scratch::built_by_postgres(&ctx.url, &ctx.migrations, &Target::Head)?;
        lines.extend(
            diff(
                &render::for_dialect(&built, Dialect::Postgres),
                &render::for_dialect(&models, Dialect::Postgres),
            )
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
    let (actual, dialect) = match db {
        Database::Sqlite(sqlite) => (scratch::read(sqlite)?, Dialect::Sqlite),
        Database::Postgres(postgres) => (scratch::read_postgres(postgres)?, Dialect::Postgres),
    };
    // A relative target (+N, -N) means nothing to a scratch database; the user named no schema.
    if actual.tables.is_empty() || matches!(target, Target::Forward(_) | Target::Back(_)) {
        return Ok(());
    }
    let expected = expected(ctx, target)?;
    let differences: Vec<String> = diff(
        &render::for_dialect(&actual, dialect),
        &render::for_dialect(&expected, dialect),
    )
    .iter()
    .map(|change| format!("to match, the database would need: {}", change.describe()))
    .collect();
    if differences.is_empty() {
        return Ok(());
    }
    Err(MigrateError::SchemaMismatch {
        target: target.to_string(),
        differences,
    }
    .into())
}

fn expected(ctx: &Context, target: &Target) -> Result<Schema, Failure> {
    Ok(match &ctx.url {
        DatabaseUrl::Sqlite(_) => scratch::built_by(&ctx.migrations, target)?,
        DatabaseUrl::Postgres(_) => scratch::built_by_postgres(&ctx.url, &ctx.migrations, target)?,
    })
}

/// In development, a warning (not a refusal) when the models have changes no migration captures.
pub fn warn_if_models_differ(ctx: &Context) {
    match model_changes(ctx) {
        Ok(lines) if lines.is_empty() => {}
        Ok(lines) => {
            eprintln!("warning: the models differ from the migrations:");
            for line in &lines {
                eprintln!("  {line}");
            }
            eprintln!(
                "  hint: run `just migrate-create NAME` (workhub db create NAME) and review it"
            );
        }
        Err(err) => eprintln!("warning: could not compare the models with the migrations: {err}"),
    }
}
