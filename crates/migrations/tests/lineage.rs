//! Team-safe history: two branches generate migrations from one parent and are merged. The merge is
//! refused before any database is touched, the rebase re-creates the later branch on top of the
//! other, and afterwards every row and column is kept on SQLite and PostgreSQL. A migration run
//! without the rebase (lineage bypassed, or another runner) fails inside its own SQL with nothing
//! changed.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use workhub_migrations::apply::{Postgres, Silent, Sqlite, TemporaryDatabase};
use workhub_migrations::rebase::{migration_of, rebase, RebaseError};
use workhub_migrations::source::lineage;
use workhub_migrations::{assumed, draft, scratch};
use workhub_migrations::{Dialect, MigrateError, Migration, Migrator, Target};
use workhub_schema::render::{self, Generator};
use workhub_schema::{diff, Schema};
/// The names the tests' generated SQL gives its generator.
const GENERATOR: Generator<'static> = Generator {
    name: "workhub",
    create: "workhub db create",
    upgrade: "workhub db upgrade",
};

mod parent {
    workhub_schema::tables! {
        projects (id) { id -> BigInt, #[max_length = 100] name -> Text, }
        tasks (id) {
            id -> BigInt,
            #[references(projects.id, on_delete = cascade)]
            project_id -> BigInt,
            #[max_length = 200]
            title -> Text,
        }
    }
}
mod color {
    workhub_schema::tables! {
        projects (id) { id -> BigInt, #[max_length = 100] name -> Text, }
        tasks (id) {
            id -> BigInt,
            #[references(projects.id, on_delete = cascade)]
            project_id -> BigInt,
            #[max_length = 200]
            title -> Text,
            color -> Nullable<Text>,
        }
    }
}
mod wide_title {
    workhub_schema::tables! {
        projects (id) { id -> BigInt, #[max_length = 100] name -> Text, }
        tasks (id) {
            id -> BigInt,
            #[references(projects.id, on_delete = cascade)]
            project_id -> BigInt,
            #[max_length = 300]
            title -> Text,
        }
    }
}
mod color_and_wide_title {
    workhub_schema::tables! {
        projects (id) { id -> BigInt, #[max_length = 100] name -> Text, }
        tasks (id) {
            id -> BigInt,
            #[references(projects.id, on_delete = cascade)]
            project_id -> BigInt,
            #[max_length = 300]
            title -> Text,
            color -> Nullable<Text>,
        }
    }
}
mod wide_name {
    workhub_schema::tables! {
        projects (id) { id -> BigInt, #[max_length = 300] name -> Text, }
        tasks (id) {
            id -> BigInt,
            #[references(projects.id, on_delete = cascade)]
            project_id -> BigInt,
            #[max_length = 200]
            title -> Text,
        }
    }
}
mod color_and_wide_name {
    workhub_schema::tables! {
        projects (id) { id -> BigInt, #[max_length = 300] name -> Text, }
        tasks (id) {
            id -> BigInt,
            #[references(projects.id, on_delete = cascade)]
            project_id -> BigInt,
            #[max_length = 200]
            title -> Text,
            color -> Nullable<Text>,
        }
    }
}

const INITIAL: &str = "2024-01-01-000000_initial";
const ADD_COLOR: &str = "2024-01-02-000000_add_color";
const WIDEN: &str = "2024-01-03-000000_widen";

/// The folder a rebase re-creates `migration` in (after every migration of these tests).
fn later(migration: &Migration, _newest: &str) -> String {
    format!("2024-02-01-000000_{}", migration.name())
}

/// The migration `db create` would write after `history` for `models`.
fn create(history: &[Migration], models: &Schema, folder: &str) -> Migration {
    let current = scratch::built_by(history, &Target::Head).unwrap();
    let parent = history.last().map(Migration::folder);
    let draft = draft::generated(folder, parent, &current, models, &GENERATOR).expect("a change");
    migration_of(&draft).unwrap()
}

/// The migration `db create --empty` would write, filled in with `sql` (portable).
fn hand_written(history: &[Migration], folder: &str, up: &str, down: &str) -> Migration {
    let current = scratch::built_by(history, &Target::Head).unwrap();
    let parent = history.last().map(Migration::folder);
    let draft = draft::hand_written(
        folder,
        parent,
        &current,
        vec![("up.sql", up.to_string()), ("down.sql", down.to_string())],
    );
    migration_of(&draft).unwrap()
}

/// A scenario: one parent, branch `a`'s migration (applied to a database with data), branch `b`'s
/// generated from the same parent and merged after it.
struct Branches {
    initial: Migration,
    a: Migration,
    b: Migration,
    merged_models: Schema,
}

impl Branches {
    fn merged(&self) -> Vec<Migration> {
        vec![self.initial.clone(), self.a.clone(), self.b.clone()]
    }
}

fn color_then_wide_title() -> Branches {
    let initial = create(&[], &parent::schema(), INITIAL);
    let a = create(std::slice::from_ref(&initial), &color::schema(), ADD_COLOR);
    let b = create(std::slice::from_ref(&initial), &wide_title::schema(), WIDEN);
    Branches {
        initial,
        a,
        b,
        merged_models: color_and_wide_title::schema(),
    }
}

#[derive(QueryableByName, Debug, PartialEq, Eq, Clone)]
struct TaskRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Text>)]
    color: Option<String>,
}

const SEED: &str = "INSERT INTO projects (id, name) VALUES (1, 'workhub');\n\
    INSERT INTO tasks (id, project_id, title, color) VALUES (1, 1, 'paint', 'red'), (2, 1, 'sand', 'blue'), (3, 1, 'wait', NULL);";

fn seeded_rows() -> Vec<TaskRow> {
    [
        (1, "paint", Some("red")),
        (2, "sand", Some("blue")),
        (3, "wait", None),
    ]
    .into_iter()
    .map(|(id, title, color)| TaskRow {
        id,
        title: title.into(),
        color: color.map(str::to_string),
    })
    .collect()
}

const TASKS: &str = "SELECT id, title, color FROM tasks ORDER BY id";

/// Everything a migration could change on SQLite: the schema's SQL, the history, and the tasks.
fn sqlite_state(path: &std::path::Path) -> (Vec<String>, i64, Vec<TaskRow>) {
    sqlite_state_with(path, TASKS)
}

fn sqlite_state_with(path: &std::path::Path, rows: &str) -> (Vec<String>, i64, Vec<TaskRow>) {
    #[derive(QueryableByName)]
    struct Sql {
        #[diesel(sql_type = Text)]
        sql: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    let schema = diesel::sql_query(
        "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') AS sql FROM sqlite_master ORDER BY type, name",
    )
    .load::<Sql>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|r| r.sql)
    .collect();
    let history = diesel::sql_query("SELECT COUNT(*) AS n FROM __diesel_schema_migrations")
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n;
    let rows = diesel::sql_query(rows).load(&mut conn).unwrap();
    (schema, history, rows)
}

fn assert_matches_models(schema: &Schema, models: &Schema, dialect: Dialect, what: &str) {
    let changes = diff(
        &render::for_dialect(schema, dialect),
        &render::for_dialect(models, dialect),
    );
    assert!(
        changes.is_empty(),
        "{what}: differs from the models: {changes:#?}"
    );
}

/// The merge is caught on SQLite before anything runs; the pre-merge migration, let through, fails
/// in its own SQL naming the column it would lose; the rebase resolves it and keeps every value.
fn replay_on_sqlite(branches: &Branches, lost: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let applied = vec![branches.initial.clone(), branches.a.clone()];
    let mut db = Sqlite::open(&path).unwrap();
    Migrator::new(&applied)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    drop(db);
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute(SEED).unwrap();
    drop(conn);
    let before = sqlite_state(&path);

    // Caught before anything runs: the divergence names both migrations and their parent.
    let merged = branches.merged();
    let mut db = Sqlite::open(&path).unwrap();
    let err = Migrator::new(&merged)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap_err();
    let MigrateError::Diverged { divergences } = &err else {
        panic!("expected a divergence, got {err}");
    };
    assert_eq!(divergences.len(), 1);
    let d = &divergences[0];
    assert_eq!(
        (d.migration.as_str(), d.parent.as_deref(), d.others.clone()),
        (
            branches.b.folder(),
            Some(INITIAL),
            vec![branches.a.folder().to_string()]
        )
    );
    let message = err.to_string();
    for needle in [branches.a.folder(), branches.b.folder(), INITIAL] {
        assert!(message.contains(needle), "{message}");
    }
    assert_eq!(sqlite_state(&path), before, "a refusal changes nothing");

    // Let through (the lineage check bypassed), its own SQL refuses to drop what it does not know.
    let mut bypass = Migrator::new(&merged);
    bypass.allow_diverged = true;
    match bypass.upgrade(&mut db, &Target::Head, &mut Silent) {
        Err(MigrateError::Statement { cause, .. }) => {
            let message = cause.to_string();
            let lost = lost.expect("only a rebuild that would lose a column fails");
            assert!(
                message.contains(&format!("would lose columns: {lost}"))
                    && message
                        .contains("delete this migration folder and `workhub db create` it again"),
                "{message}"
            );
            assert_eq!(
                sqlite_state(&path),
                before,
                "the guard fails before any change"
            );
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => {
            assert!(lost.is_none(), "the guard let a rebuild lose {lost:?}");
            // Nothing lost: revert it so the rebased history applies on the same database.
            bypass
                .downgrade(&mut db, &Target::Back(1), &mut Silent)
                .unwrap();
            assert_eq!(sqlite_state(&path).2, before.2);
        }
    }

    // The rebase re-creates the later migration on top of the other branch's.
    let rebased = rebase(
        &merged,
        &branches.merged_models,
        branches.a.folder(),
        &GENERATOR,
        later,
    )
    .unwrap()
    .expect("something to rebase");
    assert!(rebased.uncaptured.is_empty(), "{:#?}", rebased.uncaptured);
    assert_eq!(rebased.onto.as_deref(), Some(branches.a.folder()));
    let mut history = vec![branches.initial.clone(), branches.a.clone()];
    history.extend(
        rebased
            .migrations
            .iter()
            .map(|r| migration_of(&r.draft).unwrap()),
    );
    assert_eq!(
        (history[2].folder(), rebased.migrations[0].from.as_str()),
        (
            format!("2024-02-01-000000_{}", branches.b.name()).as_str(),
            branches.b.folder()
        ),
        "re-created in a new folder after the kept ones"
    );
    assert!(lineage::divergences(&history).is_empty());
    Migrator::new(&history)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    let after = sqlite_state(&path);
    assert_eq!(after.1, 3);
    assert_eq!(after.2, seeded_rows(), "every row and value kept");
    assert_matches_models(
        &scratch::read(&mut db).unwrap(),
        &branches.merged_models,
        Dialect::Sqlite,
        "the rebased database",
    );
    assert!(scratch::uncaptured(&history, &branches.merged_models)
        .unwrap()
        .is_empty());
}

#[test]
fn branches_changing_the_same_table_are_refused_then_rebased_on_sqlite() {
    replay_on_sqlite(&color_then_wide_title(), Some("color"));
}

#[test]
fn branches_changing_different_tables_are_refused_then_rebased_on_sqlite() {
    let initial = create(&[], &parent::schema(), INITIAL);
    let branches = Branches {
        a: create(std::slice::from_ref(&initial), &color::schema(), ADD_COLOR),
        b: create(std::slice::from_ref(&initial), &wide_name::schema(), WIDEN),
        initial,
        merged_models: color_and_wide_name::schema(),
    };
    let d = &lineage::divergences(&branches.merged())[0];
    assert!(d.shared_tables.is_empty(), "{d}");
    replay_on_sqlite(&branches, None);
}

#[test]
fn a_hand_written_migration_on_one_branch_is_refused_then_rebased_on_sqlite() {
    let initial = create(&[], &parent::schema(), INITIAL);
    let branches = Branches {
        a: hand_written(
            std::slice::from_ref(&initial),
            ADD_COLOR,
            "ALTER TABLE tasks ADD COLUMN color TEXT;\n",
            "ALTER TABLE tasks DROP COLUMN color;\n",
        ),
        b: create(std::slice::from_ref(&initial), &wide_title::schema(), WIDEN),
        initial,
        merged_models: color_and_wide_title::schema(),
    };
    let d = &lineage::divergences(&branches.merged())[0];
    assert_eq!(d.shared_tables, vec!["tasks".to_string()], "{d}");
    replay_on_sqlite(&branches, Some("color"));
}

#[test]
fn a_hand_written_migration_on_the_later_branch_keeps_its_sql() {
    let initial = create(&[], &parent::schema(), INITIAL);
    let a = create(std::slice::from_ref(&initial), &color::schema(), ADD_COLOR);
    let b = hand_written(
        std::slice::from_ref(&initial),
        WIDEN,
        "UPDATE tasks SET title = trim(title);\n",
        "SELECT 1;\n",
    );
    let merged = vec![initial, a, b.clone()];
    assert_eq!(
        lineage::divergences(&merged)[0].shared_tables,
        vec!["tasks".to_string()]
    );
    let rebased = rebase(&merged, &color::schema(), ADD_COLOR, &GENERATOR, later)
        .unwrap()
        .unwrap();
    let only = &rebased.migrations[0];
    assert!(only.hand_written && !only.sql_changed);
    let again = migration_of(&only.draft).unwrap();
    assert_eq!(again.scripts(Dialect::Sqlite), b.scripts(Dialect::Sqlite));
    assert_eq!(
        again.lineage().unwrap().parent(),
        Some(ADD_COLOR),
        "its lineage now follows the other branch"
    );
}

#[test]
fn a_migration_whose_parent_changed_after_it_was_generated_is_stale() {
    let branches = color_then_wide_title();
    let fresh = vec![branches.initial.clone(), branches.a.clone()];
    let on_top = create(&fresh, &color_and_wide_title::schema(), WIDEN);
    let history = vec![branches.initial.clone(), branches.a.clone(), on_top.clone()];
    assert_eq!(assumed::stale(&history).unwrap(), None);
    // add_color edited after the rebuild was generated on top of it: the rebuild no longer fits.
    let edited = hand_written(
        std::slice::from_ref(&branches.initial),
        ADD_COLOR,
        "ALTER TABLE tasks ADD COLUMN colour TEXT;\n",
        "ALTER TABLE tasks DROP COLUMN colour;\n",
    );
    let stale = assumed::stale(&[branches.initial, edited, on_top]).unwrap();
    assert_eq!(
        stale,
        Some(assumed::Stale {
            migration: WIDEN.into(),
            parent: Some(ADD_COLOR.into())
        })
    );
}

#[test]
fn a_merged_in_migration_that_sorts_before_the_applied_one_is_refused() {
    // Main deployed add_color (the newer timestamp); the branch merged in is older, so the
    // divergence is reported at add_color and the pending widen sorts before it.
    let initial = create(&[], &parent::schema(), INITIAL);
    let older = "2024-01-01-120000_widen";
    let b = create(std::slice::from_ref(&initial), &wide_title::schema(), older);
    let a = create(std::slice::from_ref(&initial), &color::schema(), ADD_COLOR);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut db = Sqlite::open(&path).unwrap();
    Migrator::new(&[initial.clone(), a.clone()])
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    drop(db);
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute(SEED).unwrap();
    drop(conn);
    let before = sqlite_state(&path);
    let merged = vec![initial, b, a];
    let mut db = Sqlite::open(&path).unwrap();
    let mut migrator = Migrator::new(&merged);
    migrator.allow_out_of_order = true;
    let err = migrator
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap_err();
    let MigrateError::Diverged { divergences } = &err else {
        panic!("expected a divergence, got {err}");
    };
    assert_eq!(divergences[0].migration, ADD_COLOR);
    assert_eq!(divergences[0].others, vec![older.to_string()]);
    assert_eq!(sqlite_state(&path), before, "a refusal changes nothing");
}

#[test]
fn a_generated_migration_edited_by_hand_keeps_its_edit_through_a_rebase() {
    mod with_note {
        workhub_schema::tables! {
            projects (id) { id -> BigInt, #[max_length = 100] name -> Text, }
            tasks (id) { id -> BigInt, project_id -> BigInt, title -> Text, note -> Nullable<Text>, }
        }
    }
    mod note_and_color {
        workhub_schema::tables! {
            projects (id) { id -> BigInt, #[max_length = 100] name -> Text, }
            tasks (id) {
                id -> BigInt, project_id -> BigInt, title -> Text, note -> Nullable<Text>,
                color -> Nullable<Text>,
            }
        }
    }
    mod memo {
        workhub_schema::tables! {
            projects (id) { id -> BigInt, #[max_length = 100] name -> Text, }
            tasks (id) { id -> BigInt, project_id -> BigInt, title -> Text, memo -> Nullable<Text>, }
        }
    }
    mod memo_and_color {
        workhub_schema::tables! {
            projects (id) { id -> BigInt, #[max_length = 100] name -> Text, }
            tasks (id) {
                id -> BigInt, project_id -> BigInt, title -> Text, memo -> Nullable<Text>,
                color -> Nullable<Text>,
            }
        }
    }
    let initial = create(&[], &with_note::schema(), INITIAL);
    let a = create(
        std::slice::from_ref(&initial),
        &note_and_color::schema(),
        ADD_COLOR,
    );
    // Branch b renamed note to memo; the generated DROP + ADD was replaced by the RENAME, as the
    // README tells users to.
    let current = scratch::built_by(std::slice::from_ref(&initial), &Target::Head).unwrap();
    let mut generated =
        draft::generated(WIDEN, Some(INITIAL), &current, &memo::schema(), &GENERATOR).unwrap();
    for (name, text) in &mut generated.files {
        match *name {
            "up.sql" | "up.postgres.sql" => {
                *text = "ALTER TABLE tasks RENAME COLUMN note TO memo;\n".into()
            }
            "down.sql" | "down.postgres.sql" => {
                *text = "ALTER TABLE tasks RENAME COLUMN memo TO note;\n".into()
            }
            _ => {}
        }
    }
    let b = migration_of(&generated).unwrap();
    let merged = vec![initial.clone(), a.clone(), b.clone()];
    let rebased = rebase(
        &merged,
        &memo_and_color::schema(),
        ADD_COLOR,
        &GENERATOR,
        later,
    )
    .unwrap()
    .unwrap();
    let only = &rebased.migrations[0];
    assert!(
        only.edited && only.hand_written && !only.sql_changed,
        "{only:?}"
    );
    let again = migration_of(&only.draft).unwrap();
    assert_eq!(again.scripts(Dialect::Sqlite), b.scripts(Dialect::Sqlite));
    assert_eq!(
        again.scripts(Dialect::Postgres),
        b.scripts(Dialect::Postgres)
    );
    assert!(!again.scripts(Dialect::Sqlite).up().contains("DROP COLUMN"));
    assert_eq!(again.lineage().unwrap().parent(), Some(ADD_COLOR));

    // Values survive on a database that ran the other branch.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut db = Sqlite::open(&path).unwrap();
    Migrator::new(&[initial.clone(), a.clone()])
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute(
        "INSERT INTO projects (id, name) VALUES (1, 'p');\n\
         INSERT INTO tasks (id, project_id, title, note) VALUES (1, 1, 't', 'keep me');",
    )
    .unwrap();
    Migrator::new(&[initial, a, again])
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    #[derive(QueryableByName)]
    struct Memo {
        #[diesel(sql_type = Nullable<Text>)]
        memo: Option<String>,
    }
    let memos: Vec<Memo> = diesel::sql_query("SELECT memo FROM tasks")
        .load(&mut conn)
        .unwrap();
    assert_eq!(memos[0].memo.as_deref(), Some("keep me"));
}

#[test]
fn a_rebase_re_creates_the_merged_in_branch_even_when_it_is_older() {
    let initial = create(&[], &parent::schema(), INITIAL);
    let older = "2024-01-01-120000_widen";
    let theirs = create(std::slice::from_ref(&initial), &wide_title::schema(), older);
    let ours = create(std::slice::from_ref(&initial), &color::schema(), ADD_COLOR);
    let merged = vec![initial.clone(), theirs.clone(), ours.clone()];
    let rebased = rebase(
        &merged,
        &color_and_wide_title::schema(),
        ADD_COLOR,
        &GENERATOR,
        later,
    )
    .unwrap()
    .unwrap();
    assert_eq!(rebased.onto.as_deref(), Some(ADD_COLOR));
    let froms: Vec<&str> = rebased.migrations.iter().map(|r| r.from.as_str()).collect();
    assert_eq!(
        froms,
        vec![older],
        "only the merged-in branch is re-created"
    );
    let recreated = migration_of(&rebased.migrations[0].draft).unwrap();
    assert!(
        recreated.version() > ours.version(),
        "it sorts after the kept one"
    );
    let history = vec![initial.clone(), ours.clone(), recreated];
    assert!(lineage::divergences(&history).is_empty());

    // The deployed database (initial and add_color, with data) applies it without loss.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut db = Sqlite::open(&path).unwrap();
    Migrator::new(&[initial, ours])
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute(SEED).unwrap();
    drop(conn);
    Migrator::new(&history)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    assert_eq!(
        sqlite_state(&path).2,
        seeded_rows(),
        "every row and value kept"
    );

    // Naming a migration that is not in the history refuses.
    assert!(matches!(
        rebase(
            &merged,
            &color_and_wide_title::schema(),
            "nope",
            &GENERATOR,
            later
        ),
        Err(RebaseError::UnknownOnto { .. })
    ));
}

#[test]
fn a_rebuild_fails_before_it_drops_an_index_or_trigger_another_branch_added() {
    let initial = create(&[], &parent::schema(), INITIAL);
    let a = hand_written(
        std::slice::from_ref(&initial),
        ADD_COLOR,
        "CREATE UNIQUE INDEX tasks_title_key ON tasks (title);\n\
         CREATE TRIGGER \"tasks_touch\" AFTER UPDATE ON tasks BEGIN SELECT 1; END;\n",
        "DROP TRIGGER tasks_touch;\nDROP INDEX tasks_title_key;\n",
    );
    let b = create(std::slice::from_ref(&initial), &wide_title::schema(), WIDEN);
    assert!(
        b.scripts(Dialect::Sqlite).up().contains("DROP TABLE"),
        "a rebuild"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut db = Sqlite::open(&path).unwrap();
    Migrator::new(&[initial.clone(), a.clone()])
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    drop(db);
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute("INSERT INTO projects (id, name) VALUES (1, 'p'); INSERT INTO tasks (id, project_id, title) VALUES (1, 1, 't');")
        .unwrap();
    drop(conn);
    let objects = |path: &std::path::Path| -> Vec<String> {
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        diesel::sql_query("SELECT type || ' ' || name AS name FROM sqlite_master ORDER BY name")
            .load::<Name>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect()
    };
    let before = objects(&path);
    let mut db = Sqlite::open(&path).unwrap();
    let merged = vec![initial.clone(), a, b];
    let mut bypass = Migrator::new(&merged);
    bypass.allow_diverged = true;
    let err = bypass
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap_err();
    let MigrateError::Statement { cause, .. } = &err else {
        panic!("expected the guard, got {err}");
    };
    let message = &cause.to_string();
    assert!(
        message.contains("rebuilding tasks would lose ")
            && message.contains("index tasks_title_key")
            && message.contains("trigger tasks_touch"),
        "{message}"
    );
    drop(db);
    assert_eq!(objects(&path), before, "nothing changed");

    // Without the other branch, the same rebuild passes its guards.
    let plain = dir.path().join("plain.db");
    let mut db = Sqlite::open(&plain).unwrap();
    Migrator::new(&[initial.clone(), merged[2].clone()])
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
}

#[test]
fn an_unknown_schema_digest_is_never_called_stale() {
    let initial = create(&[], &parent::schema(), INITIAL);
    let with = |schema: &str| {
        let lineage = lineage::Lineage::new(Some(INITIAL.into()), schema.into(), true, Vec::new());
        let draft = draft::Draft {
            folder: ADD_COLOR.into(),
            changes: Vec::new(),
            files: vec![
                ("up.sql", "SELECT 1;\n".into()),
                (lineage::LINEAGE_FILE, lineage.to_toml()),
            ],
            lineage,
            notes: Vec::new(),
        };
        vec![initial.clone(), migration_of(&draft).unwrap()]
    };
    assert!(assumed::stale(&with("0000")).unwrap().is_some());
    assert_eq!(
        assumed::stale(&with(lineage::UNKNOWN_SCHEMA)).unwrap(),
        None
    );
}

#[test]
fn a_cherry_picked_migration_whose_parent_is_missing_follows_the_history_it_fits() {
    // On main: initial, then y, then the hotfix x written after y. The release branch has initial
    // and x alone (cherry-picked).
    let initial = create(&[], &parent::schema(), INITIAL);
    let hotfix = |y: Migration| {
        let main = vec![initial.clone(), y];
        let x = create(&main, &color::schema(), WIDEN);
        let release = vec![initial.clone(), x.clone()];
        assert!(lineage::divergences(&release)[0].parent_missing);
        (x, release)
    };
    // y changed nothing x relies on: x's recorded schema is what initial builds, so it is accepted.
    let no_op = hand_written(
        std::slice::from_ref(&initial),
        ADD_COLOR,
        "SELECT 1;\n",
        "SELECT 1;\n",
    );
    let (x, release) = hotfix(no_op);
    let rebased = rebase(&release, &color::schema(), "", &GENERATOR, later)
        .unwrap()
        .unwrap();
    let only = &rebased.migrations[0];
    assert_eq!(
        (only.from.as_str(), only.draft.folder.as_str()),
        (WIDEN, WIDEN)
    );
    let again = migration_of(&only.draft).unwrap();
    assert_eq!(again.scripts(Dialect::Sqlite), x.scripts(Dialect::Sqlite));
    assert_eq!(again.lineage().unwrap().parent(), Some(INITIAL));
    assert!(lineage::divergences(&[initial.clone(), again]).is_empty());

    // y changed the schema: refused, saying which parent to write if it fits after all.
    let widened = create(
        std::slice::from_ref(&initial),
        &wide_title::schema(),
        ADD_COLOR,
    );
    let (_, release) = hotfix(widened);
    let err = rebase(&release, &color::schema(), "", &GENERATOR, later).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "write `parent = \"{INITIAL}\"` in its lineage.toml"
        )),
        "{err}"
    );
}

#[test]
fn a_rebase_that_cannot_decide_refuses() {
    mod text_title {
        workhub_schema::tables! {
            projects (id) { id -> BigInt, #[max_length = 100] name -> Text, }
            tasks (id) {
                id -> BigInt,
                #[references(projects.id, on_delete = cascade)]
                project_id -> BigInt,
                title -> Text,
            }
        }
    }
    let initial = create(&[], &parent::schema(), INITIAL);
    let a = create(
        std::slice::from_ref(&initial),
        &text_title::schema(),
        ADD_COLOR,
    );
    let b = create(std::slice::from_ref(&initial), &wide_title::schema(), WIDEN);
    let err = rebase(
        &[initial, a, b],
        &wide_title::schema(),
        ADD_COLOR,
        &GENERATOR,
        later,
    )
    .unwrap_err();
    assert!(
        matches!(&err, RebaseError::Conflicts { migration, conflicts }
            if migration == WIDEN && conflicts == &["column tasks.title: changed on both branches, differently"]),
        "{err}"
    );
}

#[test]
fn a_rebuild_run_with_foreign_keys_on_fails_before_it_deletes_children() {
    // diesel_cli runs migrations on a connection with foreign keys on, in a transaction.
    let initial = create(&[], &parent::schema(), INITIAL);
    let widen_name = create(std::slice::from_ref(&initial), &wide_name::schema(), WIDEN);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut db = Sqlite::open(&path).unwrap();
    Migrator::new(&[initial])
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    drop(db);
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute(
        "INSERT INTO projects (id, name) VALUES (1, 'p'); INSERT INTO tasks (id, project_id, title) VALUES (1, 1, 't');",
    )
    .unwrap();
    const ROWS: &str = "SELECT id, title, NULL AS color FROM tasks ORDER BY id";
    let before = sqlite_state_with(&path, ROWS);
    assert_eq!(before.2.len(), 1);
    conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
    let up = widen_name.scripts(Dialect::Sqlite).up().to_string();
    let err = conn
        .transaction(|conn| conn.batch_execute(&up))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("needs foreign keys off") && err.contains("workhub db upgrade"),
        "{err}"
    );
    drop(conn);
    assert_eq!(
        sqlite_state_with(&path, ROWS),
        before,
        "no child row deleted, nothing changed"
    );
}

fn postgres() -> Option<TemporaryDatabase> {
    let server = workhub_migrations::testing::postgres_server("lineage on PostgreSQL")?;
    Some(TemporaryDatabase::create(&server, "lineage").unwrap())
}

fn postgres_rows(db: &mut Postgres) -> Vec<TaskRow> {
    diesel::sql_query(TASKS).load(db.connection()).unwrap()
}

#[test]
fn the_merge_is_refused_then_rebased_on_postgres_to_the_same_schema() {
    let Some(database) = postgres() else { return };
    let branches = color_then_wide_title();
    let mut db = Postgres::open(database.url()).unwrap();
    let applied = vec![branches.initial.clone(), branches.a.clone()];
    Migrator::new(&applied)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    db.connection().batch_execute(SEED).unwrap();
    let schema_before = scratch::read_postgres(&mut db).unwrap();

    let merged = branches.merged();
    let err = Migrator::new(&merged)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap_err();
    assert!(matches!(err, MigrateError::Diverged { .. }), "{err}");
    assert_eq!(scratch::read_postgres(&mut db).unwrap(), schema_before);
    assert_eq!(postgres_rows(&mut db), seeded_rows());

    let rebased = rebase(
        &merged,
        &branches.merged_models,
        branches.a.folder(),
        &GENERATOR,
        later,
    )
    .unwrap()
    .unwrap();
    let mut history = applied.clone();
    history.extend(
        rebased
            .migrations
            .iter()
            .map(|r| migration_of(&r.draft).unwrap()),
    );
    Migrator::new(&history)
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    assert_eq!(postgres_rows(&mut db), seeded_rows());
    let on_postgres = scratch::read_postgres(&mut db).unwrap();
    assert_matches_models(
        &on_postgres,
        &branches.merged_models,
        Dialect::Postgres,
        "PostgreSQL",
    );
    // SQLite builds the same schema from the same rebased history.
    let on_sqlite = scratch::built_by(&history, &Target::Head).unwrap();
    assert_matches_models(
        &on_sqlite,
        &branches.merged_models,
        Dialect::Sqlite,
        "SQLite",
    );
}

#[test]
fn sqlite_sql_run_by_postgres_fails_at_its_first_statement() {
    let Some(database) = postgres() else { return };
    let branches = color_then_wide_title();
    let mut db = Postgres::open(database.url()).unwrap();
    Migrator::new(std::slice::from_ref(&branches.initial))
        .upgrade(&mut db, &Target::Head, &mut Silent)
        .unwrap();
    let before = scratch::read_postgres(&mut db).unwrap();
    // What diesel_cli does on PostgreSQL: it knows nothing of up.postgres.sql and runs up.sql.
    for (sql, file) in [
        (branches.b.scripts(Dialect::Sqlite).up(), "up.postgres.sql"),
        (branches.a.scripts(Dialect::Sqlite).up(), "up.postgres.sql"),
        (
            branches.initial.scripts(Dialect::Sqlite).down().unwrap(),
            "down.postgres.sql",
        ),
    ] {
        let err = db
            .connection()
            .transaction(|conn| conn.batch_execute(sql))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("run {file} instead")) && err.contains("workhub db upgrade"),
            "{err}"
        );
        assert_eq!(scratch::read_postgres(&mut db).unwrap(), before);
    }
}

/// A branch whose migration came with a companion run outside a transaction (PostgreSQL's online
/// form) is not re-created one folder at a time: the rebase refuses, naming the companion and the
/// migration it completes, and the way out.
#[test]
fn a_rebase_over_an_online_companion_is_refused_naming_the_pair() {
    use workhub_migrations::online::{self, Folders};
    use workhub_schema::render::online::Online;

    let initial = create(&[], &parent::schema(), INITIAL);
    let a = create(std::slice::from_ref(&initial), &color::schema(), ADD_COLOR);
    let base = vec![initial.clone()];
    let current = scratch::built_by(&base, &Target::Head).unwrap();
    // The branch's change: a column and an index on it, so the migration and its companion.
    let mut models = parent::schema();
    let tasks = models
        .tables
        .iter_mut()
        .find(|t| t.name == "tasks")
        .unwrap();
    tasks.columns.push(workhub_schema::Column::new(
        "done",
        workhub_schema::ColumnType::Bool,
        true,
    ));
    tasks.indexes.push(workhub_schema::Index {
        name: "tasks_done_idx".into(),
        columns: vec!["done".into()],
        unique: false,
    });
    let drafts = online::drafts(
        Folders {
            main: "2024-01-03-000000_add_done",
            companion: "2024-01-03-000001_add_done_online",
        },
        Some(INITIAL),
        &base,
        &current,
        &models,
        &GENERATOR,
        &Online::default(),
    )
    .unwrap();
    assert_eq!(drafts.len(), 2, "the migration and its companion");
    let mut merged = vec![initial, a];
    merged.extend(drafts.iter().map(|d| migration_of(d).unwrap()));
    let err = rebase(&merged, &models, ADD_COLOR, &GENERATOR, |m, _| {
        format!("2024-02-01-000000_{}", m.name())
    })
    .unwrap_err();
    assert!(matches!(err, RebaseError::OnlinePair { .. }), "{err:?}");
    let message = err.to_string();
    for needle in [
        "2024-01-03-000001_add_done_online is the companion",
        "delete 2024-01-03-000001_add_done_online and 2024-01-03-000000_add_done",
        "run db create again",
    ] {
        assert!(message.contains(needle), "{needle} not in: {message}");
    }
}

/// `draft`'s file `name`.
fn file_of<'d>(draft: &'d draft::Draft, name: &str) -> &'d str {
    draft
        .files
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| text.as_str())
        .unwrap_or_else(|| panic!("{} has no {name}", draft.folder))
}

/// `draft` as `db create` wrote it before it generated MySQL's files: the SQLite and PostgreSQL
/// files and a lineage whose `sql` digest is theirs, plus `mysql` (written by hand after) if given.
fn before_mysql_generation(draft: &draft::Draft, mysql: Option<(&str, &str)>) -> Migration {
    let mut files: Vec<(&'static str, String)> = draft
        .files
        .iter()
        .filter(|(name, _)| !name.ends_with(".mysql.sql") && *name != lineage::LINEAGE_FILE)
        .cloned()
        .collect();
    let old = draft.lineage.clone();
    let recorded = lineage::Lineage::new(
        old.parent().map(str::to_string),
        old.schema().to_string(),
        false,
        old.tables().iter().map(|t| t.to_string()).collect(),
    )
    .with_sql(draft::files_digest(&files));
    files.push((lineage::LINEAGE_FILE, recorded.to_toml()));
    if let Some((up, down)) = mysql {
        files.push(("up.mysql.sql", up.to_string()));
        files.push(("down.mysql.sql", down.to_string()));
    }
    migration_of(&draft::Draft {
        files,
        ..draft.clone()
    })
    .unwrap()
}

/// The one migration a rebase re-creates when `b`, written after `initial`, is merged after `a`.
fn rebase_one(
    initial: &Migration,
    a: &Migration,
    b: Migration,
    models: &Schema,
) -> workhub_migrations::rebase::Rebased {
    let merged = vec![initial.clone(), a.clone(), b];
    let mut rebased = rebase(&merged, models, ADD_COLOR, &GENERATOR, later)
        .unwrap()
        .unwrap();
    assert_eq!(rebased.migrations.len(), 1);
    rebased.migrations.remove(0)
}

/// A rebase re-creates MySQL's files with the others: a generated migration's are generated again
/// on the new parent, a hand-written one's kept byte for byte. A generated migration from before
/// `db create` wrote MySQL files is generated again (gaining them) when it has none, and kept as
/// written when MySQL files were added to it by hand, which generating again would lose.
#[test]
fn a_rebase_carries_mysql_files_along() {
    let initial = create(&[], &parent::schema(), INITIAL);
    let a = create(std::slice::from_ref(&initial), &color::schema(), ADD_COLOR);
    let current = scratch::built_by(std::slice::from_ref(&initial), &Target::Head).unwrap();
    let widen = draft::generated(
        WIDEN,
        Some(INITIAL),
        &current,
        &wide_name::schema(),
        &GENERATOR,
    )
    .unwrap();
    assert!(
        file_of(&widen, "up.mysql.sql")
            .contains("ALTER TABLE `projects` MODIFY COLUMN `name` VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;"),
        "{}",
        file_of(&widen, "up.mysql.sql")
    );
    assert!(file_of(&widen, "down.mysql.sql").contains("VARCHAR(100)"));
    assert_eq!(
        widen.lineage.sql(),
        Some(draft::files_digest(&widen.files).as_str()),
        "the digest covers the MySQL files too"
    );

    // Generated: generated again, MySQL's files with it.
    let only = &rebase_one(
        &initial,
        &a,
        migration_of(&widen).unwrap(),
        &color_and_wide_name::schema(),
    );
    assert!(!only.hand_written && !only.edited);
    assert!(file_of(&only.draft, "up.mysql.sql").contains("VARCHAR(300)"));
    assert!(migration_of(&only.draft).unwrap().has_mysql_scripts());

    // Hand-written with MySQL's files: kept byte for byte.
    let current_files = vec![
        (
            "up.sql",
            "UPDATE tasks SET title = trim(title);\n".to_string(),
        ),
        ("down.sql", "SELECT 1;\n".to_string()),
        (
            "up.mysql.sql",
            "UPDATE `tasks` SET `title` = TRIM(`title`);\n".to_string(),
        ),
        ("down.mysql.sql", "DO 0;\n".to_string()),
    ];
    let b = migration_of(&draft::hand_written(
        WIDEN,
        Some(INITIAL),
        &current,
        current_files,
    ))
    .unwrap();
    let only = &rebase_one(&initial, &a, b.clone(), &color::schema());
    assert!(only.hand_written && !only.sql_changed);
    let again = migration_of(&only.draft).unwrap();
    assert_eq!(again.scripts(Dialect::Mysql), b.scripts(Dialect::Mysql));
    assert_eq!(again.scripts(Dialect::Sqlite), b.scripts(Dialect::Sqlite));

    // Generated before MySQL generation, no MySQL files: generated again, gaining them.
    let old = before_mysql_generation(&widen, None);
    let only = &rebase_one(&initial, &a, old, &color_and_wide_name::schema());
    assert!(!only.hand_written && !only.edited);
    assert!(file_of(&only.draft, "up.mysql.sql").contains("VARCHAR(300)"));

    // Generated before MySQL generation, MySQL files added by hand (as this repository's history
    // has them): kept as written, to be re-checked.
    let up =
        "-- written by hand\nALTER TABLE `projects` MODIFY COLUMN `name` VARCHAR(300) NOT NULL;\n";
    let down = "ALTER TABLE `projects` MODIFY COLUMN `name` VARCHAR(100) NOT NULL;\n";
    let old = before_mysql_generation(&widen, Some((up, down)));
    let only = &rebase_one(&initial, &a, old, &color_and_wide_name::schema());
    assert!(
        only.hand_written && only.edited,
        "kept, not generated again"
    );
    assert!(!only.sql_changed);
    assert_eq!(file_of(&only.draft, "up.mysql.sql"), up);
    assert_eq!(file_of(&only.draft, "down.mysql.sql"), down);
}

/// The repository's history, whose MySQL files were written by hand after `db create` wrote the
/// rest: what SQLite and PostgreSQL record is the checksum of `up.sql` / `up.postgres.sql` alone,
/// each lineage's schema digest is what the migrations before it build, and a generated one's `sql`
/// digest is that of its SQLite and PostgreSQL files, as recorded.
#[test]
fn the_repository_history_keeps_its_checksums_and_lineage() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"));
    let migrations = workhub_migrations::source::scan(dir).unwrap().migrations;
    assert!(migrations.len() >= 3);
    for (i, migration) in migrations.iter().enumerate() {
        let folder = dir.join(migration.folder());
        let read = |name: &str| std::fs::read_to_string(folder.join(name)).unwrap();
        assert!(migration.has_mysql_scripts(), "{}", migration.folder());
        assert_eq!(
            migration.scripts(Dialect::Sqlite).checksum(),
            workhub_migrations::source::checksum(&read("up.sql"))
        );
        assert_eq!(
            migration.scripts(Dialect::Postgres).checksum(),
            workhub_migrations::source::checksum(&read("up.postgres.sql"))
        );
        let Some(recorded) = migration.lineage() else {
            continue;
        };
        let before = scratch::built_by(&migrations[..i], &Target::Head).unwrap();
        assert_eq!(
            recorded.schema(),
            draft::digest(&before),
            "{}",
            migration.folder()
        );
        if let Some(sql) = recorded.sql() {
            let files: Vec<(&str, String)> =
                ["up.sql", "down.sql", "up.postgres.sql", "down.postgres.sql"]
                    .into_iter()
                    .map(|name| (name, read(name)))
                    .collect();
            assert_eq!(sql, draft::files_digest(&files), "{}", migration.folder());
        }
    }
}
