//! `db upgrade --sql [FROM:]TARGET` and `db downgrade --sql [FROM:]TARGET`: the SQL a run would send,
//! printed for a DBA to run with psql, sqlite3 or the mysql client, without connecting to the database. Where the
//! database stands is what FROM says (an upgrade starts at base, a downgrade at head, by default).

use workhub_migrations::apply::{Offline, DEFAULT_LOCK_KEY};
use workhub_migrations::history::HistoryTables;
use workhub_migrations::plan::{self, Direction};
use workhub_migrations::{AppliedMigration, Dialect, Status, Target};

use crate::cli::{DialectArg, Range};
use crate::context::Context;
use crate::failure::Failure;

pub fn print(
    ctx: &Context,
    direction: Direction,
    range: &Range,
    dialect: Option<DialectArg>,
) -> Result<(), Failure> {
    let dialect = match dialect {
        Some(DialectArg::Sqlite) => Dialect::Sqlite,
        Some(DialectArg::Postgres) => Dialect::Postgres,
        Some(DialectArg::Mysql) => Dialect::Mysql,
        None => ctx.url.dialect(),
    };
    if ctx.resume {
        // A resume continues from what a record in the database says; a script never reads it.
        return Err(Failure::Usage(format!(
            "--resume continues an unfinished run on the database, and --sql prints a script \
             without connecting to it: drop one of them; nothing was printed\n  hint: resume \
             with `{program} db upgrade --resume` (or `db downgrade --resume`), which reads the \
             run record; `{program} db repair` forgets it once you undid by hand what took effect",
            program = ctx.app.program
        )));
    }
    let migrations: &[_] = &ctx.migrations;
    let from = range.from.clone().unwrap_or(match direction {
        Direction::Up => Target::Base,
        Direction::Down => Target::Head,
    });
    let applied = match &from {
        Target::Base => 0,
        Target::Head => migrations.len(),
        Target::Revision(revision) => {
            plan::resolve(migrations, revision).map_err(|err| ctx.failure(err))? + 1
        }
        Target::Forward(_) | Target::Back(_) => {
            return Err(Failure::Usage(format!(
                "`{from}` cannot say where the database stands: FROM is a revision (base, head, a \
                 version or a unique prefix); nothing was printed"
            )))
        }
    };
    // The history the database has when it stands at FROM: those migrations, as they are now.
    let history = migrations[..applied]
        .iter()
        .map(|m| AppliedMigration {
            version: m.version().to_string(),
            folder: Some(m.folder().to_string()),
            checksum: Some(m.scripts(dialect).checksum().to_string()),
            applied_at: None,
            duration_ms: None,
            stamped: false,
        })
        .collect();
    let status = Status::new(dialect, migrations, history);
    let plan = match direction {
        Direction::Up => status.plan_upgrade(&range.to, ctx.allow_out_of_order, false),
        Direction::Down => status.plan_downgrade(&range.to),
    }
    .map_err(|err| ctx.failure(err))?;
    let tables = HistoryTables::DEFAULT;
    let offline = Offline {
        dialect,
        tables: &tables,
        lock_key: DEFAULT_LOCK_KEY,
        lock_timeout: ctx.lock_timeout,
        transaction: ctx.transaction,
        create_tables: applied == 0 && direction == Direction::Up,
    };
    let (verb, run_with) = match dialect {
        Dialect::Postgres => ("PostgreSQL", "psql -f THIS_FILE DATABASE_URL"),
        Dialect::Sqlite => ("SQLite", "sqlite3 DATABASE_FILE < THIS_FILE"),
        Dialect::Mysql => ("MySQL", "mariadb DATABASE < THIS_FILE"),
    };
    let mut header = vec![
        format!(
            "{} db {} --sql {from}:{}: {} migration{} for {verb}, written by {} without connecting.",
            ctx.app.program,
            match direction {
                Direction::Up => "upgrade",
                Direction::Down => "downgrade",
            },
            range.to,
            plan.steps.len(),
            if plan.steps.len() == 1 { "" } else { "s" },
            ctx.app.program
        ),
        format!("Run it with `{run_with}`; it stops at its first error."),
    ];
    if dialect == Dialect::Mysql {
        // The client stops at an error only in batch mode without --force.
        header.extend([
            "`mysql DATABASE < THIS_FILE` runs it the same; never --force, which runs on past errors."
                .to_string(),
            "MySQL's DDL cannot roll back: a failure leaves the record of which statements took effect,"
                .to_string(),
            format!(
                "and `{} db upgrade` then names them and the way on (--resume, or db repair).",
                ctx.app.program
            ),
        ]);
    }
    let script = offline
        .script(&plan, &header)
        .map_err(|err| ctx.failure(err))?;
    print!("{script}");
    Ok(())
}
