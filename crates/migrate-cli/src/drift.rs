//! Whether the models, the migrations and a database agree: the checks behind `db check`, `db stamp`,
//! `db repair` and the development server's warning.

use std::path::Path;

use workhub_migrations::plan::State;
use workhub_migrations::scratch;
use workhub_migrations::{Database, Dialect, MigrateError, Status, Target};
use workhub_schema::{Change, Schema, Sides};

use crate::context::{Context, Source};
use crate::failure::Failure;

/// What `db check` found beyond the history: its problems, their ways out, and what it compared.
#[derive(Debug)]
pub struct Checked {
    pub problems: Vec<String>,
    pub hints: Vec<String>,
    /// The database has tables and records no migration: to be stamped, not upgraded.
    pub unadopted: bool,
    /// Ends the OK line: what was compared.
    pub compared: &'static str,
    /// What was left out of the comparison, and why (`note: ...` lines).
    pub notes: Vec<String>,
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

/// `db check`'s comparisons. The live database is compared with what its applied migrations build in
/// a scratch database of its own dialect (a database with tables and no history gets the way to adopt
/// it instead). Where workhub's models describe the migrations (not [`other_history`]) the migrations
/// are compared with the models too. The migration directory's findings are printed as warnings.
pub fn for_check(ctx: &Context, status: &Status<'_>) -> Result<Checked, Failure> {
    for finding in findings(ctx) {
        eprintln!("warning: migrations: {finding}");
    }
    // On a server (PostgreSQL, MySQL), with every migration applied, the replay the live schema is
    // compared with is the one the models are compared with: one scratch database instead of two.
    let everything_applied = status.unknown.is_empty() && status.pending().next().is_none();
    let replayed = if ctx.url.dialect() != Dialect::Sqlite && everything_applied {
        Some(built_by_applied(ctx, status)?)
    } else {
        None
    };
    let mut checked = match other_history(ctx) {
        None => {
            let problems = model_changes_given(ctx, replayed.as_ref())?;
            let hints = if problems.is_empty() {
                Vec::new()
            } else {
                vec![format!(
                    "`{} db create NAME` captures the model changes",
                    ctx.app.program
                )]
            };
            Checked {
                problems,
                hints,
                unadopted: false,
                compared: "the models match the migrations, and its schema is what its applied \
                           migrations build",
                notes: Vec::new(),
            }
        }
        Some(dir) => Checked {
            problems: Vec::new(),
            hints: Vec::new(),
            unadopted: false,
            compared: "its schema is what its applied migrations build",
            notes: vec![format!(
                "note: the models were not compared: the migrations come from {}, which \
                     workhub's models do not describe; the database was compared with what its \
                     applied migrations build on {}",
                dir.display(),
                ctx.url.dialect()
            )],
        },
    };
    // `db check` has read the status, so the database exists.
    let mut db = ctx.open()?;
    if let Some(unadopted) = crate::adoption::assess(ctx, &mut db, status)? {
        checked.problems.push(unadopted.describe(&ctx.url));
        checked.hints.push(unadopted.hint(ctx.app.program));
        checked.unadopted = true;
        return Ok(checked);
    }
    // What versions this binary does not know built cannot be replayed: they are a problem already.
    if !status.unknown.is_empty() {
        checked.notes.push(
            "note: the live schema was not compared: versions this binary does not know are applied"
                .into(),
        );
        return Ok(checked);
    }
    let expected = match replayed {
        Some(schema) => schema,
        None => built_by_applied(ctx, status)?,
    };
    let drift = live_drift_from(ctx, &mut db, &expected)?;
    if !drift.is_empty() {
        // A migration run outside a transaction that stopped part-way leaves what it did so far: the
        // way out is to finish it, not to undo it.
        if let Some(next) = status.pending().next().filter(|m| !m.run_in_transaction()) {
            checked.hints.push(format!(
                "{} runs outside a transaction (run_in_transaction = false) and is pending: if a \
                 run of it stopped part-way, what it did so far is this difference; `{} db upgrade` \
                 runs it again (a companion `db create` wrote runs again from any point)",
                next.folder(),
                ctx.app.program
            ));
        }
        checked.hints.push(drift_hint(ctx, status));
    }
    checked.problems.extend(drift.iter().map(|line| {
        format!("the database differs from what its applied migrations build: {line}")
    }));
    Ok(checked)
}

/// The ways out of drift: undo the hand-made change, or keep it in a migration.
fn drift_hint(ctx: &Context, status: &Status<'_>) -> String {
    let program = ctx.app.program;
    let revision = status.current().map_or("base", |m| m.version());
    format!(
        "`{program} db diff {revision}` prints the SQL that brings the database back to what its \
         applied migrations build (it runs nothing); to keep a change made by hand, put it in the \
         models and a migration (`{program} db create NAME`)"
    )
}

/// The findings about this run's migrations: those the build script recorded for the embedded set,
/// else those of the directory's scan.
pub fn findings(ctx: &Context) -> &[String] {
    ctx.findings()
}

/// How the live schema differs from what the migrations `status` counts as applied build when
/// replayed, in order, into a scratch database of the same dialect (in-memory SQLite, or a temporary
/// PostgreSQL or MySQL database on the same server): one line per difference, naming the object, what
/// the migrations build of it and what the database has; none when they agree. One dialect's SQL is
/// never replayed into another.
pub fn live_drift(
    ctx: &Context,
    db: &mut Database,
    status: &Status<'_>,
) -> Result<Vec<String>, Failure> {
    let expected = built_by_applied(ctx, status)?;
    live_drift_from(ctx, db, &expected)
}

/// How the live schema differs from `expected`, one line per object.
fn live_drift_from(
    ctx: &Context,
    db: &mut Database,
    expected: &Schema,
) -> Result<Vec<String>, Failure> {
    let (actual, dialect) = read_live(ctx, db)?;
    Ok(side_by_side(&scratch::differences(
        &actual, expected, dialect,
    )))
}

/// What the migrations `status` counts as applied build on the database's dialect.
fn built_by_applied(ctx: &Context, status: &Status<'_>) -> Result<Schema, Failure> {
    let applied: Vec<_> = status.applied().cloned().collect();
    if applied.is_empty() {
        return Ok(Schema::default());
    }
    scratch::built_on(&ctx.url, &applied, &Target::Head).map_err(|err| ctx.error(err))
}

/// The changes from the database's schema to the migrations' as the differences they are, one line
/// per object: `index x on t: the migrations build (a, b); the database has none`. An object the
/// diff drops and adds again (an index made unique) is one line with both shapes.
pub fn side_by_side(changes: &[Change]) -> Vec<String> {
    let mut objects: Vec<Sides> = Vec::new();
    for sides in changes.iter().map(Change::sides) {
        let pair = objects.iter_mut().find(|seen| {
            seen.object == sides.object
                && (seen.before.is_none() || sides.before.is_none())
                && (seen.after.is_none() || sides.after.is_none())
        });
        match pair {
            Some(seen) => {
                seen.before = seen.before.take().or(sides.before);
                seen.after = seen.after.take().or(sides.after);
            }
            None => objects.push(sides),
        }
    }
    objects
        .iter()
        .map(|sides| {
            format!(
                "{}: the migrations build {}; the database has {}",
                sides.object,
                sides.after.as_deref().unwrap_or("none"),
                sides.before.as_deref().unwrap_or("none")
            )
        })
        .collect()
}

/// Before `db repair` records checksums (for applied migrations edited since they ran, or applied by
/// diesel_cli without one), proves that the database is what the migrations as they now are build:
/// it compares the live schema with a scratch replay of every applied migration on the same dialect
/// and refuses on a difference, naming it. With nothing to record there is nothing to prove.
pub fn refuse_repair_over_drift(ctx: &Context, db: &mut Database) -> Result<(), Failure> {
    let status = ctx
        .migrator()
        .status(db.backend())
        .map_err(|err| ctx.error(err))?;
    let mut edited = 0;
    let mut unverified: Vec<&str> = Vec::new();
    for entry in status.entries() {
        let unrecorded = entry
            .applied
            .as_ref()
            .is_some_and(|row| row.checksum.is_none());
        if entry.state == State::Modified {
            edited += 1;
        }
        if entry.state == State::Modified || unrecorded {
            unverified.push(entry.migration.folder());
        }
    }
    let why = match edited {
        0 => "applied without one",
        n if n == unverified.len() => "edited since applied",
        _ => "edited since applied or applied without one",
    };
    if unverified.is_empty() {
        return Ok(());
    }
    let differences = live_drift(ctx, db, &status)?;
    if differences.is_empty() {
        return Ok(());
    }
    Err(Failure::failed(format!(
        "{}: cannot record checksums for {} migration{} {why} ({}): the database's schema differs \
         from what its applied migrations, as they are now, build on {}:\n{}\n  nothing was recorded; the history \
         is unchanged\n  hint: an edit that changes the schema belongs in a new migration: restore \
         the edited migrations from version control and `{program} db create NAME`; if the database \
         is the one at fault, bring it in line (`{program} db diff {revision}` prints the SQL), then \
         run `{program} db repair` again; `{program} db repair --force` records the checksums anyway",
        ctx.url,
        unverified.len(),
        crate::db::plural(unverified.len()),
        unverified.join(", "),
        ctx.url.dialect(),
        differences
            .iter()
            .map(|line| format!("    {line}"))
            .collect::<Vec<_>>()
            .join("\n"),
        program = ctx.app.program,
        revision = status.current().map_or("base", |m| m.version()),
    )))
}

/// The live schema; a failure names the database and says that nothing was changed (only read).
pub(crate) fn read_live(ctx: &Context, db: &mut Database) -> Result<(Schema, Dialect), Failure> {
    let read = match db {
        Database::Sqlite(sqlite) => scratch::read(sqlite).map(|s| (s, Dialect::Sqlite)),
        Database::Postgres(postgres) => {
            scratch::read_postgres(postgres).map(|s| (s, Dialect::Postgres))
        }
        #[cfg(feature = "mysql")]
        Database::Mysql(mysql) => scratch::read_mysql(mysql).map(|s| (s, Dialect::Mysql)),
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

/// One line per model change that no migration captures yet. On PostgreSQL and MySQL the
/// migrations' SQL for that server (`up.postgres.sql`, `up.mysql.sql`) is also replayed into a
/// scratch database there, so a dialect's script that drifted from the models is caught too.
pub fn model_changes(ctx: &Context) -> Result<Vec<String>, Failure> {
    model_changes_given(ctx, None)
}

/// [`model_changes`], with what every migration builds on the database's server when it is
/// already known.
fn model_changes_given(
    ctx: &Context,
    built_on_server: Option<&Schema>,
) -> Result<Vec<String>, Failure> {
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
    let dialect = ctx.url.dialect();
    let server = match dialect {
        Dialect::Sqlite => None,
        Dialect::Postgres => Some("PostgreSQL"),
        Dialect::Mysql => Some("MySQL"),
    };
    if let (true, Some(server)) = (lines.is_empty(), server) {
        let replayed;
        let built = match built_on_server {
            Some(built) => built,
            None => {
                replayed = scratch::built_on(&ctx.url, &ctx.migrations, &Target::Head)
                    .map_err(|err| ctx.error(err))?;
                &replayed
            }
        };
        lines.extend(
            scratch::differences(built, &models, dialect)
                .iter()
                .map(|change| {
                    format!(
                        "on {server} the migrations do not build the models; they would need: {}",
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
    let differences = side_by_side(&scratch::differences(&actual, &expected, dialect));
    if differences.is_empty() {
        return Ok(());
    }
    let refusal = ctx.failure(MigrateError::SchemaMismatch {
        target: target.to_string(),
        differences,
    });
    // Which revision would fit instead; a scratch replay that fails only leaves that out.
    Err(match crate::adoption::matching(ctx, &actual, dialect) {
        Ok((matching, _)) => refusal.and_hint(&matching.hint(ctx.app.program)),
        Err(_) => refusal,
    })
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
            transaction: Some(TransactionArg::Each),
            resume: false,
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
