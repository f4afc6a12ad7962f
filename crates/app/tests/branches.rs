//! Working on branches, through the `workhub` binary and the repository's real models: two branches
//! add migrations from one parent (built in a temporary --migrations-dir whose parent lacks
//! `tasks.due_on` and has a narrower column), one is applied to a database with data, the other is
//! merged after it. Every door refuses the merge with nothing changed, the pre-merge migration run
//! without its lineage (or by diesel_cli, or the sqlite3 shell) fails inside its own SQL, and
//! `db rebase` resolves it: upgrade keeps every row and value, `db check` passes, on both backends.

mod common;

use std::path::Path;
use std::process::Command;

use common::{output, Fixture, Run};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use workhub_migrations::apply::{Postgres, TemporaryDatabase};
use workhub_migrations::draft::{self, Draft};
use workhub_migrations::scratch;
use workhub_migrations::source::{self, lineage};
use workhub_migrations::testing::postgres_server;
use workhub_migrations::{DatabaseUrl, Target};
use workhub_schema::render::Generator;
use workhub_schema::{ColumnType, Schema};

/// What the workhub binary's generated SQL calls its generator, so a draft written here is what
/// `workhub db create` writes.
const GENERATOR: Generator<'static> = Generator {
    name: "workhub",
    create: "workhub db create",
    upgrade: "workhub db upgrade",
};

const PARENT: &str = "2024-01-01-000000_initial";
const ADD_DUE_ON: &str = "2024-01-02-000000_add_due_on";
const WIDEN: &str = "2024-01-03-000000_widen";

/// The repository's models with `change` made to them.
fn models_with(change: impl Fn(&mut Schema)) -> Schema {
    let mut schema = workhub_models::schema();
    change(&mut schema);
    schema
}

fn without_due_on(schema: &mut Schema) {
    let tasks = schema
        .tables
        .iter_mut()
        .find(|t| t.name == "tasks")
        .unwrap();
    tasks.columns.retain(|c| c.name != "due_on");
}

fn narrow(table: &'static str, column: &'static str) -> impl Fn(&mut Schema) {
    move |schema: &mut Schema| {
        let table = schema.tables.iter_mut().find(|t| t.name == table).unwrap();
        let column = table.columns.iter_mut().find(|c| c.name == column).unwrap();
        column.ty = ColumnType::Varchar(100);
    }
}

/// What branch A adds after the parent.
enum BranchA {
    Generated,
    /// `db create --empty`, filled in by hand.
    HandWritten,
}

/// One parent, branch A adding `tasks.due_on`, branch B widening `table.column` from the parent's
/// VARCHAR(100) to what the models say.
struct Scenario {
    parent: Draft,
    a: Draft,
    b: Draft,
}

fn scenario(a: BranchA, table: &'static str, column: &'static str) -> Scenario {
    let parent_models = models_with(|s| {
        without_due_on(s);
        narrow(table, column)(s);
    });
    let parent =
        draft::generated(PARENT, None, &Schema::default(), &parent_models, &GENERATOR).unwrap();
    let built = scratch::built_by(&[migration(&parent)], &Target::Head).unwrap();
    let a = match a {
        BranchA::Generated => draft::generated(
            ADD_DUE_ON,
            Some(PARENT),
            &built,
            &models_with(narrow(table, column)),
            &GENERATOR,
        )
        .unwrap(),
        BranchA::HandWritten => draft::hand_written(
            ADD_DUE_ON,
            Some(PARENT),
            &built,
            vec![
                (
                    "up.sql",
                    "ALTER TABLE tasks ADD COLUMN due_on DATE;\n".into(),
                ),
                ("down.sql", "ALTER TABLE tasks DROP COLUMN due_on;\n".into()),
            ],
        ),
    };
    let b = draft::generated(
        WIDEN,
        Some(PARENT),
        &built,
        &models_with(without_due_on),
        &GENERATOR,
    )
    .unwrap();
    Scenario { parent, a, b }
}

fn migration(draft: &Draft) -> workhub_migrations::Migration {
    workhub_migrations::rebase::migration_of(draft).unwrap()
}

fn write(dir: &Path, draft: &Draft) {
    let folder = dir.join(&draft.folder);
    std::fs::create_dir_all(&folder).unwrap();
    for (name, text) in &draft.files {
        std::fs::write(folder.join(name), text).unwrap();
    }
    std::fs::write(dir.join(lineage::HEAD_FILE), format!("{}\n", draft.folder)).unwrap();
}

/// The head file as git leaves it when `theirs` is merged into a branch whose head is `ours`.
fn merge_head(dir: &Path, ours: &str, theirs: &str) {
    std::fs::write(
        dir.join(lineage::HEAD_FILE),
        format!("<<<<<<< HEAD\n{ours}\n=======\n{theirs}\n>>>>>>> theirs\n"),
    )
    .unwrap();
}

const SEED: &str = "INSERT INTO users (id, email, display_name, password_hash) VALUES (1, 'ada@example.com', 'Ada', 'x');\n\
    INSERT INTO projects (id, owner_id, name) VALUES (1, 1, 'workhub');\n\
    INSERT INTO tasks (id, project_id, title, due_on) VALUES (1, 1, 'paint', '2025-01-02'), (2, 1, 'sand', NULL), (3, 1, 'ship', '2025-03-04');";

const TASKS: &str = "SELECT title, CAST(due_on AS TEXT) AS due_on FROM tasks ORDER BY id";

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct Task {
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Text>)]
    due_on: Option<String>,
}

fn seeded() -> Vec<Task> {
    [
        ("paint", Some("2025-01-02")),
        ("sand", None),
        ("ship", Some("2025-03-04")),
    ]
    .into_iter()
    .map(|(title, due_on)| Task {
        title: title.into(),
        due_on: due_on.map(str::to_string),
    })
    .collect()
}

fn sqlite_tasks(path: &Path) -> Vec<Task> {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    diesel::sql_query(TASKS).load(&mut conn).unwrap()
}

/// The fixture after branch A was applied to a database with data and branch B merged after it.
fn merged_on_sqlite(scenario: &Scenario) -> Fixture {
    let fixture = Fixture::new();
    write(&fixture.migrations(), &scenario.parent);
    write(&fixture.migrations(), &scenario.a);
    fixture.ok(&["db", "upgrade"]);
    fixture.execute(SEED);
    write(&fixture.migrations(), &scenario.b);
    merge_head(&fixture.migrations(), ADD_DUE_ON, WIDEN);
    fixture
}

/// Every door refuses, exits 1, names both migrations, their parent and the fix, changes nothing.
fn assert_every_door_refuses(
    fixture: &Fixture,
    shared: Option<&str>,
    mut run: impl FnMut(&[&str]) -> Run,
) {
    let mut doors: Vec<Vec<&str>> = vec![
        vec!["db", "check"],
        vec!["db", "upgrade"],
        vec!["--migrate-only"],
        vec!["db", "upgrade", "--allow-out-of-order"],
    ];
    doors.push(vec!["serve"]);
    for door in doors {
        let result = run(&door);
        let all = result.all();
        assert_eq!(result.code, Some(1), "{door:?}: {all}");
        for needle in [ADD_DUE_ON, WIDEN, PARENT, "workhub db rebase"] {
            assert!(
                all.contains(needle),
                "{door:?} does not name {needle}:\n{all}"
            );
        }
        if let Some(table) = shared {
            assert!(
                all.contains(&format!("both touch {table}")),
                "{door:?}:\n{all}"
            );
        }
        if fixture.db().exists() {
            assert_eq!(sqlite_tasks(&fixture.db()), seeded(), "{door:?}");
        }
    }
}

fn run_sqlite(fixture: &Fixture, args: &[&str]) -> Run {
    let mut command = fixture.workhub();
    command.env("WORKHUB_ADDR", "127.0.0.1:0").args(args);
    output(&mut command)
}

fn rebase_check_and_upgrade(fixture: &Fixture, rerun: impl Fn(&[&str]) -> Run) {
    let rebased = fixture.ok(&["db", "rebase"]);
    assert!(
        rebased.stdout.contains(&format!("re-created {WIDEN} as ")),
        "{}",
        rebased.stdout
    );
    assert!(
        rebased
            .stdout
            .contains(&format!("_widen on top of {ADD_DUE_ON}")),
        "{}",
        rebased.stdout
    );
    let scan = source::scan(&fixture.migrations()).unwrap();
    assert!(lineage::divergences(&scan.migrations).is_empty());
    let newest = scan.migrations.last().unwrap().folder().to_string();
    assert!(newest.ends_with("_widen") && newest != WIDEN, "{newest}");
    assert!(
        !fixture.migrations().join(WIDEN).exists(),
        "the old folder is gone"
    );
    let head = std::fs::read_to_string(fixture.migrations().join(lineage::HEAD_FILE)).unwrap();
    assert_eq!(head, format!("{newest}\n"));
    let up = rerun(&["db", "upgrade"]);
    up.expect_code(0);
    let check = rerun(&["db", "check"]);
    check.expect_code(0);
    // A --migrations-dir history is compared with itself, not the models, and a note says so first.
    assert!(
        check.stdout.lines().any(|line| line.starts_with("OK:")),
        "{}",
        check.stdout
    );
}

#[test]
fn a_merge_of_branches_changing_the_same_table_is_refused_then_rebased_on_sqlite() {
    let scenario = scenario(BranchA::Generated, "tasks", "title");
    let fixture = merged_on_sqlite(&scenario);
    let before = fixture.snapshot();
    assert_every_door_refuses(&fixture, Some("tasks"), |args| run_sqlite(&fixture, args));
    assert_eq!(fixture.snapshot(), before, "no door changed the database");
    rebase_check_and_upgrade(&fixture, |args| run_sqlite(&fixture, args));
    assert_eq!(
        sqlite_tasks(&fixture.db()),
        seeded(),
        "every row and value kept"
    );
}

#[test]
fn a_merge_of_branches_changing_different_tables_is_refused_then_rebased_on_sqlite() {
    let scenario = scenario(BranchA::Generated, "projects", "name");
    let fixture = merged_on_sqlite(&scenario);
    let before = fixture.snapshot();
    assert_every_door_refuses(&fixture, None, |args| run_sqlite(&fixture, args));
    assert_eq!(fixture.snapshot(), before);
    rebase_check_and_upgrade(&fixture, |args| run_sqlite(&fixture, args));
    assert_eq!(sqlite_tasks(&fixture.db()), seeded());
}

#[test]
fn a_merge_with_a_hand_written_migration_is_refused_then_rebased_on_sqlite() {
    let scenario = scenario(BranchA::HandWritten, "tasks", "title");
    let fixture = merged_on_sqlite(&scenario);
    let before = fixture.snapshot();
    assert_every_door_refuses(&fixture, Some("tasks"), |args| run_sqlite(&fixture, args));
    assert_eq!(fixture.snapshot(), before);
    rebase_check_and_upgrade(&fixture, |args| run_sqlite(&fixture, args));
    assert_eq!(sqlite_tasks(&fixture.db()), seeded());
}

#[test]
fn a_later_hand_written_migration_keeps_its_sql_and_is_flagged_for_review() {
    let scenario = scenario(BranchA::Generated, "tasks", "title");
    let fixture = Fixture::new();
    write(&fixture.migrations(), &scenario.parent);
    write(&fixture.migrations(), &scenario.a);
    // Branch B, from the same parent: a hand-written backfill, and the rebuild generated after it.
    const BACKFILL: &str = "2024-01-03-000000_backfill";
    const WIDEN_AFTER: &str = "2024-01-04-000000_widen";
    let parent = migration(&scenario.parent);
    let built = scratch::built_by(std::slice::from_ref(&parent), &Target::Head).unwrap();
    let backfill = draft::hand_written(
        BACKFILL,
        Some(PARENT),
        &built,
        vec![("up.sql", "UPDATE tasks SET title = trim(title);\n".into())],
    );
    let widen = draft::generated(
        WIDEN_AFTER,
        Some(BACKFILL),
        &scratch::built_by(&[parent, migration(&backfill)], &Target::Head).unwrap(),
        &models_with(without_due_on),
        &GENERATOR,
    )
    .unwrap();
    fixture.ok(&["db", "upgrade"]);
    fixture.execute(SEED);
    write(&fixture.migrations(), &backfill);
    write(&fixture.migrations(), &widen);
    merge_head(&fixture.migrations(), ADD_DUE_ON, WIDEN_AFTER);
    let up_before = std::fs::read(fixture.migrations().join(BACKFILL).join("up.sql")).unwrap();
    fixture
        .run(&["db", "upgrade"])
        .expect_failure(1, &[BACKFILL, ADD_DUE_ON, "workhub db rebase"]);
    let rebased = fixture.ok(&["db", "rebase"]);
    let scan = source::scan(&fixture.migrations()).unwrap();
    let folders: Vec<&str> = scan.migrations.iter().map(|m| m.folder()).collect();
    let (new_backfill, new_widen) = (folders[2], folders[3]);
    assert!(
        new_backfill.ends_with("_backfill") && new_widen.ends_with("_widen"),
        "{folders:?}"
    );
    for needle in [
        format!("kept {BACKFILL} (hand-written) as it is, now {new_backfill} after {ADD_DUE_ON}"),
        "RE-CHECK".to_string(),
        format!("re-created {WIDEN_AFTER} as {new_widen} on top of {new_backfill}"),
    ] {
        assert!(
            rebased.stdout.contains(&needle),
            "{needle}:\n{}",
            rebased.stdout
        );
    }
    let up_after = std::fs::read(fixture.migrations().join(new_backfill).join("up.sql")).unwrap();
    assert_eq!(
        up_after, up_before,
        "hand-written SQL is kept byte for byte"
    );
    fixture.ok(&["db", "upgrade"]);
    fixture.ok(&["db", "check"]);
    assert_eq!(sqlite_tasks(&fixture.db()), seeded());
}

#[test]
fn a_conflicted_or_stale_head_file_fails_check() {
    let parent = draft::generated(
        PARENT,
        None,
        &Schema::default(),
        &models_with(without_due_on),
        &GENERATOR,
    )
    .unwrap();
    let built = scratch::built_by(&[migration(&parent)], &Target::Head).unwrap();
    let add = draft::generated(
        ADD_DUE_ON,
        Some(PARENT),
        &built,
        &workhub_models::schema(),
        &GENERATOR,
    )
    .unwrap();
    let fixture = Fixture::new();
    write(&fixture.migrations(), &parent);
    write(&fixture.migrations(), &add);
    fixture.ok(&["db", "upgrade"]);
    fixture.ok(&["db", "check"]);
    let head = fixture.migrations().join(lineage::HEAD_FILE);
    std::fs::write(
        &head,
        format!("<<<<<<< HEAD\n{ADD_DUE_ON}\n=======\n{WIDEN}\n>>>>>>> b\n"),
    )
    .unwrap();
    let before = fixture.snapshot();
    let run = fixture.run(&["db", "check"]);
    run.expect_failure(1, &["workhub db rebase"]);
    assert!(
        run.stdout.contains("merge conflict markers"),
        "{}",
        run.stdout
    );
    std::fs::write(&head, format!("{PARENT}\n")).unwrap();
    let run = fixture.run(&["db", "check"]);
    run.expect_code(1);
    assert!(
        run.stdout.contains(&format!(
            "names {PARENT}, but the newest migration is {ADD_DUE_ON}"
        )),
        "{}",
        run.stdout
    );
    // With nothing diverged, rebase only refreshes the head file.
    let rebase = fixture.ok(&["db", "rebase"]);
    assert!(
        rebase.stdout.contains("Nothing to rebase"),
        "{}",
        rebase.stdout
    );
    fixture.ok(&["db", "check"]);
    assert_eq!(
        fixture.snapshot(),
        before,
        "check and rebase never touch the database"
    );
}

#[test]
fn the_pre_merge_migration_without_lineage_fails_inside_its_sql_with_nothing_changed() {
    let scenario = scenario(BranchA::Generated, "tasks", "title");
    let fixture = merged_on_sqlite(&scenario);
    // The lineage check absent (its file deleted), as with an older binary.
    std::fs::remove_file(fixture.migrations().join(WIDEN).join(lineage::LINEAGE_FILE)).unwrap();
    std::fs::write(
        fixture.migrations().join(lineage::HEAD_FILE),
        format!("{WIDEN}\n"),
    )
    .unwrap();
    let before = fixture.snapshot();
    for door in [&["db", "upgrade"][..], &["--migrate-only"], &["serve"]] {
        let run = run_sqlite(&fixture, door);
        run.expect_failure(
            1,
            &[
                WIDEN,
                "would lose columns: due_on",
                "delete this migration folder and `workhub db create` it again",
            ],
        );
        assert!(
            !run.all().contains("db rebase"),
            "without lineage rebase does nothing"
        );
        assert_eq!(fixture.snapshot(), before, "{door:?}");
    }
    assert_eq!(sqlite_tasks(&fixture.db()), seeded());
}

/// An external tool, or `None` after a visible skip notice (a failure under CI=true).
fn tool(path: &str, test: &str) -> Option<String> {
    let found = Command::new(path)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(path.to_string());
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
        "{test}: {path} is not installed, and CI=true requires it"
    );
    workhub_migrations::testing::skipped(&format!("SKIPPED {test}: {path} is not installed"));
    None
}

fn diesel_cli() -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    format!("{home}/.cargo/bin/diesel")
}

#[test]
fn diesel_cli_and_the_sqlite3_shell_cannot_lose_the_other_branchs_column() {
    let test = "diesel_cli_and_the_sqlite3_shell_cannot_lose_the_other_branchs_column";
    let scenario = scenario(BranchA::Generated, "tasks", "title");
    let fixture = merged_on_sqlite(&scenario);
    let before = fixture.snapshot();
    if let Some(diesel) = tool(&diesel_cli(), test) {
        // Generated migrations without a rebuild run under diesel_cli as under workhub.
        let other = tempfile::tempdir().unwrap();
        for draft in [&scenario.parent, &scenario.a] {
            write(other.path(), draft);
        }
        let fresh = other.path().join("diesel.db");
        let run: Run = Command::new(&diesel)
            .args(["migration", "run", "--migration-dir"])
            .arg(other.path())
            .arg("--database-url")
            .arg(&fresh)
            .current_dir(other.path())
            .output()
            .unwrap()
            .into();
        run.expect_code(0);
        let mut conn = SqliteConnection::establish(&fresh.to_string_lossy()).unwrap();
        conn.batch_execute(SEED).unwrap();
        drop(conn);
        assert_eq!(sqlite_tasks(&fresh), seeded());

        let run: Run = Command::new(&diesel)
            .args(["migration", "run", "--migration-dir"])
            .arg(fixture.migrations())
            .arg("--database-url")
            .arg(fixture.db())
            .current_dir(fixture.dir.path())
            .output()
            .unwrap()
            .into();
        assert_ne!(run.code, Some(0), "{}", run.all());
        assert!(run.all().contains("workhub db upgrade"), "{}", run.all());
        assert_eq!(fixture.snapshot(), before, "diesel_cli changed nothing");
    }
    if let Some(sqlite3) = tool("sqlite3", test) {
        // The shell stops at the first error only with -bail (without it, it runs every statement).
        let up = std::fs::File::open(fixture.migrations().join(WIDEN).join("up.sql")).unwrap();
        let run: Run = Command::new(sqlite3)
            .arg("-bail")
            .arg(fixture.db())
            .stdin(up)
            .output()
            .unwrap()
            .into();
        assert_ne!(run.code, Some(0), "{}", run.all());
        assert!(
            run.all().contains("would lose columns: due_on"),
            "{}",
            run.all()
        );
        assert_eq!(
            fixture.snapshot(),
            before,
            "the sqlite3 shell changed nothing"
        );
    }
    assert_eq!(sqlite_tasks(&fixture.db()), seeded());
}

struct Pg {
    database: TemporaryDatabase,
    url: String,
}

fn postgres(test: &str) -> Option<Pg> {
    let server = postgres_server(test)?;
    let database = TemporaryDatabase::create(&server, "branches").unwrap();
    let url = match database.url() {
        DatabaseUrl::Postgres(raw) => raw.clone(),
        _ => unreachable!(),
    };
    Some(Pg { database, url })
}

impl Pg {
    fn tasks(&self) -> Vec<Task> {
        let mut conn = PgConnection::establish(&self.url).unwrap();
        diesel::sql_query(TASKS).load(&mut conn).unwrap()
    }

    /// The schema and history, to prove a refusal changed nothing.
    fn state(&self) -> (Schema, Vec<String>) {
        #[derive(QueryableByName)]
        struct Version {
            #[diesel(sql_type = Text)]
            version: String,
        }
        let mut db = Postgres::open(self.database.url()).unwrap();
        let versions =
            diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
                .load::<Version>(db.connection())
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.version)
                .collect();
        (scratch::read_postgres(&mut db).unwrap(), versions)
    }

    fn run(&self, fixture: &Fixture, args: &[&str]) -> Run {
        let mut command = fixture.workhub();
        command
            .env("DATABASE_URL", &self.url)
            .env("WORKHUB_ADDR", "127.0.0.1:0")
            .args(args);
        output(&mut command)
    }
}

#[test]
fn merges_are_refused_then_rebased_on_postgres_to_the_same_schema_as_sqlite() {
    let test = "merges_are_refused_then_rebased_on_postgres_to_the_same_schema_as_sqlite";
    for (a, table, column, shared) in [
        (BranchA::Generated, "tasks", "title", Some("tasks")),
        (BranchA::Generated, "projects", "name", None),
        (BranchA::HandWritten, "tasks", "title", Some("tasks")),
    ] {
        let Some(pg) = postgres(test) else { return };
        let scenario = scenario(a, table, column);
        let fixture = Fixture::new();
        write(&fixture.migrations(), &scenario.parent);
        write(&fixture.migrations(), &scenario.a);
        pg.run(&fixture, &["db", "upgrade"]).expect_code(0);
        let mut conn = PgConnection::establish(&pg.url).unwrap();
        conn.batch_execute(SEED).unwrap();
        drop(conn);
        write(&fixture.migrations(), &scenario.b);
        merge_head(&fixture.migrations(), ADD_DUE_ON, WIDEN);
        let before = pg.state();
        assert_every_door_refuses(&fixture, shared, |args| pg.run(&fixture, args));
        assert_eq!(pg.state(), before, "no door changed the database");
        assert_eq!(pg.tasks(), seeded());
        rebase_check_and_upgrade(&fixture, |args| pg.run(&fixture, args));
        assert_eq!(pg.tasks(), seeded(), "every row and value kept");
        // The same rebased history on SQLite passes the same check: both backends build the models.
        fixture.ok(&["db", "upgrade"]);
        fixture.ok(&["db", "check"]);
    }
}

#[test]
fn diesel_cli_on_postgres_refuses_workhubs_sqlite_sql_at_its_first_statement() {
    let test = "diesel_cli_on_postgres_refuses_workhubs_sqlite_sql_at_its_first_statement";
    let Some(pg) = postgres(test) else { return };
    let Some(diesel) = tool(&diesel_cli(), test) else {
        return;
    };
    let scenario = scenario(BranchA::Generated, "tasks", "title");
    let fixture = Fixture::new();
    write(&fixture.migrations(), &scenario.parent);
    let run: Run = Command::new(&diesel)
        .args(["migration", "run", "--migration-dir"])
        .arg(fixture.migrations())
        .args(["--database-url", &pg.url])
        .current_dir(fixture.dir.path())
        .output()
        .unwrap()
        .into();
    assert_ne!(run.code, Some(0), "{}", run.all());
    for needle in ["up.postgres.sql", "workhub db upgrade"] {
        assert!(run.all().contains(needle), "{}", run.all());
    }
    let (schema, versions) = pg.state();
    assert!(
        schema.tables.iter().all(|t| t.name.starts_with("__")),
        "no table created: {:?}",
        schema.tables.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    assert!(versions.is_empty(), "{versions:?}");
    // workhub runs the same folder with its PostgreSQL SQL.
    pg.run(&fixture, &["db", "upgrade"]).expect_code(0);
}

#[test]
fn an_empty_template_on_a_history_sqlite_cannot_replay_records_its_parent() {
    let fixture = Fixture::new();
    fixture.migration(
        "2024-01-01-000000_extension",
        "CREATE EXTENSION IF NOT EXISTS citext;\n",
        None,
    );
    let run = fixture.ok(&["db", "create", "backfill", "--empty"]);
    assert!(
        run.stdout
            .contains("the schema this migration follows is not recorded"),
        "{}",
        run.stdout
    );
    let scan = source::scan(&fixture.migrations()).unwrap();
    assert_eq!(scan.migrations.len(), 2);
    assert!(scan.migrations[1].folder().ends_with("_backfill"));
    let recorded = scan.migrations[1].lineage().expect("a lineage");
    assert_eq!(recorded.parent(), Some("2024-01-01-000000_extension"));
    assert_eq!(recorded.schema(), lineage::UNKNOWN_SCHEMA);
}

#[test]
fn create_refuses_a_diverged_history_before_anything_is_written() {
    let scenario = scenario(BranchA::Generated, "tasks", "title");
    let fixture = merged_on_sqlite(&scenario);
    let before = files(&fixture.migrations());
    for args in [
        &["db", "create", "more"][..],
        &["db", "create", "more", "--empty"][..],
    ] {
        let run = fixture.run(args);
        run.expect_failure(
            1,
            &[
                "history has diverged",
                ADD_DUE_ON,
                WIDEN,
                "nothing was written",
                "workhub db rebase",
            ],
        );
        assert!(!run.all().contains("replay"), "{args:?}: {}", run.all());
        assert_eq!(files(&fixture.migrations()), before, "{args:?}");
    }
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_rebase_that_cannot_decide_refuses_and_writes_nothing() {
    // Both branches change tasks.title, to different lengths.
    let parent_models = models_with(|s| {
        without_due_on(s);
        narrow("tasks", "title")(s);
    });
    let parent =
        draft::generated(PARENT, None, &Schema::default(), &parent_models, &GENERATOR).unwrap();
    let built = scratch::built_by(&[migration(&parent)], &Target::Head).unwrap();
    let a_models = models_with(|s| {
        let tasks = s.tables.iter_mut().find(|t| t.name == "tasks").unwrap();
        tasks
            .columns
            .iter_mut()
            .find(|c| c.name == "title")
            .unwrap()
            .ty = ColumnType::Varchar(150);
    });
    let a = draft::generated(ADD_DUE_ON, Some(PARENT), &built, &a_models, &GENERATOR).unwrap();
    let b = draft::generated(
        WIDEN,
        Some(PARENT),
        &built,
        &models_with(without_due_on),
        &GENERATOR,
    )
    .unwrap();
    let fixture = Fixture::new();
    for draft in [&parent, &a, &b] {
        write(&fixture.migrations(), draft);
    }
    merge_head(&fixture.migrations(), ADD_DUE_ON, WIDEN);
    let before = files(&fixture.migrations());
    let run = fixture.run(&["db", "rebase"]);
    run.expect_failure(
        1,
        &[
            WIDEN,
            "column tasks.title: changed on both branches, differently",
            "nothing was written",
        ],
    );
    assert_eq!(files(&fixture.migrations()), before, "no file changed");
    assert!(!fixture.db().exists(), "rebase never opens a database");
}

#[test]
fn a_rebase_re_creates_the_merged_in_branch_even_when_it_sorts_first() {
    // Main shipped widen; the branch merged into it has the older add_due_on.
    let scenario = scenario(BranchA::Generated, "tasks", "title");
    let fixture = Fixture::new();
    write(&fixture.migrations(), &scenario.parent);
    write(&fixture.migrations(), &scenario.b);
    fixture.ok(&["db", "upgrade"]);
    fixture.execute(
        "INSERT INTO users (id, email, display_name, password_hash) VALUES (1, 'ada@example.com', 'Ada', 'x');\n\
         INSERT INTO projects (id, owner_id, name) VALUES (1, 1, 'workhub');\n\
         INSERT INTO tasks (id, project_id, title) VALUES (1, 1, 'paint');",
    );
    write(&fixture.migrations(), &scenario.a);
    let widen_files = files(&fixture.migrations().join(WIDEN));

    // Without a head file that says which branch is ours, rebase cannot tell, and says how to choose.
    std::fs::remove_file(fixture.migrations().join(lineage::HEAD_FILE)).unwrap();
    let before = files(&fixture.migrations());
    fixture.run(&["db", "rebase"]).expect_failure(
        1,
        &["--onto FOLDER", ADD_DUE_ON, WIDEN, "nothing was written"],
    );
    assert_eq!(files(&fixture.migrations()), before, "no file changed");

    merge_head(&fixture.migrations(), WIDEN, ADD_DUE_ON);
    let rebased = fixture.ok(&["db", "rebase"]);
    assert!(
        rebased
            .stdout
            .contains(&format!("re-created {ADD_DUE_ON} as ")),
        "{}",
        rebased.stdout
    );
    assert!(rebased.stdout.contains("just reset"), "{}", rebased.stdout);
    assert_eq!(
        files(&fixture.migrations().join(WIDEN)),
        widen_files,
        "the deployed migration is kept byte for byte"
    );
    fixture.ok(&["db", "upgrade"]);
    fixture.ok(&["db", "check"]);
}

/// The parent and add_due_on, generated and applied, with `lineage.head` naming add_due_on.
fn applied_with_lineage() -> Fixture {
    let parent = draft::generated(
        PARENT,
        None,
        &Schema::default(),
        &models_with(without_due_on),
        &GENERATOR,
    )
    .unwrap();
    let built = scratch::built_by(&[migration(&parent)], &Target::Head).unwrap();
    let add = draft::generated(
        ADD_DUE_ON,
        Some(PARENT),
        &built,
        &workhub_models::schema(),
        &GENERATOR,
    )
    .unwrap();
    let fixture = Fixture::new();
    write(&fixture.migrations(), &parent);
    write(&fixture.migrations(), &add);
    fixture.ok(&["db", "upgrade"]);
    fixture
}

#[test]
fn a_stale_head_file_is_its_own_problem_and_the_schema_is_still_compared() {
    let fixture = applied_with_lineage();
    std::fs::write(
        fixture.migrations().join(lineage::HEAD_FILE),
        format!("{PARENT}\n"),
    )
    .unwrap();
    fixture.execute("CREATE TABLE stray (id INTEGER PRIMARY KEY);");
    let run = fixture.run(&["db", "check"]);
    run.expect_failure(1, &["rewrites migrations/lineage.head"]);
    // The comparison still ran (a lineage problem skipped it before), and the rebase hint for a
    // divergence is not given.
    assert!(run.all().contains("stray"), "{}", run.all());
    assert!(!run.all().contains("re-creates"), "{}", run.all());
}

#[test]
fn a_newest_folder_without_lineage_is_a_warning_not_a_failure() {
    // An adopted diesel project: `workhub db create` ran once, then `diesel migration generate`.
    let fixture = applied_with_lineage();
    fixture.migration(
        "2024-01-05-000000_by_diesel",
        "CREATE TABLE extra (id INTEGER PRIMARY KEY);\n",
        Some("DROP TABLE extra;\n"),
    );
    fixture.ok(&["db", "upgrade"]);
    let run = fixture.ok(&["db", "check"]);
    assert!(
        run.stderr.contains("warning:") && run.stderr.contains("has no lineage.toml"),
        "{}",
        run.all()
    );
}

#[test]
fn check_on_an_adopted_postgres_history_with_lineage_is_not_replayed_into_sqlite() {
    let test = "check_on_an_adopted_postgres_history_with_lineage_is_not_replayed_into_sqlite";
    let Some(pg) = postgres(test) else { return };
    let fixture = Fixture::new();
    let folder = fixture.migration(
        "2024-01-01-000000_function",
        "CREATE OR REPLACE FUNCTION answer() RETURNS integer AS $$ SELECT 42 $$ LANGUAGE sql;\n",
        Some("DROP FUNCTION answer();\n"),
    );
    let lineage = lineage::Lineage::new(None, "0000".into(), true, Vec::new());
    std::fs::write(folder.join(lineage::LINEAGE_FILE), lineage.to_toml()).unwrap();
    pg.run(&fixture, &["db", "upgrade"]).expect_code(0);
    let run = pg.run(&fixture, &["db", "check"]);
    run.expect_code(0);
    assert!(!run.all().contains("near"), "{}", run.all());
}

#[test]
fn a_cherry_picked_hotfix_whose_parent_is_missing_is_accepted_by_rebase() {
    let parent = draft::generated(
        PARENT,
        None,
        &Schema::default(),
        &models_with(without_due_on),
        &GENERATOR,
    )
    .unwrap();
    let built = scratch::built_by(&[migration(&parent)], &Target::Head).unwrap();
    // Written on main after a migration the release branch does not have, which changed nothing.
    let hotfix = draft::hand_written(
        "2024-01-04-000000_hotfix",
        Some("2024-01-03-000000_main_only"),
        &built,
        vec![("up.sql", "UPDATE tasks SET title = trim(title);\n".into())],
    );
    let fixture = Fixture::new();
    write(&fixture.migrations(), &parent);
    fixture.ok(&["db", "upgrade"]);
    write(&fixture.migrations(), &hotfix);
    let up = fixture.migrations().join(&hotfix.folder).join("up.sql");
    let up_before = std::fs::read(&up).unwrap();
    fixture
        .run(&["db", "check"])
        .expect_failure(1, &["workhub db rebase"]);
    let rebased = fixture.ok(&["db", "rebase"]);
    assert!(
        rebased.stdout.contains("its lineage now follows them"),
        "{}",
        rebased.stdout
    );
    assert_eq!(std::fs::read(&up).unwrap(), up_before, "its SQL is kept");
    let scan = source::scan(&fixture.migrations()).unwrap();
    assert_eq!(scan.migrations[1].lineage().unwrap().parent(), Some(PARENT));
    fixture.ok(&["db", "upgrade"]);
    fixture.ok(&["db", "check"]);
}
