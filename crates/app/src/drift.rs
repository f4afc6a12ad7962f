//! Whether the models, the migrations and a database agree: the checks behind `db check`, `db stamp`
//! and the development server's warning.

use workhub_migrations::schema::{diff, scratch};
use workhub_migrations::{Database, MigrateError, Target};

use crate::context::Context;
use crate::failure::Failure;

/// One line per model change that no migration captures yet.
pub fn model_changes(ctx: &Context) -> Result<Vec<String>, Failure> {
    let changes = scratch::uncaptured(&ctx.migrations, &workhub_models::schema())?;
    Ok(changes
        .iter()
        .map(|change| {
            format!(
                "model change not captured by a migration: {}",
                change.describe()
            )
        })
        .collect())
}

/// Refuses to stamp `target` on a database whose tables differ from what the migrations up to
/// `target` build. A database with no tables of its own has nothing to compare.
pub fn refuse_stamp_over_other_schema(
    ctx: &Context,
    db: &mut Database,
    target: &Target,
) -> Result<(), Failure> {
    let actual = match db {
        Database::Sqlite(sqlite) => scratch::read(sqlite)?,
        Database::Postgres(_) => return Ok(()),
    };
    // A relative target (+N, -N) means nothing to a scratch database; the user named no schema.
    if actual.tables.is_empty() || matches!(target, Target::Forward(_) | Target::Back(_)) {
        return Ok(());
    }
    let expected = scratch::built_by(&ctx.migrations, target)?;
    let differences: Vec<String> = diff(&actual, &expected)
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
