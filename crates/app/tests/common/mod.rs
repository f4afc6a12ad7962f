//! Fixtures shared by the `workhub` end-to-end tests: a temporary directory holding a migrations folder
//! and a SQLite database, a `workhub` command pointed at both, and a snapshot of the database to prove a
//! refused command changed nothing.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use diesel::sql_types::{Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use tempfile::TempDir;

/// The environment variables workhub reads; every command starts without them.
pub const WORKHUB_VARIABLES: [&str; 11] = [
    "DATABASE_URL",
    "WORKHUB_SESSION_TTL_HOURS",
    "WORKHUB_BODY_LIMIT_BYTES",
    "WORKHUB_DB_POOL_SIZE",
    "WORKHUB_ENV",
    "WORKHUB_ADDR",
    "WORKHUB_MIGRATIONS_DIR",
    "WORKHUB_LOCK_TIMEOUT",
    "WORKHUB_POSTGRES_LOCK_TIMEOUT",
    "WORKHUB_EMBED_MIGRATIONS_DIR",
    "RUST_LOG",
];

/// A temporary directory with `migrations/` and `workhub.db` (created by the first command that
/// changes it).
#[derive(Debug)]
pub struct Fixture {
    pub dir: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        std::fs::create_dir(dir.path().join("migrations")).expect("create migrations/");
        Self { dir }
    }

    /// A fixture holding `count` reversible migrations, `2024-01-01-0000NN_step_NN`, each creating
    /// table `tNN`.
    pub fn with_steps(count: usize) -> Self {
        let fixture = Self::new();
        for n in 1..=count {
            fixture.step(n);
        }
        fixture
    }

    /// A fixture whose migrations directory holds a copy of the repository's own history (every
    /// folder, every file), which the models describe: `db check` compares them with it.
    pub fn with_own_history() -> Self {
        let fixture = Self::new();
        let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for folder in std::fs::read_dir(&own).expect("read the repository's migrations") {
            let folder = folder.unwrap();
            if !folder.file_type().unwrap().is_dir() {
                continue;
            }
            let copy = fixture.migrations().join(folder.file_name());
            std::fs::create_dir_all(&copy).unwrap();
            for file in std::fs::read_dir(folder.path()).unwrap() {
                let file = file.unwrap();
                std::fs::copy(file.path(), copy.join(file.file_name())).unwrap();
            }
        }
        fixture
    }

    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("workhub.db")
    }

    /// Writes a migration folder; `down` is left out when `None`.
    pub fn migration(&self, folder: &str, up: &str, down: Option<&str>) -> PathBuf {
        let path = self.migrations().join(folder);
        std::fs::create_dir_all(&path).expect("create a migration folder");
        std::fs::write(path.join("up.sql"), up).expect("write up.sql");
        if let Some(down) = down {
            std::fs::write(path.join("down.sql"), down).expect("write down.sql");
        }
        path
    }

    /// Writes migration number `n` of the standard series and returns its folder name.
    pub fn step(&self, n: usize) -> String {
        let folder = step_folder(n);
        self.migration(
            &folder,
            &format!("CREATE TABLE t{n:02} (id INTEGER PRIMARY KEY);\n"),
            Some(&format!("DROP TABLE t{n:02};\n")),
        );
        folder
    }

    /// `workhub` on this fixture's database and migrations, in its directory, with no workhub variable
    /// inherited from the environment.
    pub fn workhub(&self) -> Command {
        let mut command = workhub_command(self.dir.path());
        command
            .env("DATABASE_URL", self.db())
            .env("WORKHUB_MIGRATIONS_DIR", self.migrations());
        command
    }

    /// Runs `workhub ARGS` and returns its output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.workhub().args(args).output().expect("run workhub"))
    }

    /// Runs `workhub ARGS` and fails the test unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        run.expect_code(0);
        run
    }

    /// Runs `workhub ARGS` with extra environment variables and fails the test unless it exits 0.
    pub fn ok_with(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut command = self.workhub();
        command.envs(env.iter().copied()).args(args);
        let run = output(&mut command);
        run.expect_code(0);
        run
    }

    /// The database as a snapshot of its schema and history rows.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::of(&self.db())
    }

    /// Runs SQL on the database directly, as a user of the service would change its data.
    pub fn execute(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        let mut conn =
            SqliteConnection::establish(&self.db().to_string_lossy()).expect("open the database");
        conn.batch_execute(sql).expect("run SQL on the database");
    }

    /// The number of rows of `table`.
    pub fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn =
            SqliteConnection::establish(&self.db().to_string_lossy()).expect("open the database");
        let rows: Vec<Count> = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .load(&mut conn)
            .expect("count rows");
        rows[0].n
    }

    /// `PRAGMA user_version`, which earlier builds (from 03bd9e8) used for a head fingerprint.
    pub fn user_version(&self) -> i32 {
        let mut conn =
            SqliteConnection::establish(&self.db().to_string_lossy()).expect("open the database");
        user_version(&mut conn)
    }

    /// The names in the fixture's directory (the database, its journal, lock notes), `migrations`
    /// aside: what a command left behind.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("list the fixture directory")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "migrations")
            .collect();
        names.sort();
        names
    }

    /// `db history` as lines.
    pub fn history(&self) -> Vec<String> {
        self.ok(&["db", "history"])
            .stdout
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Asserts that every migration is applied, unmodified, and nothing unknown is, as `db history`
    /// shows it. (`db check` also compares the models with the migrations, which fixture migrations
    /// never match.)
    pub fn assert_at_head(&self) {
        let lines = self.history();
        assert!(!lines.is_empty());
        assert!(
            lines.iter().all(|line| line.starts_with("[x] ")),
            "not at head:\n{}",
            lines.join("\n")
        );
        assert!(
            lines
                .last()
                .is_some_and(|line| line.contains("(current, head)")),
            "{}",
            lines.join("\n")
        );
    }

    /// The folders `db history` marks applied (`[x]`).
    pub fn applied(&self) -> Vec<String> {
        marked(&self.history(), "[x]")
    }
}

fn user_version(conn: &mut SqliteConnection) -> i32 {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        user_version: i32,
    }
    let row: Row = diesel::sql_query("PRAGMA user_version")
        .get_result(conn)
        .expect("read PRAGMA user_version");
    row.user_version
}

/// `2024-01-01-0000NN_step_NN`.
pub fn step_folder(n: usize) -> String {
    format!("2024-01-01-0000{n:02}_step_{n:02}")
}

/// The version of `step_folder(n)`.
pub fn step_version(n: usize) -> String {
    format!("202401010000{n:02}")
}

/// The workhub binary with no workhub variable inherited, run in `dir` (so no `.env` is read).
pub fn workhub_command(dir: &Path) -> Command {
    Command::from_std(std_command(Path::new(env!("CARGO_BIN_EXE_workhub")), dir))
}

/// `binary` as a plain process with no workhub variable inherited, run in `dir`.
pub fn std_command(binary: &Path, dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(binary);
    for variable in WORKHUB_VARIABLES {
        command.env_remove(variable);
    }
    command.current_dir(dir);
    command
}

/// Runs a prepared command and returns its output, whatever the exit code.
pub fn output(command: &mut Command) -> Run {
    Run::from(command.output().expect("run workhub"))
}

/// The folders of history `lines` that carry `mark` (`[x]`, `[ ]`, `[!]`, `[?]`).
pub fn marked(lines: &[String], mark: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix(mark))
        .map(|rest| {
            rest.trim()
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// What one command printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn expect_code(&self, code: i32) {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
    }

    /// Asserts the command failed with `code` and that stderr holds every one of `needles`.
    pub fn expect_failure(&self, code: i32, needles: &[&str]) {
        self.expect_code(code);
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr does not contain {needle:?}:\n{}",
                self.stderr
            );
        }
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Everything in a SQLite database that a migration command could change: every schema object and
/// every row of both history tables. Two equal snapshots mean the command changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub exists: bool,
    pub schema: Vec<(String, String)>,
    pub diesel_rows: Vec<Vec<Option<String>>>,
    pub workhub_rows: Vec<Vec<Option<String>>>,
    /// Every row of every other table, as SQL literals, per table: "unchanged" covers the data too.
    pub rows: Vec<(String, Vec<String>)>,
    /// `PRAGMA user_version`: a refusal leaves it too.
    pub user_version: i32,
    /// The files named after the database beside it (`-journal`, `-wal`, a lock note): a refusal
    /// leaves none behind.
    pub sidecars: Vec<String>,
}

/// The names in `path`'s directory that start with its file name followed by `-`.
fn sidecars(path: &Path) -> Vec<String> {
    let prefix = format!(
        "{}-",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[derive(QueryableByName)]
struct SchemaRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    sql: Option<String>,
}

#[derive(QueryableByName)]
struct DieselRow {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Nullable<Text>)]
    run_on: Option<String>,
}

#[derive(QueryableByName)]
struct WorkhubRow {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Nullable<Text>)]
    folder: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    checksum: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    applied_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    duration_ms: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    stamped: Option<String>,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Every row of `table`, each as its columns' SQL literals (`quote()`), sorted.
fn table_rows(conn: &mut SqliteConnection, table: &str) -> Vec<String> {
    let ident = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let columns: Vec<Line> = diesel::sql_query(format!(
        "SELECT name AS line FROM pragma_table_info('{}') ORDER BY cid",
        table.replace('\'', "''")
    ))
    .load(conn)
    .unwrap_or_else(|e| panic!("read the columns of {table}: {e}"));
    if columns.is_empty() {
        return Vec::new();
    }
    let row = columns
        .iter()
        .map(|c| format!("quote({})", ident(&c.line)))
        .collect::<Vec<_>>()
        .join(" || ', ' || ");
    let rows: Vec<Line> = diesel::sql_query(format!(
        "SELECT {row} AS line FROM {} ORDER BY 1",
        ident(table)
    ))
    .load(conn)
    .unwrap_or_else(|e| panic!("read the rows of {table}: {e}"));
    rows.into_iter().map(|r| r.line).collect()
}

impl Snapshot {
    pub fn of(path: &Path) -> Self {
        if !path.exists() {
            return Self {
                exists: false,
                schema: Vec::new(),
                diesel_rows: Vec::new(),
                workhub_rows: Vec::new(),
                rows: Vec::new(),
                user_version: 0,
                sidecars: sidecars(path),
            };
        }
        let mut conn =
            SqliteConnection::establish(&path.to_string_lossy()).expect("open the database");
        let schema: Vec<SchemaRow> = diesel::sql_query(
            "SELECT type || ' ' || name AS name, sql FROM sqlite_master ORDER BY type, name",
        )
        .load(&mut conn)
        .expect("read sqlite_master");
        let schema: Vec<(String, String)> = schema
            .into_iter()
            .map(|row| (row.name, row.sql.unwrap_or_default()))
            .collect();
        let has = |table: &str| {
            schema
                .iter()
                .any(|(name, _)| name == &format!("table {table}"))
        };
        let diesel_rows = if has("__diesel_schema_migrations") {
            let rows: Vec<DieselRow> = diesel::sql_query(
                "SELECT version, CAST(run_on AS TEXT) AS run_on FROM __diesel_schema_migrations ORDER BY version",
            )
            .load(&mut conn)
            .expect("read __diesel_schema_migrations");
            rows.into_iter()
                .map(|row| vec![Some(row.version), row.run_on])
                .collect()
        } else {
            Vec::new()
        };
        let workhub_rows = if has("__workhub_migrations") {
            let rows: Vec<WorkhubRow> = diesel::sql_query(
                "SELECT version, folder, checksum, CAST(applied_at AS TEXT) AS applied_at, \
                 CAST(duration_ms AS TEXT) AS duration_ms, CAST(stamped AS TEXT) AS stamped \
                 FROM __workhub_migrations ORDER BY version",
            )
            .load(&mut conn)
            .expect("read __workhub_migrations");
            rows.into_iter()
                .map(|row| {
                    vec![
                        Some(row.version),
                        row.folder,
                        row.checksum,
                        row.applied_at,
                        row.duration_ms,
                        row.stamped,
                    ]
                })
                .collect()
        } else {
            Vec::new()
        };
        let rows = schema
            .iter()
            .filter_map(|(name, _)| name.strip_prefix("table "))
            .filter(|name| !name.starts_with("__") && !name.starts_with("sqlite_"))
            .map(|table| (table.to_string(), table_rows(&mut conn, table)))
            .collect();
        Self {
            exists: true,
            schema,
            diesel_rows,
            workhub_rows,
            rows,
            user_version: user_version(&mut conn),
            sidecars: sidecars(path),
        }
    }

    /// The user tables (neither SQLite's nor the history's), sorted.
    pub fn tables(&self) -> Vec<String> {
        self.schema
            .iter()
            .filter_map(|(name, _)| name.strip_prefix("table "))
            .filter(|name| !name.starts_with("__") && !name.starts_with("sqlite_"))
            .map(str::to_string)
            .collect()
    }

    /// The versions `__diesel_schema_migrations` holds, in order.
    pub fn versions(&self) -> Vec<String> {
        self.diesel_rows
            .iter()
            .filter_map(|row| row[0].clone())
            .collect()
    }

    /// The folders `__workhub_migrations` holds, in version order.
    pub fn folders(&self) -> Vec<String> {
        self.workhub_rows
            .iter()
            .filter_map(|row| row[1].clone())
            .collect()
    }
}

/// Starts `processes` copies of `workhub --migrate-only` on `database_url` and the fixture's
/// migrations at the same moment, and waits for all of them.
pub fn migrate_at_once(fixture: &Fixture, database_url: &str, processes: usize) -> Vec<Run> {
    let children: Vec<_> = (0..processes)
        .map(|_| {
            std_command(Path::new(env!("CARGO_BIN_EXE_workhub")), fixture.dir.path())
                .env("DATABASE_URL", database_url)
                .env("WORKHUB_MIGRATIONS_DIR", fixture.migrations())
                .arg("--migrate-only")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start workhub")
        })
        .collect();
    children
        .into_iter()
        .map(|child| Run::from(child.wait_with_output().expect("wait for workhub")))
        .collect()
}

/// Asserts every run exited 0 with nothing on stderr but the lock's waiting notice (naming a holder
/// that starts with `holder`), that each of `expected` was applied by exactly one run, and that the
/// lock held for whole runs: one run applied everything and the others found nothing to do.
pub fn assert_each_applied_once(runs: &[Run], expected: &[String], holder: &str) {
    let mut applied_by = Vec::new();
    for run in runs {
        run.expect_code(0);
        for line in run.stderr.lines() {
            assert!(
                line.starts_with(&format!("waiting for the migration lock, held by {holder}")),
                "unexpected stderr line: {line}\n{}",
                run.stderr
            );
        }
        applied_by.extend(
            run.stdout
                .lines()
                .filter(|line| line.contains("] applied "))
                .map(|line| {
                    line.split_whitespace()
                        .nth(2)
                        .unwrap_or_default()
                        .to_string()
                }),
        );
    }
    applied_by.sort();
    assert_eq!(
        applied_by, expected,
        "each migration applied by exactly one process"
    );
    let everything = format!("Applied {} migrations", expected.len());
    let applied_all = runs
        .iter()
        .filter(|run| run.stdout.contains(&everything))
        .count();
    let nothing = runs
        .iter()
        .filter(|run| run.stdout.contains("Nothing to apply"))
        .count();
    assert_eq!((applied_all, nothing), (1, runs.len() - 1), "{runs:#?}");
}

/// An external tool this test needs, or `None` after a visible skip notice; under `CI=true` a
/// missing tool fails the test instead.
pub fn tool(test: &str, name: &str) -> Option<std::path::PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(std::path::PathBuf::from)
        .chain([std::path::Path::new(&home).join(".cargo/bin")])
        .map(|dir| dir.join(name))
        .collect::<Vec<_>>();
    if let Some(found) = candidates.into_iter().find(|path| path.is_file()) {
        return Some(found);
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
        "{test}: `{name}` is not installed, and CI=true requires it"
    );
    workhub_migrations::testing::skipped(&format!("SKIPPED {test}: `{name}` is not installed"));
    None
}
