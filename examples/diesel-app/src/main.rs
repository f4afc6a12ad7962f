//! A notes application that is not workhub: it embeds its migrations at build time and, at start,
//! brings its SQLite database to its target with workhub's engine (lock, checksums, divergence
//! checks) through a connection of its own r2d2 pool, keeping the history in tables of its own
//! naming, then uses that same connection, as it configured it.
//!
//! `workhub-example-diesel-app DATABASE_PATH [TARGET]`: TARGET is `head` (the default), `base`, `-1`,
//! a version...

use std::error::Error;
use std::path::Path;
use std::process::ExitCode;

use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sql_types::{BigInt, Integer};
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
use workhub_migrations::apply::{Outcome, Silent, Sqlite};
use workhub_migrations::history::HistoryTables;
use workhub_migrations::{Migrator, Target};

workhub_migrations::include_embedded!();

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct ForeignKeys {
    #[diesel(sql_type = Integer)]
    foreign_keys: i32,
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

/// Moves the database `conn` is on to `target`, keeping the history in the application's own tables.
fn migrate(
    conn: &mut SqliteConnection,
    target: &Target,
) -> Result<Outcome<'static>, Box<dyn Error>> {
    let tables = HistoryTables::new("notes_schema_versions", "notes_schema_history")?;
    let db = &mut Sqlite::on(conn)?.with_history_tables(tables);
    let migrator = Migrator::new(EMBEDDED.migrations);
    Ok(if matches!(target, Target::Base | Target::Back(_)) {
        migrator.downgrade(db, target, &mut Silent)?
    } else {
        migrator.upgrade(db, target, &mut Silent)?
    })
}

fn run(path: &Path, target: &str) -> Result<(), Box<dyn Error>> {
    let target: Target = target.parse()?;
    // The application's own pool; diesel opens its SQLite connections with foreign keys on.
    let pool = Pool::builder()
        .max_size(2)
        .build(ConnectionManager::<SqliteConnection>::new(
            path.to_string_lossy(),
        ))?;
    let mut conn = pool.get()?;
    let outcome = migrate(&mut conn, &target)?;
    for ran in &outcome.ran {
        println!("ran {}", ran.folder);
    }
    let current = outcome.status.current().map_or("base", |m| m.folder());
    println!("at {current}");
    if outcome.status.is_at_head() {
        // The application's own queries go through the same pooled connection.
        diesel::sql_query("INSERT INTO notes (body, pinned) VALUES ('hello', TRUE)")
            .execute(&mut conn)?;
        let pinned: Count = diesel::sql_query("SELECT COUNT(*) AS n FROM notes WHERE pinned")
            .get_result(&mut conn)?;
        println!("pinned notes: {}", pinned.n);
    }
    // The engine ran with foreign keys off, and handed the connection back as the pool made it.
    let keys: ForeignKeys = diesel::sql_query("PRAGMA foreign_keys").get_result(&mut conn)?;
    println!(
        "foreign keys: {}",
        if keys.foreign_keys == 1 { "on" } else { "off" }
    );
    Ok(())
}
