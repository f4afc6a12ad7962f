//! `db create`'s PostgreSQL online form through the autogenerate sequence. Each step is generated as
//! `db create` generates it (the migration, and where PostgreSQL needs one, its companion run
//! outside a transaction) and written as folders; `workhub db lint` reports nothing on any of them;
//! `workhub db upgrade` applies each step on SQLite and on PostgreSQL keeping every row,
//! `db downgrade` reverts it to the schema before, and the upgrade applies it again. A companion
//! pending makes `--transaction all` refuse by name, changing nothing. With the `mysql` feature the
//! same folders (their `up.mysql.sql`, the companions' included) go up, down and up again on MySQL.

mod common;
#[path = "../../migrations/tests/sequence/mod.rs"]
mod sequence;

use std::path::Path;

use common::{output, Fixture, Run};
use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use workhub_migrations::apply::{Postgres, TemporaryDatabase};
use workhub_migrations::draft::{self, Draft};
use workhub_migrations::online::{self, Folders};
use workhub_migrations::source::{self, lineage};
use workhub_migrations::testing::postgres_server;
use workhub_migrations::{scratch, DatabaseUrl, Dialect, Target};
use workhub_schema::render::online::Online;
use workhub_schema::render::{self, Generator};
use workhub_schema::{diff, Schema};

const GENERATOR: Generator<'static> = Generator {
    name: "workhub",
    create: "workhub-dev db create",
    upgrade: "workhub db upgrade",
};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Row counts of `schema`'s tables on the PostgreSQL database `url`.
fn pg_counts(url: &str, schema: &Schema) -> Vec<(String, i64)> {
    let mut conn = PgConnection::establish(url).unwrap();
    schema
        .tables
        .iter()
        .map(|t| {
            let sql = format!("SELECT COUNT(*) AS n FROM \"{}\"", t.name);
            let rows: Vec<Count> = diesel::sql_query(&sql).load(&mut conn).unwrap();
            (t.name.clone(), rows[0].n)
        })
        .collect()
}

fn sqlite_counts(fixture: &Fixture, schema: &Schema) -> Vec<(String, i64)> {
    schema
        .tables
        .iter()
        .map(|t| (t.name.clone(), fixture.count(&t.name)))
        .collect()
}

fn assert_kept(before: &[(String, i64)], after: &[(String, i64)], context: &str) {
    for (table, count) in before {
        if let Some((_, now)) = after.iter().find(|(t, _)| t == table) {
            assert_eq!(now, count, "{context}: rows of {table}");
        }
    }
}

fn assert_pg_schema(database: &TemporaryDatabase, model: &Schema, context: &str) {
    let mut db = Postgres::open(database.url()).unwrap();
    let actual = scratch::read_postgres(&mut db).unwrap();
    let changes = diff(&actual, &render::for_dialect(model, Dialect::Postgres));
    assert!(
        changes.is_empty(),
        "{context} (PostgreSQL): differs from the model: {changes:#?}"
    );
}

fn write(dir: &Path, drafts: &[Draft]) {
    for draft in drafts {
        let path = dir.join(&draft.folder);
        std::fs::create_dir(&path).unwrap();
        for (name, text) in &draft.files {
            std::fs::write(path.join(name), text).unwrap();
        }
    }
    let newest = &drafts.last().unwrap().folder;
    std::fs::write(dir.join(lineage::HEAD_FILE), lineage::head_text(newest)).unwrap();
}

fn file<'d>(draft: &'d Draft, name: &str) -> &'d str {
    draft
        .files
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| text.as_str())
        .unwrap_or_else(|| panic!("{} has no {name}", draft.folder))
}

/// `workhub ARGS` on the fixture's migrations and the database `url`.
fn on(fixture: &Fixture, url: &str, args: &[&str]) -> Run {
    let mut command = fixture.workhub();
    command.env("DATABASE_URL", url).args(args);
    output(&mut command)
}

#[test]
fn every_step_db_create_writes_lints_clean_and_keeps_rows_on_postgres() {
    let fixture = Fixture::new();
    let dir = fixture.migrations();
    let server =
        postgres_server("every_step_db_create_writes_lints_clean_and_keeps_rows_on_postgres");
    let database = server
        .as_ref()
        .map(|s| TemporaryDatabase::create(s, "online").unwrap());
    let url = database.as_ref().map(|d| match d.url() {
        DatabaseUrl::Postgres(raw) => raw.clone(),
        _ => unreachable!(),
    });
    let sqlite_url = fixture.db().display().to_string();
    #[cfg(feature = "mysql")]
    let mysql_database = workhub_migrations::testing::mysql_server(
        "every_step_db_create_writes_lints_clean_and_keeps_rows_on_postgres (MySQL half)",
    )
    .map(|s| workhub_migrations::apply::TemporaryMysqlDatabase::create(&s, "online").unwrap());
    let mut previous = Schema::default();
    let mut companions = Vec::new();
    let mut refused_all = false;
    for (i, step) in sequence::steps().iter().enumerate() {
        let model = (step.model)();
        let context = format!("step {} ({})", i + 1, step.name);
        let existing = source::scan(&dir).unwrap().migrations;
        let current = scratch::built_by(&existing, &Target::Head).unwrap();
        let main = format!("2024-01-01-0000{:02}_{}", 2 * i, step.name);
        let companion = format!("2024-01-01-0000{:02}_{}_online", 2 * i + 1, step.name);
        let parent = existing.last().map(|m| m.folder().to_string());
        let drafts = online::drafts(
            Folders {
                main: &main,
                companion: &companion,
            },
            parent.as_deref(),
            &existing,
            &current,
            &model,
            &GENERATOR,
            &Online::default(),
        )
        .unwrap();
        assert!(!drafts.is_empty(), "{context}: nothing generated");

        // SQLite's main migration is what the plain generator writes, lint acknowledgements aside,
        // whenever no index changes moved to the companion.
        if drafts.len() == 1 && drafts[0].folder == main {
            let plain =
                draft::generated(&main, parent.as_deref(), &current, &model, &GENERATOR).unwrap();
            let without_silences: String = file(&drafts[0], "up.sql")
                .lines()
                .filter(|l| !l.starts_with("-- workhub-lint: allow"))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(
                without_silences,
                file(&plain, "up.sql"),
                "{context}: up.sql changed"
            );
        }
        for draft in &drafts {
            let up = file(draft, "up.postgres.sql");
            assert!(
                up.contains("lock_timeout = '5s';") || up.contains("Nothing changes on PostgreSQL"),
                "{context}: {} sets no lock_timeout:\n{up}",
                draft.folder
            );
        }
        let all_pg: String = drafts.iter().map(|d| file(d, "up.postgres.sql")).collect();
        let expected: &[&str] = match step.name {
            "add_index" => &["CREATE INDEX CONCURRENTLY \"books_title_idx\""],
            "drop_index" => &["DROP INDEX CONCURRENTLY IF EXISTS \"books_title_idx\""],
            "add_unique" => &[
                "CREATE UNIQUE INDEX CONCURRENTLY \"authors_name_key\"",
                "ADD CONSTRAINT \"authors_name_key\" UNIQUE USING INDEX \"authors_name_key\"",
            ],
            "tighten_to_not_null_with_default" => &[
                "LIMIT 10000",
                "COMMIT;",
                "CHECK (\"pages\" IS NOT NULL) NOT VALID",
                "VALIDATE CONSTRAINT \"books_pages_not_null\"",
                "ALTER COLUMN \"pages\" SET NOT NULL",
                "DROP CONSTRAINT \"books_pages_not_null\"",
            ],
            "change_foreign_key_action" | "add_foreign_key_set_null" => {
                &["NOT VALID;", "VALIDATE CONSTRAINT \"books_author_id_fkey\""]
            }
            "drop_table_add_check" => {
                &["NOT VALID;", "VALIDATE CONSTRAINT \"books_pages_positive\""]
            }
            _ => &[],
        };
        for needle in expected {
            assert!(
                all_pg.contains(needle),
                "{context}: lacks `{needle}`:\n{all_pg}"
            );
        }
        if let Some(last) = drafts.last().filter(|d| d.folder == companion) {
            companions.push(step.name);
            assert!(
                file(last, "metadata.toml").contains("run_in_transaction = false"),
                "{context}"
            );
        }
        write(&dir, &drafts);

        let lint = fixture.run(&["db", "lint"]);
        lint.expect_code(0);
        assert!(
            lint.stderr.contains("0 errors, 0 warnings"),
            "{context}: db lint found something:\n{}{}",
            lint.stdout,
            lint.stderr
        );

        // SQLite: up, down, up again, rows kept.
        let before = sqlite_counts(&fixture, &previous);
        on(&fixture, &sqlite_url, &["db", "upgrade"]).expect_code(0);
        assert_kept(&before, &sqlite_counts(&fixture, &model), &context);
        let kept = sqlite_counts(&fixture, &model);
        let back = format!("-{}", drafts.len());
        on(&fixture, &sqlite_url, &["db", "downgrade", &back]).expect_code(0);
        let reverted = format!("{context}, reverted");
        assert_kept(&kept, &sqlite_counts(&fixture, &previous), &reverted);
        on(&fixture, &sqlite_url, &["db", "upgrade"]).expect_code(0);
        fixture.execute(step.then);
        #[cfg(feature = "mysql")]
        if let Some(database) = &mysql_database {
            on_mysql::step(
                &fixture, database, &drafts, &previous, &model, step, &context,
            );
        }

        if let (Some(database), Some(url)) = (&database, &url) {
            if drafts.len() == 2 && !refused_all {
                refused_all = true;
                let history = pg_history(url);
                let run = on(&fixture, url, &["db", "upgrade", "--transaction", "all"]);
                run.expect_failure(
                    1,
                    &[
                        &drafts[1].folder,
                        "run_in_transaction = false",
                        "nothing was run",
                    ],
                );
                assert_eq!(
                    pg_history(url),
                    history,
                    "{context}: --transaction all changed the history"
                );
            }
            let before = pg_counts(url, &previous);
            let up = on(&fixture, url, &["db", "upgrade"]);
            up.expect_code(0);
            assert_pg_schema(database, &model, &context);
            assert_kept(&before, &pg_counts(url, &model), &context);
            for (query, expected) in step.checks.iter().filter(|(q, _)| !q.contains("pragma")) {
                let mut conn = PgConnection::establish(url).unwrap();
                let sql = format!("SELECT CAST(({query}) AS BIGINT) AS n");
                let rows: Vec<Count> = diesel::sql_query(&sql).load(&mut conn).unwrap();
                assert_eq!(rows[0].n, *expected, "{context} (PostgreSQL): {query}");
            }
            let kept = pg_counts(url, &model);
            on(&fixture, url, &["db", "downgrade", &back]).expect_code(0);
            assert_pg_schema(database, &previous, &format!("{context}, reverted"));
            assert_kept(
                &kept,
                &pg_counts(url, &previous),
                &format!("{context}, reverted"),
            );
            on(&fixture, url, &["db", "upgrade"]).expect_code(0);
            assert_pg_schema(database, &model, &format!("{context}, reapplied"));
            if !step.then.is_empty() {
                let mut conn = PgConnection::establish(url).unwrap();
                diesel::connection::SimpleConnection::batch_execute(&mut conn, step.then).unwrap();
            }
        }
        previous = model;
    }
    assert!(refused_all || database.is_none());
    assert_eq!(
        companions,
        [
            "add_index",
            "tighten_to_not_null_with_default",
            "add_unique",
            "change_foreign_key_action",
            "add_foreign_key_set_null",
            "drop_index",
            "drop_table_add_check",
        ],
        "the steps PostgreSQL needs a companion for"
    );
}

/// How many migrations the PostgreSQL database `url` records (nothing before the first upgrade).
fn pg_history(url: &str) -> Vec<i64> {
    let mut conn = PgConnection::establish(url).unwrap();
    let sql = "SELECT COUNT(*) AS n FROM __diesel_schema_migrations";
    match diesel::sql_query(sql).load::<Count>(&mut conn) {
        Ok(rows) => rows.iter().map(|r| r.n).collect(),
        Err(_) => Vec::new(),
    }
}

mod loose {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        books (id) { id -> BigInt, author_id -> BigInt, title -> Text, isbn -> Nullable<Text>, note -> Nullable<Text>, }
    }
}
mod tight {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            author_id -> BigInt,
            title -> Text,
            #[unique]
            isbn -> Nullable<Text>,
            note -> Text,
        }
    }
}

/// Makes the statement of `tag` fail on the PostgreSQL database `url` while `when` (a SQL condition)
/// holds: an event trigger, so the companion fails at a chosen point, as a lock timeout or a lost
/// connection would stop it there.
fn fail_ddl(url: &str, tag: &str, when: &str) {
    let mut conn = PgConnection::establish(url).unwrap();
    let sql = format!(
        "CREATE OR REPLACE FUNCTION workhub_test_fail() RETURNS event_trigger LANGUAGE plpgsql AS $f$ \
         BEGIN IF tg_tag = '{tag}' AND ({when}) THEN RAISE EXCEPTION 'stopped here by the test'; END IF; END $f$;\n\
         DROP EVENT TRIGGER IF EXISTS workhub_test_fail;\n\
         CREATE EVENT TRIGGER workhub_test_fail ON ddl_command_start EXECUTE FUNCTION workhub_test_fail();"
    );
    diesel::connection::SimpleConnection::batch_execute(&mut conn, &sql).unwrap();
}

fn stop_failing(url: &str) {
    let mut conn = PgConnection::establish(url).unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        "DROP EVENT TRIGGER IF EXISTS workhub_test_fail",
    )
    .unwrap();
}

#[test]
fn a_companion_stopped_at_any_point_completes_when_run_again_both_ways() {
    let Some(server) =
        postgres_server("a_companion_stopped_at_any_point_completes_when_run_again_both_ways")
    else {
        return;
    };
    let database = TemporaryDatabase::create(&server, "online_rerun").unwrap();
    let DatabaseUrl::Postgres(url) = database.url().clone() else {
        unreachable!()
    };
    let fixture = Fixture::new();
    let dir = fixture.migrations();
    for (i, model) in [loose::schema(), tight::schema()].iter().enumerate() {
        let existing = source::scan(&dir).unwrap().migrations;
        let current = scratch::built_by(&existing, &Target::Head).unwrap();
        let (main, companion) = (
            format!("2024-01-01-00000{}_step", 2 * i),
            format!("2024-01-01-00000{}_step_online", 2 * i + 1),
        );
        let parent = existing.last().map(|m| m.folder().to_string());
        let folders = Folders {
            main: &main,
            companion: &companion,
        };
        let drafts = online::drafts(
            folders,
            parent.as_deref(),
            &existing,
            &current,
            model,
            &GENERATOR,
            &Online::default(),
        )
        .unwrap();
        write(&dir, &drafts);
        if i == 0 {
            on(&fixture, &url, &["db", "upgrade"]).expect_code(0);
            let mut conn = PgConnection::establish(&url).unwrap();
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "INSERT INTO authors (name) VALUES ('Ann');\n\
                 INSERT INTO books (author_id, title, isbn, note) VALUES (1, 'a', 'i1', 'n'), (1, 'b', 'i2', 'n'), (1, 'c', NULL, 'n');",
            )
            .unwrap();
        }
    }
    on(&fixture, &url, &["db", "upgrade", "+1"]).expect_code(0);
    // Duplicates fail the unique index's build: the error names the key, fixed data reruns (below).
    let mut conn = PgConnection::establish(&url).unwrap();
    let duplicate = "INSERT INTO books (author_id, title, isbn, note) VALUES (1, 'd', 'i1', 'n')";
    diesel::connection::SimpleConnection::batch_execute(&mut conn, duplicate).unwrap();
    on(&fixture, &url, &["db", "upgrade"]).expect_failure(
        1,
        &[
            "could not create unique index \"books_isbn_key\"",
            "Key (isbn)=(i1) is duplicated",
        ],
    );
    let fix = "DELETE FROM books WHERE title = 'd'";
    diesel::connection::SimpleConnection::batch_execute(&mut conn, fix).unwrap();
    let rows = pg_counts(&url, &tight::schema());
    let index_built = "EXISTS (SELECT 1 FROM pg_class WHERE relname = 'books_isbn_key') \
                       AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'books_isbn_key')";
    let attached = "EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'books_isbn_key')";
    let validated = "EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'books_note_not_null' AND convalidated)";
    for (point, tag, when) in [
        ("after the check is validated", "ALTER TABLE", validated),
        (
            "after the unique index is built",
            "ALTER TABLE",
            index_built,
        ),
        (
            "after the unique constraint is attached",
            "CREATE INDEX",
            attached,
        ),
    ] {
        fail_ddl(&url, tag, when);
        on(&fixture, &url, &["db", "upgrade"]).expect_failure(
            1,
            &[
                "stopped here by the test",
                "statements before this one took effect",
            ],
        );
        stop_failing(&url);
        let rerun = on(&fixture, &url, &["db", "upgrade"]);
        assert_eq!(rerun.code, Some(0), "rerun {point}:\n{}", rerun.stderr);
        assert_pg_schema(&database, &tight::schema(), point);
        assert_kept(&rows, &pg_counts(&url, &tight::schema()), point);
        on(&fixture, &url, &["db", "check"]).expect_code(0);

        // The companion's revert stopped after its unique constraint was dropped, then run again.
        let dropped = "NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'books_isbn_key')";
        fail_ddl(&url, "ALTER TABLE", dropped);
        on(&fixture, &url, &["db", "downgrade", "-1"])
            .expect_failure(1, &["stopped here by the test"]);
        stop_failing(&url);
        let rerun = on(&fixture, &url, &["db", "downgrade", "-1"]);
        assert_eq!(
            rerun.code,
            Some(0),
            "revert rerun {point}:\n{}",
            rerun.stderr
        );
        let mut between = tight::schema();
        let books = between
            .tables
            .iter_mut()
            .find(|t| t.name == "books")
            .unwrap();
        books.indexes.clear();
        books.uniques.clear();
        books
            .columns
            .iter_mut()
            .for_each(|c| c.nullable |= c.name == "note");
        assert_pg_schema(&database, &between, &format!("{point}, companion reverted"));
        assert_kept(&rows, &pg_counts(&url, &tight::schema()), point);
    }
}

/// The MySQL half: `workhub db upgrade`, `db downgrade -N` and `db upgrade` on a MySQL database,
/// with the rows kept and what each step made read from `information_schema`.
#[cfg(feature = "mysql")]
mod on_mysql {
    use diesel::{Connection, MysqlConnection, RunQueryDsl};
    use workhub_migrations::apply::TemporaryMysqlDatabase;
    use workhub_migrations::draft::Draft;
    use workhub_migrations::DatabaseUrl;
    use workhub_schema::Schema;

    use super::common::Fixture;
    use super::sequence::Step;
    use super::{assert_kept, file, on, Count};

    fn scalar(url: &str, query: &str) -> i64 {
        let mut conn = MysqlConnection::establish(url).unwrap();
        let sql = format!("SELECT CAST(({query}) AS SIGNED) AS n");
        let rows: Vec<Count> = diesel::sql_query(&sql)
            .load(&mut conn)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows[0].n
    }

    fn counts(url: &str, schema: &Schema) -> Vec<(String, i64)> {
        schema
            .tables
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    scalar(url, &format!("SELECT COUNT(*) FROM `{}`", t.name)),
                )
            })
            .collect()
    }

    fn assert_made(url: &str, step: &Step, context: &str) {
        for (query, expected) in step.checks.iter().filter(|(q, _)| !q.contains("pragma")) {
            assert_eq!(scalar(url, query), *expected, "{context} (MySQL): {query}");
        }
        for (query, expected) in step.mysql_checks {
            assert_eq!(scalar(url, query), *expected, "{context} (MySQL): {query}");
        }
    }

    pub fn step(
        fixture: &Fixture,
        database: &TemporaryMysqlDatabase,
        drafts: &[Draft],
        previous: &Schema,
        model: &Schema,
        step: &Step,
        context: &str,
    ) {
        let DatabaseUrl::Mysql(url) = database.url() else {
            unreachable!("a MySQL database")
        };
        if let Some(companion) = drafts.iter().find(|d| d.folder.ends_with("_online")) {
            // PostgreSQL's online step: MySQL makes its index changes in place, or nothing.
            let up = file(companion, "up.mysql.sql");
            assert!(
                up.contains("Nothing changes on MySQL in this step") || up.contains("INDEX"),
                "{context}: the companion's up.mysql.sql:\n{up}"
            );
        }
        let before = counts(url, previous);
        on(fixture, url, &["db", "upgrade"]).expect_code(0);
        assert_kept(&before, &counts(url, model), &format!("{context} (MySQL)"));
        assert_made(url, step, context);
        let kept = counts(url, model);
        let back = format!("-{}", drafts.len());
        on(fixture, url, &["db", "downgrade", &back]).expect_code(0);
        assert_kept(
            &kept,
            &counts(url, previous),
            &format!("{context}, reverted (MySQL)"),
        );
        on(fixture, url, &["db", "upgrade"]).expect_code(0);
        assert_made(url, step, &format!("{context}, reapplied"));
        if !step.then.is_empty() {
            let mut conn = MysqlConnection::establish(url).unwrap();
            diesel::connection::SimpleConnection::batch_execute(&mut conn, step.then).unwrap();
        }
    }
}
