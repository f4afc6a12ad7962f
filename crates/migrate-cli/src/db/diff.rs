//! `db diff [TARGET]`: the SQL that would bring the live database to the models, or to what the
//! migrations build up to TARGET, in the database's dialect. It is printed, never run.

use workhub_migrations::{scratch, Dialect, Target};
use workhub_schema::render::{self, Generator};
use workhub_schema::{diff, Change};

use crate::cli::Format;
use crate::context::Context;
use crate::drift::{other_history, read_live};
use crate::failure::Failure;

/// The versioned name of the JSON shape `db diff --format json` writes.
pub const DIFF_FORMAT: &str = "workhub-diff/1";

pub fn run(ctx: &Context, target: Option<&Target>, format: Format) -> Result<(), Failure> {
    // Read-only: a SQLite path with no database is an error naming it, never an empty schema.
    ctx.status()?;
    let (goal, source) = match target {
        None => {
            if let Some(dir) = other_history(ctx) {
                return Err(Failure::Usage(format!(
                    "the models describe this program's migrations, not those in {}, so there is \
                     nothing to diff against\n  hint: name a revision: `{} db diff head` compares \
                     the database with what those migrations build",
                    dir.display(),
                    ctx.app.program
                )));
            }
            ((ctx.app.models)(), "the models".to_string())
        }
        Some(relative @ (Target::Forward(_) | Target::Back(_))) => {
            return Err(Failure::Usage(format!(
                "db diff compares with a revision's schema, and `{relative}` counts from where the \
                 database stands\n  hint: use head, base, a version or a unique version prefix \
                 (`{} db history` lists them)",
                ctx.app.program
            )))
        }
        Some(target) => (
            scratch::built_on(&ctx.url, &ctx.migrations, target).map_err(|err| ctx.error(err))?,
            format!("what the migrations build up to {target}"),
        ),
    };
    let mut db = ctx.open()?;
    let (live, dialect) = read_live(ctx, &mut db)?;
    let (from, to) = render::comparable(&live, &goal, dialect);
    let changes = diff(&from, &to);
    if format == Format::Json {
        let generator = ctx.generator();
        let sql = if changes.is_empty() {
            String::new()
        } else {
            render::render(dialect, &from, &to, &changes, &generator)
        };
        println!(
            "{}",
            serde_json::json!({
                "format": DIFF_FORMAT,
                "database": ctx.url.to_string(),
                "dialect": dialect.to_string(),
                "compared_with": source,
                "differences": changes.iter().map(Change::describe).collect::<Vec<_>>(),
                "sql": sql,
            })
        );
        return Ok(());
    }
    if changes.is_empty() {
        println!(
            "-- {} already matches {source}: there is nothing to run.",
            ctx.url
        );
        return Ok(());
    }
    let command = format!("{} db diff", ctx.app.program);
    let generator = Generator {
        create: &command,
        ..ctx.generator()
    };
    let title = format!(
        "brings {} ({dialect}) to {source}; nothing of it was run",
        ctx.url
    );
    print!(
        "{}",
        render::header_from(&title, &source, &changes, &generator)
    );
    let sql = render::render(dialect, &from, &to, &changes, &generator);
    if dialect == Dialect::Mysql {
        // A transaction would promise what MySQL cannot keep: each DDL statement commits itself.
        println!(
            "-- MySQL commits each of these statements as it runs: if one fails, those before it \
             stay.\n"
        );
        print!("{sql}");
    } else {
        if dialect == Dialect::Sqlite {
            // PRAGMA foreign_keys does nothing inside a transaction, and a rebuilt table's DROP would
            // otherwise delete the rows that reference it.
            println!("PRAGMA foreign_keys = OFF;");
        }
        println!("BEGIN;\n");
        print!("{sql}");
        println!("\nCOMMIT;");
    }
    eprintln!(
        "{} difference{} between {} and {source}; nothing was run",
        changes.len(),
        super::plural(changes.len()),
        ctx.url
    );
    Ok(())
}
