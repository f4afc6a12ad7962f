//! An existing diesel project switches to workhub unchanged. The fixture under
//! `tests/fixtures/diesel_postgres/migrations` stands for a mature diesel history on PostgreSQL (diesel's
//! setup folder, every folder-name form diesel accepts, migrations outside a transaction, dollar quotes,
//! escape strings, extensions, a `down.sql` that fails, loose files). workhub and diesel_cli apply it
//! into two databases, revert it, and take turns on it; `pg_dump --schema-only` and the version rows
//! must agree every time. A smaller SQLite fixture goes through the same with both tools.
//!
//! The tests need diesel_cli (`WORKHUB_TEST_DIESEL`, else `~/.cargo/bin/diesel`, else `diesel` on the
//! PATH; `.ci/run` installs it) and, for PostgreSQL, a server and `pg_dump`. When one is missing they
//! print `SKIPPED ...`; with `CI=true` they fail instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{output, workhub_command, Run};
use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use workhub_migrations::apply::TemporaryDatabase;
use workhub_migrations::testing::postgres_server;
use workhub_migrations::DatabaseUrl;

const POSTGRES_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/diesel_postgres/migrations"
);
const SQLITE_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/diesel_sqlite/migrations"
);

/// The folder whose `down.sql` fails on purpose: every full revert stops there.
const IRREVERSIBLE: &str = "2017-02-02-000000_drop_user_name";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `None` after a visible skip notice (a failure under CI=true) when `what` is missing.
fn required(test: &str, what: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_none() {
        assert!(
            !in_ci(),
            "{test}: {what} is missing, and CI=true requires it"
        );
        workhub_migrations::testing::skipped(&format!("SKIPPED {test}: {what} is missing"));
    }
    found
}

/// Whether `program --version` runs.
fn runs(program: &Path) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

fn diesel_cli(test: &str) -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let candidates = std::env::var_os("WORKHUB_TEST_DIESEL")
        .map(PathBuf::from)
        .into_iter()
        .chain(home.map(|home| home.join("bin").join("diesel")))
        .chain([PathBuf::from("diesel")]);
    let found = candidates.into_iter().find(|path| runs(path));
    required(
        test,
        "diesel_cli (set WORKHUB_TEST_DIESEL, or `cargo install diesel_cli --version 2.3.14 --locked \
         --no-default-features --features \"postgres-bundled sqlite-bundled\"`)",
        found,
    )
}

/// Everything a PostgreSQL comparison needs, or `None` after the skip notice.
struct Postgres {
    server: DatabaseUrl,
    diesel: PathBuf,
    pg_dump: PathBuf,
    /// Where both tools run, so neither reads a stray `.env` or `diesel.toml`.
    cwd: tempfile::TempDir,
}

impl Postgres {
    fn new(test: &str) -> Option<Self> {
        let diesel = diesel_cli(test)?;
        let pg_dump = Some(PathBuf::from("pg_dump")).filter(|p| runs(p));
        let pg_dump = required(test, "pg_dump", pg_dump)?;
        let server = postgres_server(test)?;
        Some(Self {
            server,
            diesel,
            pg_dump,
            cwd: tempfile::tempdir().unwrap(),
        })
    }

    fn database(&self) -> TemporaryDatabase {
        TemporaryDatabase::create(&self.server, "diesel").expect("create a test database")
    }

    fn workhub(&self, db: &TemporaryDatabase, migrations: &Path, args: &[&str]) -> Run {
        output(
            workhub_command(self.cwd.path())
                .env("DATABASE_URL", url(db))
                .env("WORKHUB_MIGRATIONS_DIR", migrations)
                .args(args),
        )
    }

    fn diesel(&self, db: &TemporaryDatabase, migrations: &Path, args: &[&str]) -> Run {
        diesel(&self.diesel, self.cwd.path(), &url(db), migrations, args)
    }

    /// The schema as `pg_dump` prints it, without workhub's companion table (diesel_cli has none) and
    /// without the random key pg_dump's `\restrict` lines carry.
    fn schema(&self, db: &TemporaryDatabase) -> String {
        let out = Command::new(&self.pg_dump)
            .args([
                "--schema-only",
                "--no-owner",
                "--no-privileges",
                "--exclude-table=__workhub_migrations",
                "--dbname",
            ])
            .arg(url(db))
            .output()
            .expect("run pg_dump");
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn diesel(program: &Path, cwd: &Path, url: &str, migrations: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(program);
    command
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .args(args)
        .arg("--database-url")
        .arg(url)
        .arg("--migration-dir")
        .arg(migrations);
    Run::from(command.output().expect("run diesel_cli"))
}

fn url(db: &TemporaryDatabase) -> String {
    match db.url() {
        DatabaseUrl::Postgres(raw) => raw.clone(),
        _ => unreachable!("a temporary database is PostgreSQL"),
    }
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct Row {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Text)]
    b: String,
}

fn pg_rows(db: &TemporaryDatabase, sql: &str) -> Vec<(String, String)> {
    let mut conn = PgConnection::establish(&url(db)).expect("connect");
    diesel::sql_query(sql)
        .load::<Row>(&mut conn)
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .into_iter()
        .map(|row| (row.a, row.b))
        .collect()
}

const VERSIONS: &str =
    "SELECT version AS a, '' AS b FROM __diesel_schema_migrations ORDER BY version";

fn versions(db: &TemporaryDatabase) -> Vec<String> {
    pg_rows(db, VERSIONS).into_iter().map(|(v, _)| v).collect()
}

fn settings(db: &TemporaryDatabase) -> Vec<(String, String)> {
    pg_rows(
        db,
        "SELECT key AS a, value AS b FROM site_settings ORDER BY key",
    )
}

/// The fixture's versions by diesel's rule, in diesel's order.
fn fixture_versions(dir: &str) -> Vec<String> {
    workhub_migrations::source::scan(Path::new(dir))
        .expect("the fixture scans")
        .migrations
        .iter()
        .map(|m| m.version().to_string())
        .collect()
}

fn fixture_folders(dir: &str) -> Vec<String> {
    workhub_migrations::source::scan(Path::new(dir))
        .expect("the fixture scans")
        .migrations
        .iter()
        .map(|m| m.folder().to_string())
        .collect()
}

/// A copy of `dir` holding only its first `count` migration folders (and its loose files).
fn first_half(dir: &str, count: usize, into: &Path) -> PathBuf {
    let keep = &fixture_folders(dir)[..count];
    let copy = into.join("migrations");
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            if !keep.contains(&name) {
                continue;
            }
            std::fs::create_dir_all(copy.join(&name)).unwrap();
            for file in std::fs::read_dir(entry.path()).unwrap() {
                let file = file.unwrap();
                std::fs::copy(file.path(), copy.join(&name).join(file.file_name())).unwrap();
            }
        } else {
            std::fs::create_dir_all(&copy).unwrap();
            std::fs::copy(entry.path(), copy.join(&name)).unwrap();
        }
    }
    copy
}

#[test]
fn workhub_and_diesel_cli_build_and_revert_a_diesel_history_identically() {
    let Some(pg) =
        Postgres::new("workhub_and_diesel_cli_build_and_revert_a_diesel_history_identically")
    else {
        return;
    };
    let fixture = Path::new(POSTGRES_FIXTURE);
    let expected = fixture_versions(POSTGRES_FIXTURE);
    assert_eq!(expected.len(), 30, "{expected:?}");
    assert_eq!(expected[0], "00000000000000");

    let by_workhub = pg.database();
    let by_diesel = pg.database();
    let upgrade = pg.workhub(&by_workhub, fixture, &["db", "upgrade"]);
    upgrade.expect_code(0);
    assert!(
        upgrade.stdout.contains("Applied 30 migrations"),
        "{}",
        upgrade.stdout
    );
    pg.diesel(&by_diesel, fixture, &["migration", "run"])
        .expect_code(0);

    assert_eq!(versions(&by_workhub), expected);
    assert_eq!(versions(&by_diesel), expected);
    let schema = pg.schema(&by_workhub);
    assert!(
        schema.contains("CREATE TABLE public.\"Audit;Log\""),
        "{schema}"
    );
    assert!(schema.contains("posts_search_idx"), "{schema}");
    assert_eq!(
        schema,
        pg.schema(&by_diesel),
        "pg_dump --schema-only differs"
    );
    // Every quoting form reached the rows the same way.
    let rows = settings(&by_workhub);
    assert_eq!(rows, settings(&by_diesel));
    let value = |key: &str| rows.iter().find(|(k, _)| k == key).unwrap().1.clone();
    assert_eq!(value("motd"), "Line one\nLine two: it's fine; really");
    assert_eq!(value("windows_path"), "C:\\temp\\; not a statement end");
    assert_eq!(value("greeting"), "data; fine");
    assert_eq!(value("shout"), "Don't stop; keep going");

    // workhub takes the database diesel_cli migrated as it is: nothing to apply, and the check passes
    // on PostgreSQL's own terms.
    let noop = pg.workhub(&by_diesel, fixture, &["db", "upgrade"]);
    noop.expect_code(0);
    assert!(noop.stdout.contains("Nothing to apply"), "{}", noop.stdout);
    let check = pg.workhub(&by_diesel, fixture, &["db", "check"]);
    check.expect_code(0);
    assert!(
        check.stdout.contains("the models were not compared"),
        "{}",
        check.stdout
    );
    assert!(
        check.stderr.contains("data_oauth_github.sql"),
        "the loose file is reported: {}",
        check.stderr
    );

    // Reverting everything stops at the same failing down.sql with both tools.
    let revert = pg.workhub(&by_workhub, fixture, &["db", "downgrade", "base"]);
    revert.expect_failure(1, &[IRREVERSIBLE, "the names it dropped are gone"]);
    let diesel_revert = pg.diesel(&by_diesel, fixture, &["migration", "revert", "--all"]);
    assert_ne!(diesel_revert.code, Some(0), "{}", diesel_revert.all());
    assert!(
        diesel_revert.all().contains(IRREVERSIBLE),
        "{}",
        diesel_revert.all()
    );
    let stopped = versions(&by_workhub);
    assert_eq!(stopped.last().map(String::as_str), Some("20170202000000"));
    assert_eq!(stopped, versions(&by_diesel));
    assert_eq!(pg.schema(&by_workhub), pg.schema(&by_diesel));
}

#[test]
fn workhub_and_diesel_cli_take_turns_on_one_history() {
    let Some(pg) = Postgres::new("workhub_and_diesel_cli_take_turns_on_one_history") else {
        return;
    };
    let fixture = Path::new(POSTGRES_FIXTURE);
    let folders = fixture_folders(POSTGRES_FIXTURE);
    let half = folders.len() / 2;
    let reference = pg.database();
    pg.workhub(&reference, fixture, &["db", "upgrade"])
        .expect_code(0);
    let schema = pg.schema(&reference);

    // workhub applies the first half, diesel_cli the rest.
    let workhub_first = pg.database();
    pg.workhub(
        &workhub_first,
        fixture,
        &["db", "upgrade", &folders[half - 1]],
    )
    .expect_code(0);
    assert_eq!(versions(&workhub_first).len(), half);
    pg.diesel(&workhub_first, fixture, &["migration", "run"])
        .expect_code(0);
    assert_eq!(versions(&workhub_first), versions(&reference));
    assert_eq!(pg.schema(&workhub_first), schema);

    // diesel_cli applies the first half (its directory holds no more yet), workhub the rest.
    let copy_root = tempfile::tempdir().unwrap();
    let older = first_half(POSTGRES_FIXTURE, half, copy_root.path());
    let diesel_first = pg.database();
    pg.diesel(&diesel_first, &older, &["migration", "run"])
        .expect_code(0);
    assert_eq!(versions(&diesel_first).len(), half);
    let rest = pg.workhub(&diesel_first, fixture, &["db", "upgrade"]);
    rest.expect_code(0);
    assert!(
        rest.stdout
            .contains(&format!("Applied {} migrations", folders.len() - half)),
        "{}",
        rest.stdout
    );
    assert_eq!(versions(&diesel_first), versions(&reference));
    assert_eq!(pg.schema(&diesel_first), schema);

    // The rows diesel_cli wrote have no checksum until `db repair` proves the schema and records them.
    let companions = |db: &TemporaryDatabase| {
        pg_rows(
            db,
            "SELECT version AS a, '' AS b FROM __workhub_migrations ORDER BY version",
        )
        .len()
    };
    assert_eq!(companions(&diesel_first), folders.len() - half);
    let repair = pg.workhub(&diesel_first, fixture, &["db", "repair"]);
    repair.expect_code(0);
    assert_eq!(
        repair
            .stdout
            .matches("recorded the current checksum of")
            .count(),
        half,
        "{}",
        repair.stdout
    );
    assert_eq!(companions(&diesel_first), folders.len());

    // A schema that drifted from its migrations is never vouched for: repair refuses, naming the
    // difference, and records nothing; check fails the same way.
    let drifted = &workhub_first;
    let mut conn = PgConnection::establish(&url(drifted)).unwrap();
    diesel::sql_query("DROP INDEX posts_recent_published_idx")
        .execute(&mut conn)
        .unwrap();
    let before = companions(drifted);
    let refused = pg.workhub(drifted, fixture, &["db", "repair"]);
    refused.expect_failure(
        1,
        &[
            "cannot record checksums",
            "posts_recent_published_idx",
            "nothing was recorded",
        ],
    );
    assert_eq!(companions(drifted), before);
    let check = pg.workhub(drifted, fixture, &["db", "check"]);
    check.expect_code(1);
    assert!(
        check.stdout.contains("posts_recent_published_idx"),
        "{}",
        check.stdout
    );
}

/// The SQLite fixture's schema, as SQLite stores it.
fn sqlite_schema(path: &Path) -> Vec<(String, String)> {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(
        "SELECT name AS a, COALESCE(sql, '') AS b FROM sqlite_master \
         WHERE tbl_name NOT LIKE '\\_\\_%' ESCAPE '\\' ORDER BY name",
    )
    .load::<Row>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|row| (row.a, row.b))
    .collect()
}

fn sqlite_versions(path: &Path) -> Vec<String> {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(VERSIONS)
        .load::<Row>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|row| row.a)
        .collect()
}

#[test]
fn workhub_and_diesel_cli_agree_on_a_sqlite_history() {
    let Some(diesel_cli) = diesel_cli("workhub_and_diesel_cli_agree_on_a_sqlite_history") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(SQLITE_FIXTURE);
    let by_workhub = dir.path().join("workhub.db");
    let by_diesel = dir.path().join("diesel.db");
    let workhub = |args: &[&str]| {
        output(
            workhub_command(dir.path())
                .env("DATABASE_URL", &by_workhub)
                .env("WORKHUB_MIGRATIONS_DIR", fixture)
                .args(args),
        )
    };
    let diesel = |args: &[&str]| {
        diesel(
            &diesel_cli,
            dir.path(),
            by_diesel.to_str().unwrap(),
            fixture,
            args,
        )
    };
    workhub(&["db", "upgrade"]).expect_code(0);
    diesel(&["migration", "run"]).expect_code(0);
    let expected = fixture_versions(SQLITE_FIXTURE);
    assert_eq!(sqlite_versions(&by_workhub), expected);
    assert_eq!(sqlite_versions(&by_diesel), expected);
    assert_eq!(sqlite_schema(&by_workhub), sqlite_schema(&by_diesel));
    let check = output(
        workhub_command(dir.path())
            .env("DATABASE_URL", &by_diesel)
            .env("WORKHUB_MIGRATIONS_DIR", fixture)
            .args(["db", "check"]),
    );
    check.expect_code(0);
    assert!(
        check
            .stdout
            .contains("its schema is what its applied migrations build"),
        "{}",
        check.stdout
    );

    workhub(&["db", "downgrade", "base"]).expect_code(0);
    diesel(&["migration", "revert", "--all"]).expect_code(0);
    assert!(sqlite_versions(&by_workhub).is_empty());
    assert!(sqlite_versions(&by_diesel).is_empty());
    assert_eq!(sqlite_schema(&by_workhub), sqlite_schema(&by_diesel));
}
