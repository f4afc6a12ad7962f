//! Autogeneration end to end, one model change after another: each step's migration is generated from
//! the models, applied to a SQLite database holding rows, compared with the models by introspection,
//! reverted, and applied again; the same on PostgreSQL, and with the `mysql` feature on MySQL, whose
//! rows are compared, value by value, with SQLite's after every up, down and up again.

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use workhub_migrations::apply::{Backend, Postgres, Silent, Sqlite, TemporaryDatabase};
use workhub_migrations::scratch::{self, generate, uncaptured};
use workhub_migrations::{Dialect, Migration, Migrator, Scripts, Target};
use workhub_schema::render::{self, Generator};
use workhub_schema::{diff, Change, Schema};
/// The names the tests' generated SQL gives its generator.
const GENERATOR: Generator<'static> = Generator {
    name: "workhub",
    create: "workhub db create",
    upgrade: "workhub db upgrade",
};

mod sequence;

use sequence::*;

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn scalar(db: &mut Sqlite, sql: &str) -> i64 {
    let wrapped = format!("SELECT CAST(({sql}) AS BIGINT) AS n");
    let rows: Vec<Number> = diesel::sql_query(&wrapped)
        .load(db.connection().unwrap())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows[0].n
}

fn counts(db: &mut Sqlite, schema: &Schema) -> Vec<(String, i64)> {
    schema
        .tables
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                scalar(db, &format!("SELECT COUNT(*) FROM \"{}\"", t.name)),
            )
        })
        .collect()
}

fn counts_postgres(db: &mut Postgres, schema: &Schema) -> Vec<(String, i64)> {
    schema
        .tables
        .iter()
        .map(|t| {
            let sql = format!("SELECT COUNT(*) AS n FROM \"{}\"", t.name);
            let rows: Vec<Number> = diesel::sql_query(&sql)
                .load(db.connection())
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            (t.name.clone(), rows[0].n)
        })
        .collect()
}

fn assert_postgres_schema(db: &mut Postgres, model: &Schema, context: &str) {
    let actual = scratch::read_postgres(db).expect("introspection");
    let changes = diff(&actual, &render::for_dialect(model, Dialect::Postgres));
    assert!(
        changes.is_empty(),
        "{context} (PostgreSQL): the database differs from the model: {changes:#?}"
    );
}

/// Asserts the database's schema is the model's, compared as schemas rather than as SQL text.
fn assert_schema(db: &mut Sqlite, model: &Schema, context: &str) {
    let actual = scratch::read(db).expect("introspection");
    let changes = diff(&actual, &render::for_dialect(model, Dialect::Sqlite));
    assert!(
        changes.is_empty(),
        "{context}: the database differs from the model: {changes:#?}"
    );
}

fn assert_rows_kept(before: &[(String, i64)], after: &[(String, i64)], context: &str) {
    for (table, count) in before {
        if let Some((_, now)) = after.iter().find(|(t, _)| t == table) {
            assert_eq!(now, count, "{context}: rows of {table}");
        }
    }
}

#[test]
fn every_kind_of_model_change_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let server = workhub_migrations::testing::postgres_server(
        "every_kind_of_model_change_round_trips (PostgreSQL half)",
    );
    let pg_database = server
        .as_ref()
        .map(|s| TemporaryDatabase::create(s, "test").unwrap());
    #[cfg(feature = "mysql")]
    let mysql_database = workhub_migrations::testing::mysql_server(
        "every_kind_of_model_change_round_trips (MySQL half)",
    )
    .map(|s| workhub_migrations::apply::TemporaryMysqlDatabase::create(&s, "test").unwrap());
    let mut migrations: Vec<Migration> = Vec::new();
    let mut previous = Schema::default();
    let steps = steps();
    assert!(steps.len() >= 15);
    for (i, step) in steps.iter().enumerate() {
        let model = (step.model)();
        let context = format!("step {} ({})", i + 1, step.name);

        // `db check` fails before the migration exists...
        let pending = uncaptured(&migrations, &model).unwrap();
        assert!(
            !pending.is_empty(),
            "{context}: the model change went unnoticed"
        );

        let current = scratch::built_by(&migrations, &Target::Head).unwrap();
        let generated = generate(&current, &model, Dialect::Sqlite, step.name, &GENERATOR)
            .expect("a migration is generated");
        let postgres = generate(&current, &model, Dialect::Postgres, step.name, &GENERATOR)
            .expect("PostgreSQL SQL is generated");
        let mysql = generate(&current, &model, Dialect::Mysql, step.name, &GENERATOR)
            .expect("MySQL SQL is generated");
        assert!(
            !mysql.up.contains('"') || mysql.up.contains("-- "),
            "{context}: MySQL SQL is backquoted"
        );
        if generated.changes.iter().any(Change::is_destructive) {
            assert!(
                mysql.up.contains("-- DESTRUCTIVE"),
                "{context}: destructive change unmarked in up.mysql.sql:\n{}",
                mysql.up
            );
        }
        assert!(
            generated.changes.iter().any(step.expect),
            "{context}: unexpected changes {:#?}",
            generated.changes
        );
        for needle in step.up_contains {
            assert!(
                generated.up.contains(needle),
                "{context}: up.sql lacks `{needle}`:\n{}",
                generated.up
            );
        }
        if generated.changes.iter().any(Change::is_destructive) {
            assert!(
                generated.up.contains("-- DESTRUCTIVE"),
                "{context}: destructive change unmarked"
            );
        }
        let folder = format!("2024-01-01-0000{:02}_{}", i, step.name);
        migrations.push(
            Migration::new(
                folder,
                format!("202401010000{i:02}"),
                step.name.to_string(),
                true,
                Scripts::new(generated.up.clone(), Some(generated.down.clone())),
                Some(Scripts::new(
                    postgres.up.clone(),
                    Some(postgres.down.clone()),
                )),
            )
            .with_mysql(Some(Scripts::new(
                mysql.up.clone(),
                Some(mysql.down.clone()),
            ))),
        );

        // ...and is clean once it does.
        assert!(
            uncaptured(&migrations, &model).unwrap().is_empty(),
            "{context}: check not clean after the migration"
        );

        let mut db = Sqlite::open(&path).unwrap();
        let migrator = Migrator::new(&migrations);
        let before = counts(&mut db, &previous);
        migrator
            .upgrade(&mut db, &Target::Head, &mut Silent)
            .unwrap_or_else(|e| panic!("{context}: upgrade failed: {e}\n{}", generated.up));
        assert_schema(&mut db, &model, &context);
        assert_rows_kept(&before, &counts(&mut db, &model), &context);
        for (query, expected) in step.checks {
            assert_eq!(scalar(&mut db, query), *expected, "{context}: {query}");
        }

        // The down script restores the previous schema exactly, keeping rows, and applies again.
        let kept = counts(&mut db, &model);
        migrator
            .downgrade(&mut db, &Target::Back(1), &mut Silent)
            .unwrap_or_else(|e| panic!("{context}: downgrade failed: {e}\n{}", generated.down));
        assert_schema(&mut db, &previous, &format!("{context}, reverted"));
        assert_rows_kept(
            &kept,
            &counts(&mut db, &previous),
            &format!("{context}, reverted"),
        );
        migrator
            .upgrade(&mut db, &Target::Head, &mut Silent)
            .unwrap();
        assert_schema(&mut db, &model, &format!("{context}, reapplied"));
        #[cfg(feature = "mysql")]
        if let Some(database) = &mysql_database {
            on_mysql::step(
                database, &migrator, &mut db, &previous, &model, step, &context, &mysql,
            );
        }
        db.execute(step.then).unwrap();

        // The same step on PostgreSQL, from the same migration's PostgreSQL SQL.
        if let Some(database) = &pg_database {
            let mut pg = Postgres::open(database.url()).unwrap();
            let before = counts_postgres(&mut pg, &previous);
            migrator
                .upgrade(&mut pg, &Target::Head, &mut Silent)
                .unwrap_or_else(|e| {
                    panic!("{context}: PostgreSQL upgrade failed: {e}\n{}", postgres.up)
                });
            assert_postgres_schema(&mut pg, &model, &context);
            assert_rows_kept(
                &before,
                &counts_postgres(&mut pg, &model),
                &format!("{context} (PostgreSQL)"),
            );
            let kept = counts_postgres(&mut pg, &model);
            migrator
                .downgrade(&mut pg, &Target::Back(1), &mut Silent)
                .unwrap_or_else(|e| {
                    panic!(
                        "{context}: PostgreSQL downgrade failed: {e}\n{}",
                        postgres.down
                    )
                });
            assert_postgres_schema(&mut pg, &previous, &format!("{context}, reverted"));
            assert_rows_kept(
                &kept,
                &counts_postgres(&mut pg, &previous),
                &format!("{context}, reverted (PostgreSQL)"),
            );
            migrator
                .upgrade(&mut pg, &Target::Head, &mut Silent)
                .unwrap();
            if !step.then.is_empty() {
                pg.execute(step.then).unwrap();
            }
        }
        previous = model;
    }
}

#[test]
fn nothing_is_generated_when_models_match() {
    let model = s05::schema();
    let first = generate(
        &Schema::default(),
        &model,
        Dialect::Sqlite,
        "initial",
        &GENERATOR,
    )
    .unwrap();
    let migrations = vec![Migration::new(
        "2024-01-01-000000_initial".into(),
        "20240101000000".into(),
        "initial".into(),
        true,
        Scripts::new(first.up, Some(first.down)),
        None,
    )];
    let current = scratch::built_by(&migrations, &Target::Head).unwrap();
    assert!(generate(&current, &model, Dialect::Sqlite, "again", &GENERATOR).is_none());
}

#[test]
fn tightening_without_a_default_warns_and_a_failed_rebuild_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let first = generate(
        &Schema::default(),
        &s02::schema(),
        Dialect::Sqlite,
        "initial",
        &GENERATOR,
    )
    .unwrap();
    let mut model = s02::schema();
    model
        .tables
        .iter_mut()
        .find(|t| t.name == "books")
        .unwrap()
        .columns
        .iter_mut()
        .find(|c| c.name == "pages")
        .unwrap()
        .nullable = false;
    let current = scratch::built_by(
        &[Migration::new(
            "2024-01-01-000000_initial".into(),
            "20240101000000".into(),
            "initial".into(),
            true,
            Scripts::new(first.up.clone(), Some(first.down.clone())),
            None,
        )],
        &Target::Head,
    )
    .unwrap();
    let tighten = generate(&current, &model, Dialect::Sqlite, "tighten", &GENERATOR).unwrap();
    assert!(
        tighten
            .up
            .contains("WARNING: books.pages becomes NOT NULL and has no default"),
        "{}",
        tighten.up
    );
    let migrations = vec![
        Migration::new(
            "2024-01-01-000000_initial".into(),
            "20240101000000".into(),
            "initial".into(),
            true,
            Scripts::new(first.up, Some(first.down)),
            None,
        ),
        Migration::new(
            "2024-01-01-000001_tighten".into(),
            "20240101000001".into(),
            "tighten".into(),
            true,
            Scripts::new(tighten.up, Some(tighten.down)),
            None,
        ),
    ];
    let mut db = Sqlite::open(&path).unwrap();
    let migrator = Migrator::new(&migrations);
    migrator
        .upgrade(&mut db, &Target::Forward(1), &mut Silent)
        .unwrap();
    db.execute("INSERT INTO authors (name) VALUES ('Ann'); INSERT INTO books (author_id, title) VALUES (1, 'x');").unwrap();
    let err = migrator
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("NOT NULL constraint failed"), "{err}");
    assert!(err.contains("2024-01-01-000001_tighten"), "{err}");
    // The rebuild was rolled back whole: no temporary table, the old schema and rows intact.
    assert_eq!(
        scalar(
            &mut db,
            "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '_workhub_%'"
        ),
        0
    );
    assert_schema(&mut db, &s02::schema(), "after the failed rebuild");
    assert_eq!(scalar(&mut db, "SELECT COUNT(*) FROM books"), 1);
    // Fixing the data and rerunning works.
    db.execute("UPDATE books SET pages = 10 WHERE pages IS NULL")
        .unwrap();
    migrator
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    assert_eq!(scalar(&mut db, "SELECT pages FROM books"), 10);
}

#[test]
fn a_rebuild_that_breaks_a_foreign_key_fails_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    // Start without the foreign key (step 11), with a book whose author does not exist.
    let first = generate(
        &Schema::default(),
        &s11::schema(),
        Dialect::Sqlite,
        "initial",
        &GENERATOR,
    )
    .unwrap();
    let initial = Migration::new(
        "2024-01-01-000000_initial".into(),
        "20240101000000".into(),
        "initial".into(),
        true,
        Scripts::new(first.up, Some(first.down)),
        None,
    );
    let current = scratch::built_by(std::slice::from_ref(&initial), &Target::Head).unwrap();
    let add_fk = generate(
        &current,
        &s10::schema(),
        Dialect::Sqlite,
        "add_fk",
        &GENERATOR,
    )
    .unwrap();
    let migrations = vec![
        initial,
        Migration::new(
            "2024-01-01-000001_add_fk".into(),
            "20240101000001".into(),
            "add_fk".into(),
            true,
            Scripts::new(add_fk.up, Some(add_fk.down)),
            None,
        ),
    ];
    let mut db = Sqlite::open(&path).unwrap();
    let migrator = Migrator::new(&migrations);
    migrator
        .upgrade(&mut db, &Target::Forward(1), &mut Silent)
        .unwrap();
    db.execute("INSERT INTO books (author_id, title) VALUES (42, 'orphan')")
        .unwrap();
    let err = migrator
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("foreign_key_check"), "{err}");
    assert_schema(&mut db, &s11::schema(), "after the refused rebuild");
    assert_eq!(scalar(&mut db, "SELECT COUNT(*) FROM books"), 1);
}

mod with_archived_at {
    workhub_schema::tables! {
        authors (id) { id -> BigInt, name -> Text, }
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            #[max_length = 100]
            title -> Text,
            pages -> Nullable<Integer>,
            #[default = "CURRENT_TIMESTAMP"]
            archived_at -> Nullable<Timestamp>,
        }
    }
}

mod cycle {
    workhub_schema::tables! {
        teams (id) {
            id -> BigInt,
            #[references(people.id, on_delete = set_null)]
            lead_id -> Nullable<BigInt>,
        }
        people (id) {
            id -> BigInt,
            #[references(teams.id, on_delete = set_null)]
            team_id -> Nullable<BigInt>,
        }
    }
}

fn migration(
    n: usize,
    name: &str,
    sqlite: &workhub_migrations::scratch::Generated,
    postgres: Option<&workhub_migrations::scratch::Generated>,
) -> Migration {
    Migration::new(
        format!("2024-01-01-0000{n:02}_{name}"),
        format!("202401010000{n:02}"),
        name.to_string(),
        true,
        Scripts::new(sqlite.up.clone(), Some(sqlite.down.clone())),
        postgres.map(|pg| Scripts::new(pg.up.clone(), Some(pg.down.clone()))),
    )
}

/// The first migration, as `db create` writes it for `model` on an empty history: both dialects.
fn creating(model: &Schema, name: &str) -> Migration {
    let sqlite = generate(&Schema::default(), model, Dialect::Sqlite, name, &GENERATOR).unwrap();
    let postgres = generate(
        &Schema::default(),
        model,
        Dialect::Postgres,
        name,
        &GENERATOR,
    )
    .unwrap();
    migration(0, name, &sqlite, Some(&postgres))
}

#[test]
fn a_column_with_a_non_constant_default_is_added_to_a_table_with_rows() {
    // SQLite refuses ADD COLUMN ... DEFAULT CURRENT_TIMESTAMP once the table has rows, so the
    // generated migration must rebuild instead; an empty scratch database would not notice.
    let dir = tempfile::tempdir().unwrap();
    let first = generate(
        &Schema::default(),
        &s02::schema(),
        Dialect::Sqlite,
        "initial",
        &GENERATOR,
    )
    .unwrap();
    let initial = migration(0, "initial", &first, None);
    let current = scratch::built_by(std::slice::from_ref(&initial), &Target::Head).unwrap();
    let add = generate(
        &current,
        &with_archived_at::schema(),
        Dialect::Sqlite,
        "archived_at",
        &GENERATOR,
    )
    .unwrap();
    assert!(!add.up.contains("ADD COLUMN"), "{}", add.up);
    let migrations = vec![initial, migration(1, "archived_at", &add, None)];
    let mut db = Sqlite::open(&dir.path().join("app.db")).unwrap();
    let migrator = Migrator::new(&migrations);
    migrator
        .upgrade(&mut db, &Target::Forward(1), &mut Silent)
        .unwrap();
    db.execute("INSERT INTO authors (name) VALUES ('Ann'); INSERT INTO books (author_id, title) VALUES (1, 'x');")
        .unwrap();
    migrator
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    assert_schema(
        &mut db,
        &with_archived_at::schema(),
        "after adding archived_at",
    );
    assert_eq!(
        scalar(
            &mut db,
            "SELECT COUNT(*) FROM books WHERE archived_at IS NOT NULL"
        ),
        1
    );
}

#[test]
fn new_tables_that_reference_each_other_go_up_and_down_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = vec![creating(&cycle::schema(), "cycle")];
    let postgres = migrations[0].scripts(Dialect::Postgres);
    let migrator = Migrator::new(&migrations);
    let mut db = Sqlite::open(&dir.path().join("app.db")).unwrap();
    migrator
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    assert_schema(&mut db, &cycle::schema(), "cycle on SQLite");
    migrator
        .downgrade(&mut db, &Target::Base, &mut Silent)
        .unwrap();
    assert_schema(&mut db, &Schema::default(), "cycle reverted on SQLite");
    let Some(server) = workhub_migrations::testing::postgres_server(
        "new_tables_that_reference_each_other (PostgreSQL half)",
    ) else {
        return;
    };
    let database = TemporaryDatabase::create(&server, "test").unwrap();
    let mut pg = Postgres::open(database.url()).unwrap();
    migrator
        .upgrade(&mut pg, &Target::Head, &mut Silent)
        .unwrap_or_else(|e| panic!("{e}\n{}", postgres.up()));
    assert_postgres_schema(&mut pg, &cycle::schema(), "cycle");
    migrator
        .downgrade(&mut pg, &Target::Base, &mut Silent)
        .unwrap_or_else(|e| panic!("{e}\n{:?}", postgres.down()));
    assert_postgres_schema(&mut pg, &Schema::default(), "cycle reverted");
}

/// The MySQL half of the sequence: each step's `up.mysql.sql` applied, reverted and applied again on
/// a MySQL database beside the SQLite one, the rows of both compared value by value each time.
#[cfg(feature = "mysql")]
mod on_mysql {
    use diesel::sql_types::Text;
    use diesel::{Connection, MysqlConnection, QueryableByName, RunQueryDsl};
    use workhub_migrations::apply::{Mysql, Silent, Sqlite, TemporaryMysqlDatabase};
    use workhub_migrations::scratch::Generated;
    use workhub_migrations::{DatabaseUrl, Migrator, Target};
    use workhub_schema::{Schema, Table};

    use super::sequence::Step;

    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        t: String,
    }

    fn connect(database: &TemporaryMysqlDatabase) -> MysqlConnection {
        let DatabaseUrl::Mysql(raw) = database.url() else {
            unreachable!("a MySQL database")
        };
        MysqlConnection::establish(raw).unwrap()
    }

    /// The query reading every row of `table`, its columns as text joined by `|` in declaration
    /// order, in primary-key order, on MySQL or SQLite.
    fn rows_query(table: &Table, mysql: bool) -> String {
        let quote = |name: &str| {
            if mysql {
                format!("`{name}`")
            } else {
                format!("\"{name}\"")
            }
        };
        let text = if mysql { "CHAR" } else { "TEXT" };
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("COALESCE(CAST({} AS {text}), 'NULL')", quote(&c.name)))
            .collect();
        let joined = if mysql {
            format!("CONCAT_WS('|', {})", columns.join(", "))
        } else {
            columns.join(" || '|' || ")
        };
        let order: Vec<String> = table.primary_key.iter().map(|c| quote(c)).collect();
        format!(
            "SELECT {joined} AS t FROM {} ORDER BY {}",
            quote(&table.name),
            order.join(", ")
        )
    }

    /// Every row of every table of `schema` ([`rows_query`]): `(table, rows)`.
    fn rows_sqlite(db: &mut Sqlite, schema: &Schema) -> Vec<(String, Vec<String>)> {
        schema
            .tables
            .iter()
            .map(|t| {
                let sql = rows_query(t, false);
                let rows: Vec<Row> = diesel::sql_query(&sql)
                    .load(db.connection().unwrap())
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                (t.name.clone(), rows.into_iter().map(|r| r.t).collect())
            })
            .collect()
    }

    fn rows_mysql(
        database: &TemporaryMysqlDatabase,
        schema: &Schema,
    ) -> Vec<(String, Vec<String>)> {
        let mut conn = connect(database);
        schema
            .tables
            .iter()
            .map(|t| {
                let sql = rows_query(t, true);
                let rows: Vec<Row> = diesel::sql_query(&sql)
                    .load(&mut conn)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                (t.name.clone(), rows.into_iter().map(|r| r.t).collect())
            })
            .collect()
    }

    fn scalar(database: &TemporaryMysqlDatabase, query: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Number {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sql = format!("SELECT CAST(({query}) AS SIGNED) AS n");
        let rows: Vec<Number> = diesel::sql_query(&sql)
            .load(&mut connect(database))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows[0].n
    }

    /// Asserts MySQL holds exactly SQLite's rows: the same migrations and the same inserts ran on
    /// both, so every value must agree (the SQLite half asserts its rows are the ones kept).
    fn assert_same_rows(
        database: &TemporaryMysqlDatabase,
        sqlite: &mut Sqlite,
        schema: &Schema,
        context: &str,
    ) {
        let expected = rows_sqlite(sqlite, schema);
        assert_eq!(
            rows_mysql(database, schema),
            expected,
            "{context} (MySQL): rows"
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub fn step(
        database: &TemporaryMysqlDatabase,
        migrator: &Migrator,
        sqlite: &mut Sqlite,
        previous: &Schema,
        model: &Schema,
        step: &Step,
        context: &str,
        mysql: &Generated,
    ) {
        let mut db = Mysql::open(database.url()).unwrap();
        migrator
            .upgrade(&mut db, &Target::Head, &mut Silent)
            .unwrap_or_else(|e| panic!("{context}: MySQL upgrade failed: {e}\n{}", mysql.up));
        assert_same_rows(database, sqlite, model, context);
        // SQLite's own checks read its catalog (pragma_...); MySQL's read information_schema.
        for (query, expected) in step.checks.iter().filter(|(q, _)| !q.contains("pragma")) {
            assert_eq!(
                scalar(database, query),
                *expected,
                "{context} (MySQL): {query}"
            );
        }
        for (query, expected) in step.mysql_checks {
            assert_eq!(
                scalar(database, query),
                *expected,
                "{context} (MySQL): {query}"
            );
        }
        migrator
            .downgrade(&mut db, &Target::Back(1), &mut Silent)
            .unwrap_or_else(|e| panic!("{context}: MySQL downgrade failed: {e}\n{}", mysql.down));
        migrator
            .downgrade(sqlite, &Target::Back(1), &mut Silent)
            .unwrap();
        assert_same_rows(database, sqlite, previous, &format!("{context}, reverted"));
        migrator
            .upgrade(&mut db, &Target::Head, &mut Silent)
            .unwrap_or_else(|e| panic!("{context}: MySQL upgrade again failed: {e}\n{}", mysql.up));
        migrator
            .upgrade(sqlite, &Target::Head, &mut Silent)
            .unwrap();
        for (query, expected) in step.mysql_checks {
            assert_eq!(
                scalar(database, query),
                *expected,
                "{context}, reapplied (MySQL): {query}"
            );
        }
        assert_same_rows(database, sqlite, model, &format!("{context}, reapplied"));
        // The caller runs it on SQLite.
        if !step.then.is_empty() {
            diesel::connection::SimpleConnection::batch_execute(&mut connect(database), step.then)
                .unwrap();
        }
    }
}

/// Defaults that look like another kind than their column's: a number on a text column, a quoted
/// number on a numeric one. Each database keeps them in its column's kind (PostgreSQL reads back
/// `'0'::text` and `5`), and the models compare equal to what it keeps.
#[test]
fn a_default_that_looks_like_another_kind_compares_as_its_columns() {
    use workhub_schema::{Column, ColumnType, Table};
    let mut table = Table::new("codes");
    table.primary_key = vec!["id".into()];
    table
        .columns
        .push(Column::new("id", ColumnType::BigInt, false));
    for (name, ty, default) in [
        ("code", ColumnType::Text, "0"),
        ("label", ColumnType::Varchar(10), "1.5"),
        ("n", ColumnType::Integer, "'5'"),
        ("ratio", ColumnType::Double, "'0.25'"),
    ] {
        let mut column = Column::new(name, ty, false);
        column.default = Some(default.into());
        table.columns.push(column);
    }
    let model = Schema::new(vec![table]);
    let dir = tempfile::tempdir().unwrap();
    let migrations = vec![creating(&model, "codes")];
    let postgres = migrations[0].scripts(Dialect::Postgres);
    let migrator = Migrator::new(&migrations);
    let mut db = Sqlite::open(&dir.path().join("app.db")).unwrap();
    migrator
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    assert_schema(&mut db, &model, "codes on SQLite");
    let Some(server) = workhub_migrations::testing::postgres_server(
        "a_default_that_looks_like_another_kind_compares_as_its_columns (PostgreSQL half)",
    ) else {
        return;
    };
    let database = TemporaryDatabase::create(&server, "test").unwrap();
    let mut pg = Postgres::open(database.url()).unwrap();
    migrator
        .upgrade(&mut pg, &Target::Head, &mut Silent)
        .unwrap_or_else(|e| panic!("{e}\n{}", postgres.up()));
    assert_postgres_schema(&mut pg, &model, "codes");
    // A default that really differs is still a difference.
    let mut changed = model.clone();
    changed.tables[0].columns[1].default = Some("1".into());
    let actual = scratch::read_postgres(&mut pg).unwrap();
    assert_eq!(
        diff(&actual, &render::for_dialect(&changed, Dialect::Postgres)).len(),
        1
    );
}
