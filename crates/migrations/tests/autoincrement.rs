//! `#[autoincrement]` on an integer primary key: ids are never reused after a delete. On SQLite it is
//! `AUTOINCREMENT`, added to an existing table by the rebuild (every row kept) and read back by
//! introspection; on PostgreSQL an identity never reuses an id, so there is nothing to change.

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use workhub_migrations::scratch::generate;
use workhub_migrations::Dialect;
use workhub_migrations::{draft, introspect};
use workhub_schema::render::{self, Generator};
use workhub_schema::{diff, Change, Schema};

const GENERATOR: Generator<'static> = Generator {
    name: "workhub",
    create: "workhub db create",
    upgrade: "workhub db upgrade",
};

mod reusing {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = cascade)]
            #[index]
            author_id -> BigInt,
            title -> Text,
        }
    }
}

mod lasting {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        books (id) {
            #[autoincrement]
            id -> BigInt,
            #[references(authors.id, on_delete = cascade)]
            #[index]
            author_id -> BigInt,
            title -> Text,
        }
    }
}

mod misplaced {
    workhub_schema::tables! {
        tags (book_id, tag) {
            #[autoincrement]
            book_id -> BigInt,
            tag -> Text,
        }
    }
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn scalar(conn: &mut SqliteConnection, sql: &str) -> i64 {
    diesel::sql_query(format!("SELECT CAST(({sql}) AS BIGINT) AS n"))
        .get_result::<Number>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

/// Runs a generated script as workhub runs a rebuild: foreign keys off, one transaction.
fn run(conn: &mut SqliteConnection, script: &str) {
    conn.batch_execute("PRAGMA foreign_keys = OFF").unwrap();
    conn.batch_execute(&format!("BEGIN; {script}\nCOMMIT;"))
        .unwrap_or_else(|e| panic!("{e}\n{script}"));
    conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
}

fn assert_schema(conn: &mut SqliteConnection, model: &Schema) {
    let actual = introspect::sqlite(conn).unwrap();
    let changes = diff(&actual, &render::for_dialect(model, Dialect::Sqlite));
    assert!(changes.is_empty(), "the database differs: {changes:#?}");
}

#[test]
fn an_existing_table_gets_ids_that_are_never_reused_with_every_row_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = SqliteConnection::establish(&dir.path().join("a.db").to_string_lossy()).unwrap();
    let create = generate(
        &Schema::default(),
        &reusing::schema(),
        Dialect::Sqlite,
        "create",
        &GENERATOR,
    )
    .expect("tables to create");
    assert!(!create.up.contains("AUTOINCREMENT"), "{}", create.up);
    run(&mut conn, &create.up);
    conn.batch_execute(
        "INSERT INTO authors (name) VALUES ('Ann');
         INSERT INTO books (author_id, title) VALUES (1, 'One'), (1, 'Two'), (1, 'Three');
         DELETE FROM books WHERE id = 3;
         INSERT INTO books (author_id, title) VALUES (1, 'Reused');",
    )
    .unwrap();
    // Without AUTOINCREMENT SQLite gives the deleted row's id again.
    assert_eq!(
        scalar(&mut conn, "SELECT id FROM books WHERE title = 'Reused'"),
        3
    );

    let change = generate(
        &reusing::schema(),
        &lasting::schema(),
        Dialect::Sqlite,
        "lasting",
        &GENERATOR,
    )
    .expect("a change to generate");
    assert!(
        matches!(change.changes.as_slice(), [Change::AlterColumn { to, .. }] if to.autoincrement),
        "{:#?}",
        change.changes
    );
    assert!(
        change
            .up
            .contains("books.id: ids never reused (AUTOINCREMENT)"),
        "{}",
        change.up
    );
    assert!(
        change
            .up
            .contains("\"id\" INTEGER PRIMARY KEY AUTOINCREMENT"),
        "{}",
        change.up
    );
    run(&mut conn, &change.up);
    assert_schema(&mut conn, &lasting::schema());
    // Every row, with its id and its foreign key, survived the rebuild.
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) FROM books"), 3);
    assert_eq!(
        scalar(&mut conn, "SELECT SUM(id) FROM books WHERE author_id = 1"),
        1 + 2 + 3
    );
    assert_eq!(
        scalar(&mut conn, "SELECT COUNT(*) FROM pragma_foreign_key_check"),
        0
    );
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT COUNT(*) FROM pragma_index_list('books') WHERE name = 'books_author_id_idx'"
        ),
        1
    );
    // From now on a deleted id stays deleted.
    conn.batch_execute(
        "DELETE FROM books WHERE id = 3;
         INSERT INTO books (author_id, title) VALUES (1, 'Fresh');",
    )
    .unwrap();
    assert_eq!(
        scalar(&mut conn, "SELECT id FROM books WHERE title = 'Fresh'"),
        4
    );

    // Down takes AUTOINCREMENT away again, rows kept.
    assert!(
        change.down.contains("\"id\" INTEGER PRIMARY KEY,")
            && !change.down.contains("PRIMARY KEY AUTOINCREMENT"),
        "{}",
        change.down
    );
    run(&mut conn, &change.down);
    assert_schema(&mut conn, &reusing::schema());
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) FROM books"), 3);
}

#[test]
fn postgres_needs_nothing_and_says_so() {
    assert!(generate(
        &reusing::schema(),
        &lasting::schema(),
        Dialect::Postgres,
        "x",
        &GENERATOR
    )
    .is_none());
    let draft = draft::generated(
        "2026-12-01-000000_lasting",
        None,
        &reusing::schema(),
        &lasting::schema(),
        &GENERATOR,
    )
    .expect("a draft: SQLite has a change");
    let file = |name: &str| {
        draft
            .files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.clone())
            .unwrap_or_else(|| panic!("{name} is written"))
    };
    assert!(file("up.sql").contains("AUTOINCREMENT"));
    // Nor MySQL: an AUTO_INCREMENT never hands out an id twice.
    for (name, says) in [
        ("up.postgres.sql", "Nothing changes on PostgreSQL"),
        ("down.postgres.sql", "Nothing changes on PostgreSQL"),
        ("up.mysql.sql", "Nothing changes on MySQL"),
        ("down.mysql.sql", "Nothing changes on MySQL"),
    ] {
        let text = file(name);
        assert!(text.contains(says), "{name}: {text}");
        assert!(
            text.lines()
                .all(|l| l.trim().is_empty() || l.starts_with("--") || l == "SELECT 1;"),
            "{name} runs nothing: {text}"
        );
    }
    // A new table declared so is created with it on SQLite, as a plain identity on PostgreSQL.
    let sqlite = generate(
        &Schema::default(),
        &lasting::schema(),
        Dialect::Sqlite,
        "n",
        &GENERATOR,
    )
    .unwrap();
    assert!(
        sqlite
            .up
            .contains("\"id\" INTEGER PRIMARY KEY AUTOINCREMENT"),
        "{}",
        sqlite.up
    );
    let postgres = generate(
        &Schema::default(),
        &lasting::schema(),
        Dialect::Postgres,
        "n",
        &GENERATOR,
    )
    .unwrap();
    assert!(
        postgres.up.contains("GENERATED BY DEFAULT AS IDENTITY"),
        "{}",
        postgres.up
    );
}

#[test]
fn autoincrement_outside_a_single_integer_key_is_a_problem() {
    let problems = misplaced::schema().problems();
    assert!(
        problems.iter().any(|p| p.contains(
            "tags.book_id: autoincrement applies to a table's single integer primary key"
        )),
        "{problems:?}"
    );
    assert_eq!(lasting::schema().problems(), Vec::<String>::new());
}

#[test]
fn a_schema_without_autoincrement_keeps_the_digest_lineage_files_recorded() {
    // Recorded by `db create` before `autoincrement` existed; rebase and `db check` compare it.
    let column = workhub_schema::Column::new("id", workhub_schema::ColumnType::BigInt, false);
    assert_eq!(
        format!("{column:?}"),
        "Column { name: \"id\", ty: BigInt, nullable: false, default: None }"
    );
}
