//! A notes application that is not workhub: it embeds its migrations at build time and, at start,
//! brings its SQLite database to head with workhub's engine (lock, checksums, divergence checks),
//! keeping the history in tables of its own naming, then uses the same diesel connection.
//!
//! `workhub-example-diesel-app DATABASE_PATH [TARGET]`: TARGET is `head` (the default), `base`, `-1`,
//! a version...

use std::path::Path;
use std::process::ExitCode;

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use workhub_migrations::apply::{Silent, Sqlite};
use workhub_migrations::history::HistoryTables;
use workhub_migrations::{Migrator, Target};

workhub_migrations::include_embedded!();

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: workhub-example-diesel-app DATABASE_PATH [TARGET]");
        return ExitCode::from(2);
    };
    match run(
        Path::new(&path),
        &args.next().unwrap_or_else(|| "head".into()),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &Path, target: &str) -> Result<(), Box<dyn std::error::Error>> {
    let tables = HistoryTables::new("notes_schema_versions", "notes_schema_history")?;
    let mut db = Sqlite::open(path)?.with_history_tables(tables);
    let target: Target = target.parse()?;
    let migrator = Migrator::new(EMBEDDED.migrations);
    let outcome = if matches!(target, Target::Base | Target::Back(_)) {
        migrator.downgrade(&mut db, &target, &mut Silent)?
    } else {
        migrator.upgrade(&mut db, &target, &mut Silent)?
    };
    for ran in &outcome.ran {
        println!("ran {}", ran.folder);
    }
    let current = outcome.status.current().map_or("base", |m| m.folder());
    println!("at {current}");
    if outcome.status.is_at_head() {
        // The application's own queries go through the same diesel connection.
        let conn = db.connection()?;
        diesel::sql_query("INSERT INTO notes (body, pinned) VALUES ('hello', TRUE)")
            .execute(conn)?;
        let pinned: Count =
            diesel::sql_query("SELECT COUNT(*) AS n FROM notes WHERE pinned").get_result(conn)?;
        println!("pinned notes: {}", pinned.n);
    }
    Ok(())
}
