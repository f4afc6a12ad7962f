//! What a busy PostgreSQL table feels while a migration runs: a table of 1,000,000 rows takes a steady
//! stream of writes from another connection while the migrator applies each generated change (an
//! index, a unique constraint, a foreign key, NOT NULL, a widened column), and the same change written
//! the naive way. The writer sets `lock_timeout` to the bound, so a write that waits longer than the
//! bound for a lock fails: lock waits are counted exactly, whatever else the machine is doing, and the
//! slowest write is reported beside them. `WORKHUB_STALL_REPORT=FILE` writes the measurements as a
//! Markdown table (`just bench case_write_stall`).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use workhub_migrations::apply::{Postgres, Silent, TemporaryDatabase};
use workhub_migrations::online::{self, Folders};
use workhub_migrations::scratch::generate;
use workhub_migrations::{Dialect, Migration, Migrator, Scripts, Target};
use workhub_schema::render::online::Online;
use workhub_schema::render::Generator;
use workhub_schema::Schema;

const GENERATOR: Generator<'static> = Generator {
    name: "workhub",
    create: "workhub db create",
    upgrade: "workhub db upgrade",
};

/// The longest a write may wait for a lock.
const BOUND: Duration = Duration::from_millis(200);
const ROWS: i64 = 1_000_000;
/// Numbers the writer's inserts across runs, since their ISBNs must stay unique.
static WRITTEN: AtomicI64 = AtomicI64::new(0);

mod m0 {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        books (id) {
            id -> BigInt,
            author_id -> BigInt,
            isbn -> Nullable<Text>,
            #[max_length = 100]
            title -> Text,
            n -> Integer,
        }
    }
}
mod m1 {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            author_id -> BigInt,
            isbn -> Nullable<Text>,
            #[max_length = 100]
            title -> Text,
            n -> Integer,
        }
    }
}
mod m2 {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        #[index(books_title_idx, title)]
        #[unique(books_isbn_key, isbn)]
        books (id) {
            id -> BigInt,
            author_id -> BigInt,
            isbn -> Nullable<Text>,
            #[max_length = 100]
            title -> Text,
            n -> Integer,
        }
    }
}
mod m3 {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        #[index(books_title_idx, title)]
        #[unique(books_isbn_key, isbn)]
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            isbn -> Nullable<Text>,
            #[max_length = 100]
            title -> Text,
            n -> Integer,
        }
    }
}
mod m4 {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        #[index(books_title_idx, title)]
        #[unique(books_isbn_key, isbn)]
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            isbn -> Text,
            #[max_length = 100]
            title -> Text,
            n -> Integer,
        }
    }
}
mod m5 {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        #[index(books_title_idx, title)]
        #[unique(books_isbn_key, isbn)]
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            isbn -> Text,
            #[max_length = 200]
            title -> Text,
            n -> Integer,
        }
    }
}

/// A change: its name, the models after it, and the same change as a hand would write it first.
type Change = (&'static str, fn() -> Schema, &'static str);

fn changes() -> Vec<Change> {
    vec![
        (
            "index",
            m1::schema,
            "CREATE INDEX books_title_idx ON books (title);",
        ),
        (
            "unique",
            m2::schema,
            "ALTER TABLE books ADD CONSTRAINT books_isbn_key UNIQUE (isbn);",
        ),
        (
            "foreign key",
            m3::schema,
            "ALTER TABLE books ADD CONSTRAINT books_author_id_fkey FOREIGN KEY (author_id) \
             REFERENCES authors (id);",
        ),
        (
            "NOT NULL",
            m4::schema,
            "ALTER TABLE books ALTER COLUMN isbn SET NOT NULL;",
        ),
        (
            "widened column",
            m5::schema,
            "ALTER TABLE books ALTER COLUMN title TYPE VARCHAR(200);",
        ),
    ]
}

/// What the writer saw while one change ran.
#[derive(Debug, Clone, Copy)]
struct Stall {
    writes: u64,
    /// Attempts that waited longer than [`BOUND`] for a lock (and failed for it, to be tried again).
    lock_waits: u64,
    /// The longest a write took to succeed, its attempts included.
    longest: Duration,
    migration: Duration,
}

/// Runs `migrations` (all pending) against `url` while another connection writes, and what it saw.
fn under_writes(url: &str, db: &mut Postgres, migrations: &[Migration]) -> Stall {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop, started) = (url.to_string(), stop.clone(), started.clone());
        std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            diesel::sql_query(format!("SET lock_timeout = '{}ms'", BOUND.as_millis()))
                .execute(&mut conn)
                .unwrap();
            let mut stall = Stall {
                writes: 0,
                lock_waits: 0,
                longest: Duration::ZERO,
                migration: Duration::ZERO,
            };
            while !stop.load(Ordering::Relaxed) {
                let i = WRITTEN.fetch_add(1, Ordering::Relaxed) + 1;
                let id = (i * 7919) % ROWS + 1;
                let sql = if i % 10 == 0 {
                    format!(
                        "INSERT INTO books (author_id, isbn, title, n) VALUES ({}, 'w-{i}', 'written', 0)",
                        i % 1000 + 1
                    )
                } else {
                    format!("UPDATE books SET n = n + 1 WHERE id = {id}")
                };
                // A write that times out is tried again: the stall is how long until it succeeds.
                let at = Instant::now();
                loop {
                    match diesel::sql_query(&sql).execute(&mut conn) {
                        Ok(_) => break,
                        Err(err) if err.to_string().contains("lock timeout") => {
                            stall.lock_waits += 1
                        }
                        Err(err) => panic!("the writer's `{sql}` failed: {err}"),
                    }
                }
                stall.longest = stall.longest.max(at.elapsed());
                stall.writes += 1;
                started.store(true, Ordering::Relaxed);
            }
            stall
        })
    };
    while !started.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let at = Instant::now();
    let applied = Migrator::new(migrations).upgrade(db, &Target::Head, &mut Silent);
    let migration = at.elapsed();
    // A moment of writes after it, so a lock the migration released late is seen too.
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let mut stall = writer.join().unwrap();
    applied.unwrap_or_else(|err| panic!("the upgrade failed: {err}"));
    stall.migration = migration;
    stall
}

fn fill(url: &str) {
    let mut conn = PgConnection::establish(url).unwrap();
    diesel::sql_query(
        "INSERT INTO authors (name) SELECT 'author ' || g FROM generate_series(1, 1000) g",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query(format!(
        "INSERT INTO books (author_id, isbn, title, n) \
         SELECT g % 1000 + 1, 'isbn-' || g, md5(g::text), 0 FROM generate_series(1, {ROWS}) g"
    ))
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("VACUUM ANALYZE books")
        .execute(&mut conn)
        .unwrap();
}

/// A migration for PostgreSQL (`up`, `down`), with its SQLite script `sqlite` (`SELECT 1;` where
/// only PostgreSQL runs it).
fn migration(index: usize, name: &str, up: String, down: String, sqlite: Scripts) -> Migration {
    let folder = format!("2024-01-01-{index:06}_{}", name.replace(' ', "_"));
    Migration::new(
        folder,
        format!("20240101{index:06}"),
        name.replace(' ', "_"),
        true,
        sqlite,
        Some(Scripts::new(up, Some(down))),
    )
}

/// A new database on `server` with the first migration (the tables, empty) applied.
fn with_tables(
    server: &workhub_migrations::DatabaseUrl,
    purpose: &str,
) -> (TemporaryDatabase, Postgres<'static>, Vec<Migration>) {
    let database = TemporaryDatabase::create(server, purpose).unwrap();
    let mut db = Postgres::open(database.url()).unwrap();
    let empty = Schema::default();
    let first = generate(
        &empty,
        &m0::schema(),
        Dialect::Postgres,
        "tables",
        &GENERATOR,
    )
    .unwrap();
    // SQLite's too: db create reads the history through a SQLite replay.
    let sqlite = generate(&empty, &m0::schema(), Dialect::Sqlite, "tables", &GENERATOR).unwrap();
    let migrations = vec![migration(
        0,
        "tables",
        first.up,
        first.down,
        Scripts::new(sqlite.up, Some(sqlite.down)),
    )];
    Migrator::new(&migrations)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    (database, db, migrations)
}

/// One database per way of writing the changes: the first migration creates the tables, 1,000,000
/// rows go in, then each change is applied under writes.
fn run(server: &workhub_migrations::DatabaseUrl, generated: bool) -> Vec<(&'static str, Stall)> {
    let (database, mut db, mut migrations) = with_tables(server, "stall");
    let url = database.url().to_string();
    fill(&url);
    let mut previous = m0::schema();
    let mut seen = Vec::new();
    for (i, (name, model, naive)) in changes().into_iter().enumerate() {
        let model = model();
        if generated {
            // What `db create` writes: the migration, and its companion run outside a transaction.
            let slug = name.replace(' ', "_");
            let main = format!("2024-01-01-{:06}_{slug}", 2 * i + 1);
            let companion = format!("2024-01-01-{:06}_{slug}_online", 2 * i + 2);
            let parent = migrations.last().map(|m| m.folder().to_string());
            let drafts = online::drafts(
                Folders {
                    main: &main,
                    companion: &companion,
                },
                parent.as_deref(),
                &migrations,
                &previous,
                &model,
                &GENERATOR,
                &Online::default(),
            )
            .unwrap();
            assert!(!drafts.is_empty(), "{name}: nothing generated");
            for draft in drafts {
                migrations.push(draft.migration().unwrap());
            }
        } else {
            migrations.push(migration(
                2 * i + 1,
                name,
                naive.to_string(),
                "SELECT 1;".into(),
                Scripts::new("SELECT 1;".into(), None),
            ));
        }
        seen.push((name, under_writes(&url, &mut db, &migrations)));
        previous = model;
    }
    drop(db);
    seen
}

#[test]
fn generated_changes_never_hold_a_write_behind_a_lock_for_longer_than_the_bound() {
    let test = "generated_changes_never_hold_a_write_behind_a_lock_for_longer_than_the_bound";
    let Some(server) = workhub_migrations::testing::postgres_server(test) else {
        return;
    };
    let naive = run(&server, false);
    let generated = run(&server, true);
    if let Ok(path) = std::env::var("WORKHUB_STALL_REPORT") {
        let mut table = format!(
            "| change ({ROWS} rows, writes from another connection) | naive: longest write stall | lock waits over {} ms | migration | generated by `db create`: longest write stall | lock waits over {} ms | migration |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
            BOUND.as_millis(),
            BOUND.as_millis()
        );
        for ((name, a), (_, b)) in naive.iter().zip(&generated) {
            table.push_str(&format!(
                "| {name} | {} ms | {} | {} ms | {} ms | {} | {} ms |\n",
                a.longest.as_millis(),
                a.lock_waits,
                a.migration.as_millis(),
                b.longest.as_millis(),
                b.lock_waits,
                b.migration.as_millis()
            ));
        }
        std::fs::write(path, table).unwrap();
    }
    // The measure can fail: the naive index build holds writes for longer than the bound.
    let naive_index = naive[0].1;
    assert!(
        naive_index.lock_waits > 0,
        "the naive CREATE INDEX never held a write past {BOUND:?}: {naive:#?}"
    );
    for (name, stall) in &generated {
        assert_eq!(
            stall.lock_waits, 0,
            "{name}: a write waited longer than {BOUND:?} for a lock while the generated migration ran: {generated:#?}"
        );
    }
}

/// A concurrent index build waits for every older transaction in the database to end, blocking no
/// reads or writes meanwhile: a report running longer than the generated `lock_timeout` must not
/// cancel it (the companion runs its `CONCURRENTLY` statements without the timeout).
#[test]
fn a_long_transaction_elsewhere_does_not_cancel_a_concurrent_index_build() {
    let test = "a_long_transaction_elsewhere_does_not_cancel_a_concurrent_index_build";
    let Some(server) = workhub_migrations::testing::postgres_server(test) else {
        return;
    };
    let (database, mut db, mut migrations) = with_tables(&server, "cic_wait");
    let url = database.url().to_string();
    let drafts = online::drafts(
        Folders {
            main: "2024-01-01-000001_index",
            companion: "2024-01-01-000002_index_online",
        },
        Some(migrations[0].folder()),
        &migrations,
        &m0::schema(),
        &m1::schema(),
        &GENERATOR,
        &Online::new("300ms").unwrap(),
    )
    .unwrap();
    for draft in drafts {
        migrations.push(draft.migration().unwrap());
    }
    // A report elsewhere: a snapshot older than the build, held for well over the timeout.
    let (held, release) = (
        Arc::new(AtomicBool::new(false)),
        Duration::from_millis(1500),
    );
    let report = {
        let (url, held) = (url.clone(), held.clone());
        std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            diesel::sql_query("BEGIN ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut conn)
                .unwrap();
            diesel::sql_query("SELECT count(*) FROM authors")
                .execute(&mut conn)
                .unwrap();
            held.store(true, Ordering::Relaxed);
            std::thread::sleep(release);
            diesel::sql_query("COMMIT").execute(&mut conn).unwrap();
        })
    };
    while !held.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let at = Instant::now();
    Migrator::new(&migrations)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap_or_else(|err| panic!("the companion failed while a report ran: {err}"));
    report.join().unwrap();
    assert!(
        at.elapsed() >= Duration::from_millis(1000),
        "the build did not wait for the older transaction ({:?}): the test shows nothing",
        at.elapsed()
    );
    let valid: i64 = {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = PgConnection::establish(&url).unwrap();
        diesel::sql_query(
            "SELECT count(*) AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname = 'books_title_idx' AND i.indisvalid",
        )
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
    };
    assert_eq!(valid, 1, "books_title_idx is built and valid");
    drop(db);
}
