//! `db upgrade --sql [FROM:]TARGET` and `db downgrade --sql [FROM:]TARGET`: the SQL a run would send,
//! printed for a DBA to run with psql or sqlite3, without connecting to the database. Where the
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
        None => ctx.url.dialect(),
    };
    if dialect == Dialect::Mysql {
        // A script for the mysql client would have to record how far each migration got, which
        // only a run of workhub's does (MySQL's DDL cannot roll back).
        return Err(Failure::failed(format!(
            "--sql is not written for MySQL: its DDL commits statement by statement, and only a \
             run of {program}'s own records how far a migration got, so a failure halfway can be \
             resumed or repaired; nothing was printed\n  hint: `{program} db upgrade --plan` lists \
             what would run; `{program} db upgrade` runs it",
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
        transaction: ctx.transaction,
        create_tables: applied == 0 && direction == Direction::Up,
    };
    let (verb, run_with) = match dialect {
        Dialect::Postgres => ("PostgreSQL", "psql -f THIS_FILE DATABASE_URL"),
        Dialect::Sqlite => ("SQLite", "sqlite3 DATABASE_FILE < THIS_FILE"),
        Dialect::Mysql => unreachable!("refused above"),
    };
    let header = [
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
    let script = offline
        .script(&plan, &header)
        .map_err(|err| ctx.failure(err))?;
    print!("{script}");
    Ok(())
}
