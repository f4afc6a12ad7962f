//! One replay per history state: the schema a history builds is kept by the fingerprint of exactly
//! what was replayed, reused while nothing of it changes, and never for anything else.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use workhub_migrations::schema_cache::{fingerprint, keep_in};
use workhub_migrations::scratch::{built_by, built_by_postgres, replayed};
use workhub_migrations::{DatabaseUrl, Dialect, Migration, Scripts, Target};
use workhub_schema::Schema;

/// The directory a schema is kept in is the process's: one test at a time sets it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn migration(n: u32, up: &str) -> Migration {
    Migration::new(
        format!("2024-01-01-0000{n:02}_step_{n}"),
        format!("2024010100{:04}", n),
        format!("step_{n}"),
        true,
        Scripts::new(up.to_string(), None),
        None,
    )
}

fn history() -> Vec<Migration> {
    vec![
        migration(
            1,
            "CREATE TABLE authors (id INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL DEFAULT 'a\nb');",
        ),
        migration(
            2,
            "CREATE TABLE books (id INTEGER PRIMARY KEY NOT NULL, author_id BIGINT NOT NULL REFERENCES authors (id));\n\
             CREATE INDEX books_author_idx ON books (author_id);",
        ),
    ]
}

/// This test alone sets the directory, and a directory of its own to set.
fn alone() -> (MutexGuard<'static, ()>, tempfile::TempDir) {
    let one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    (one, tempfile::tempdir().unwrap())
}

fn kept_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn a_second_run_on_an_unchanged_history_reads_the_kept_schema() {
    let (_one, dir) = alone();
    let migrations = history();
    let expected = replayed(&migrations, &Target::Head).unwrap();
    assert_eq!(expected.tables.len(), 2);

    keep_in(Some(dir.path().to_path_buf()));
    assert_eq!(built_by(&migrations, &Target::Head).unwrap(), expected);
    let files = kept_files(dir.path());
    let key = fingerprint(&migrations, &Target::Head, Dialect::Sqlite);
    assert_eq!(files, [dir.path().join(format!("{key}.json"))]);

    // A new process (nothing in memory) reads the file instead of replaying: seen by editing the
    // kept schema, which only a read can return.
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("\"books_author_idx\""), "{text}");
    std::fs::write(
        &files[0],
        text.replace("\"books_author_idx\"", "\"edited_idx\""),
    )
    .unwrap();
    keep_in(Some(dir.path().to_path_buf()));
    let read = built_by(&migrations, &Target::Head).unwrap();
    assert_eq!(read.tables[1].indexes[0].name, "edited_idx");
    keep_in(None);
}

#[test]
fn anything_replayed_that_changes_is_another_fingerprint() {
    let base = history();
    let key = |migrations: &[Migration], target: &Target, dialect: Dialect| {
        fingerprint(migrations, target, dialect)
    };
    let same = key(&base, &Target::Head, Dialect::Sqlite);
    assert_eq!(same, key(&history(), &Target::Head, Dialect::Sqlite));

    let mut crlf = history();
    // Line endings inside a literal change the schema, though not the checksum.
    crlf[0] = migration(
        1,
        "CREATE TABLE authors (id INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL DEFAULT 'a\r\nb');",
    );
    assert_eq!(
        crlf[0].scripts(Dialect::Sqlite).checksum(),
        base[0].scripts(Dialect::Sqlite).checksum()
    );
    let mut reordered = history();
    reordered.swap(0, 1);
    let mut outside = history();
    outside[1] = Migration::new(
        base[1].folder().to_string(),
        base[1].version().to_string(),
        base[1].name().to_string(),
        false,
        Scripts::new(base[1].scripts(Dialect::Sqlite).up().to_string(), None),
        None,
    );
    let mut renamed = history();
    renamed[1] = Migration::new(
        "2024-01-01-000002_other".into(),
        base[1].version().to_string(),
        "other".into(),
        true,
        Scripts::new(base[1].scripts(Dialect::Sqlite).up().to_string(), None),
        None,
    );
    let others = [
        key(&crlf, &Target::Head, Dialect::Sqlite),
        key(&reordered, &Target::Head, Dialect::Sqlite),
        key(&outside, &Target::Head, Dialect::Sqlite),
        key(&renamed, &Target::Head, Dialect::Sqlite),
        key(&base[..1], &Target::Head, Dialect::Sqlite),
        key(
            &base,
            &Target::Revision(base[0].version().into()),
            Dialect::Sqlite,
        ),
        key(&base, &Target::Forward(1), Dialect::Sqlite),
        key(&base, &Target::Head, Dialect::Postgres),
    ];
    for (n, other) in others.iter().enumerate() {
        assert_ne!(*other, same, "variant {n}");
        assert!(others[n + 1..].iter().all(|o| o != other), "variant {n}");
    }

    // And what is built follows the change, never the kept schema of the history before it.
    let (_one, dir) = alone();
    keep_in(Some(dir.path().to_path_buf()));
    let mut edited = history();
    edited[0] = migration(
        1,
        "CREATE TABLE authors (id INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL DEFAULT 'c');",
    );
    let default = |schema: &Schema| schema.tables[0].columns[1].default.clone();
    let before = built_by(&base, &Target::Head).unwrap();
    assert_eq!(default(&before).as_deref(), Some("'a b'"));
    let after = built_by(&edited, &Target::Head).unwrap();
    assert_eq!(default(&after).as_deref(), Some("'c'"));
    keep_in(Some(dir.path().to_path_buf()));
    assert_eq!(built_by(&base, &Target::Head).unwrap(), before);
    assert_eq!(
        built_by(&base, &Target::Revision(base[0].version().into()))
            .unwrap()
            .tables
            .len(),
        1
    );
    assert_eq!(kept_files(dir.path()).len(), 3);
    keep_in(None);
}

#[test]
fn a_kept_file_that_is_not_this_histories_is_replayed_over() {
    let (_one, dir) = alone();
    let migrations = history();
    let expected = replayed(&migrations, &Target::Head).unwrap();
    let file = dir.path().join(format!(
        "{}.json",
        fingerprint(&migrations, &Target::Head, Dialect::Sqlite)
    ));

    // Not JSON at all.
    std::fs::write(&file, "not a schema").unwrap();
    keep_in(Some(dir.path().to_path_buf()));
    assert_eq!(built_by(&migrations, &Target::Head).unwrap(), expected);
    let rewritten = std::fs::read_to_string(&file).unwrap();
    assert!(rewritten.contains("\"books\""), "{rewritten}");

    // Another history's kept schema, copied under this history's name.
    keep_in(Some(dir.path().to_path_buf()));
    built_by(&migrations[..1], &Target::Head).unwrap();
    let other = dir.path().join(format!(
        "{}.json",
        fingerprint(&migrations[..1], &Target::Head, Dialect::Sqlite)
    ));
    std::fs::copy(&other, &file).unwrap();
    keep_in(Some(dir.path().to_path_buf()));
    assert_eq!(built_by(&migrations, &Target::Head).unwrap(), expected);
    keep_in(None);
}

#[test]
fn old_kept_schemas_are_removed() {
    let (_one, dir) = alone();
    keep_in(Some(dir.path().to_path_buf()));
    for n in 0..40 {
        let migrations = vec![migration(1, &format!("CREATE TABLE t{n} (id INTEGER);"))];
        assert_eq!(
            built_by(&migrations, &Target::Head).unwrap().tables[0].name,
            format!("t{n}")
        );
    }
    let kept = kept_files(dir.path()).len();
    assert!((1..=32).contains(&kept), "{kept} files kept");
    keep_in(None);
}

/// A history that grew by a migration is built from the database kept for the history before it:
/// only the new migration is applied, and what comes out is exactly what a whole replay builds.
#[test]
fn a_grown_history_applies_only_its_new_migrations_to_the_kept_database() {
    let (_one, dir) = alone();
    keep_in(Some(dir.path().to_path_buf()));
    let two = history();
    built_by(&two, &Target::Head).unwrap();
    let kept_two = dir.path().join(format!(
        "{}.db",
        fingerprint(&two, &Target::Head, Dialect::Sqlite)
    ));
    assert!(kept_two.is_file(), "the replay's database is kept");

    let mut three = two.clone();
    three.push(migration(
        3,
        "ALTER TABLE books ADD COLUMN title TEXT;\nCREATE INDEX books_title_idx ON books (title);",
    ));
    let grown = built_by(&three, &Target::Head).unwrap();
    assert_eq!(grown, replayed(&three, &Target::Head).unwrap());
    assert!(grown.table("books").unwrap().column("title").is_some());
    assert!(dir
        .path()
        .join(format!(
            "{}.db",
            fingerprint(&three, &Target::Head, Dialect::Sqlite)
        ))
        .is_file());

    // It really is built from the kept database: a table put into that by hand shows up (only a
    // test would do this to the cache). A fourth migration, so nothing of three's is reused.
    let mut conn =
        <diesel::SqliteConnection as diesel::Connection>::establish(kept_two.to_str().unwrap())
            .unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query("CREATE TABLE planted (id INTEGER)"),
        &mut conn,
    )
    .unwrap();
    drop(conn);
    let mut other = two.clone();
    other.push(migration(
        4,
        "CREATE TABLE shelves (id INTEGER PRIMARY KEY);",
    ));
    let built = built_by(&other, &Target::Head).unwrap();
    assert!(built.table("planted").is_some(), "{built:?}");
    assert!(built.table("shelves").is_some());

    // Nothing kept: the whole history is replayed, with the same answer.
    keep_in(None);
    assert_eq!(built_by(&three, &Target::Head).unwrap(), grown);
    // No work directory is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".replay-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A PostgreSQL replay is kept too, under a fingerprint that also holds what the server is: a second
/// run on the same history and server reads it, and anything about the server a replay depends on
/// (here the date style a date default is printed in) is another fingerprint.
#[test]
fn a_postgres_replay_is_kept_for_the_same_history_on_the_same_server() {
    let Some(server) = workhub_migrations::testing::postgres_server(
        "a_postgres_replay_is_kept_for_the_same_history_on_the_same_server",
    ) else {
        return;
    };
    let (_one, dir) = alone();
    let postgres = |n: u32, up: &str| {
        Migration::new(
            format!("2024-01-01-0000{n:02}_step_{n}"),
            format!("2024010100{:04}", n),
            format!("step_{n}"),
            true,
            Scripts::new("SELECT 1;".into(), None),
            Some(Scripts::new(up.to_string(), None)),
        )
    };
    let migrations = vec![
        postgres(
            1,
            "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, at DATE NOT NULL DEFAULT '2024-01-02');",
        ),
        postgres(2, "CREATE INDEX events_at_idx ON events (at);"),
    ];
    keep_in(Some(dir.path().to_path_buf()));
    let first = built_by_postgres(&server, &migrations, &Target::Head).unwrap();
    assert!(first.table("events").is_some(), "{first:?}");
    let files = kept_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");

    // A new process reads the kept schema instead of replaying: seen by editing it.
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("\"events_at_idx\""), "{text}");
    std::fs::write(
        &files[0],
        text.replace("\"events_at_idx\"", "\"edited_idx\""),
    )
    .unwrap();
    keep_in(Some(dir.path().to_path_buf()));
    let read = built_by_postgres(&server, &migrations, &Target::Head).unwrap();
    assert_eq!(read.table("events").unwrap().indexes[0].name, "edited_idx");

    // Another date style prints the date default otherwise: not the same server, so it replays.
    let DatabaseUrl::Postgres(raw) = &server else {
        unreachable!()
    };
    let joiner = if raw.contains('?') { '&' } else { '?' };
    let elsewhere =
        DatabaseUrl::Postgres(format!("{raw}{joiner}options=-c%20DateStyle%3DSQL%2CDMY"));
    keep_in(Some(dir.path().to_path_buf()));
    let replayed_there = built_by_postgres(&elsewhere, &migrations, &Target::Head).unwrap();
    let events = replayed_there.table("events").unwrap();
    assert_eq!(events.indexes[0].name, "events_at_idx");
    assert_ne!(
        events.column("at").unwrap().default,
        first.table("events").unwrap().column("at").unwrap().default,
        "the date style shows in the default"
    );
    assert_eq!(kept_files(dir.path()).len(), 2);
    keep_in(None);
}

/// Built from a kept database, only the tables a new migration changed are read again, the rest are
/// taken from the kept schema; whatever the migration does, the result is exactly what a whole
/// replay reads: a rebuilt table whose primary key others reference without naming columns, a new
/// table referencing an unchanged one that way, renames, drops, triggers under another case, a
/// name with a letter beyond ASCII.
#[test]
fn a_grown_history_reads_again_only_the_tables_it_changed() {
    let (_one, dir) = alone();
    keep_in(Some(dir.path().to_path_buf()));
    let base = vec![migration(
        1,
        "CREATE TABLE authors (id INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL);\n\
         CREATE TABLE books (id INTEGER PRIMARY KEY NOT NULL, author_id INTEGER REFERENCES authors, title TEXT);\n\
         CREATE INDEX books_title_idx ON books (title);\n\
         CREATE TABLE \"Shelves\" (id INTEGER PRIMARY KEY NOT NULL, label TEXT);\n\
         CREATE TRIGGER shelves_touch AFTER INSERT ON shelves BEGIN SELECT 1; END;\n\
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n\
         CREATE TABLE \"Ärzte\" (id INTEGER PRIMARY KEY, name TEXT);",
    )];
    let whole = built_by(&base, &Target::Head).unwrap();
    assert_eq!(
        whole.table("books").unwrap().foreign_keys[0].referenced_columns,
        ["id"]
    );
    let grown = |up: &str| {
        let mut grown = base.clone();
        grown.push(migration(2, up));
        grown
    };
    for up in [
        "CREATE TABLE authors_new (code TEXT PRIMARY KEY NOT NULL, id INTEGER, name TEXT NOT NULL);\n\
         INSERT INTO authors_new (code, id, name) SELECT id, id, name FROM authors;\n\
         DROP TABLE authors;\n\
         ALTER TABLE authors_new RENAME TO authors;",
        "CREATE TABLE reviews (id INTEGER PRIMARY KEY, book_id INTEGER REFERENCES books);",
        "ALTER TABLE authors RENAME TO writers;",
        "DROP INDEX books_title_idx;\n\
         ALTER TABLE notes ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT 0;\n\
         ALTER TABLE notes RENAME COLUMN body TO text;",
        "DROP TABLE notes;\n\
         CREATE TRIGGER books_touch AFTER UPDATE ON BOOKS BEGIN SELECT 1; END;\n\
         CREATE UNIQUE INDEX shelves_label_key ON SHELVES (label);",
        "INSERT INTO notes (body) VALUES ('no schema change');",
        // SQLite lower-cases ASCII letters alone: the table is still found by its name.
        "ALTER TABLE \"Ärzte\" ADD COLUMN title TEXT;",
    ] {
        let history = grown(up);
        let built = built_by(&history, &Target::Head).unwrap();
        keep_in(None);
        assert_eq!(built, replayed(&history, &Target::Head).unwrap(), "after {up}");
        keep_in(Some(dir.path().to_path_buf()));
    }
    // The rebuilt authors' new key is what books now references.
    let rebuilt = built_by(
        &grown(
            "CREATE TABLE authors_new (code TEXT PRIMARY KEY NOT NULL);\n\
         DROP TABLE authors;\n\
         ALTER TABLE authors_new RENAME TO authors;",
        ),
        &Target::Head,
    )
    .unwrap();
    assert_eq!(
        rebuilt.table("books").unwrap().foreign_keys[0].referenced_columns,
        ["code"]
    );

    // What was not changed really is the kept schema's: an edit made to it shows up.
    let kept = dir.path().join(format!(
        "{}.json",
        fingerprint(&base, &Target::Head, Dialect::Sqlite)
    ));
    let text = std::fs::read_to_string(&kept).unwrap();
    std::fs::write(&kept, text.replace("\"books_title_idx\"", "\"edited_idx\"")).unwrap();
    keep_in(Some(dir.path().to_path_buf()));
    let built = built_by(
        &grown("CREATE TABLE extra (id INTEGER PRIMARY KEY);"),
        &Target::Head,
    )
    .unwrap();
    assert_eq!(built.table("books").unwrap().indexes[0].name, "edited_idx");
    assert!(built.table("extra").is_some());
    keep_in(None);
}
