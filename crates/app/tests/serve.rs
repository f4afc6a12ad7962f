//! `workhub serve`: development mode migrates, listens and answers /health, and stops cleanly on
//! SIGTERM; production mode refuses a database that is not at head, changing nothing (on SQLite,
//! and with the `mysql` feature on MySQL, where it serves once the release step has run).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{output, std_command, step_folder, step_version, Fixture};

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free port")
        .port()
}

/// `GET path` with a hand-written HTTP/1.1 request; returns the status line and the body.
fn get(port: u16, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to workhub");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

/// Kills the server if a test fails before it stops it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn development_mode_migrates_serves_health_and_stops_on_sigterm() {
    let fixture = Fixture::with_steps(2);
    let port = free_port();
    let child = std_command(Path::new(env!("CARGO_BIN_EXE_workhub")), fixture.dir.path())
        .env("DATABASE_URL", fixture.db())
        .env("WORKHUB_MIGRATIONS_DIR", fixture.migrations())
        .env("WORKHUB_ENV", "development")
        .env("WORKHUB_ADDR", format!("127.0.0.1:{port}"))
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start workhub serve");
    let mut server = Server(child);
    let mut stdout = BufReader::new(server.0.stdout.take().expect("piped stdout"));

    // Read until the service says it listens: by then the migrations ran.
    let (before_listening, line) = until_listening(&mut stdout);
    assert!(line.contains(&format!("http://127.0.0.1:{port}")), "{line}");
    assert!(line.contains("development mode"), "{line}");
    assert!(
        before_listening.contains("Applied 2 migrations"),
        "{before_listening}"
    );
    assert_eq!(
        fixture.snapshot().folders(),
        vec![step_folder(1), step_folder(2)]
    );

    let health = health(port);
    assert_eq!(health["backend"], "sqlite", "{health}");
    assert_eq!(health["revision"], step_version(2).as_str(), "{health}");

    let rest = stop(&mut server, &mut stdout);
    assert!(rest.contains("workhub stopped"), "{rest}");
}

/// Reads the service's output until it says it listens: what came before, and that line.
fn until_listening(stdout: &mut impl BufRead) -> (String, String) {
    let mut before = String::new();
    loop {
        let mut line = String::new();
        let read = stdout.read_line(&mut line).expect("read workhub's output");
        assert!(read > 0, "workhub exited before listening:\n{before}");
        if line.starts_with("workhub listening on ") {
            return (before, line);
        }
        before.push_str(&line);
    }
}

/// `/health` of the service on `port`, asserting it answers 200 with status `ok` and nothing
/// pending.
fn health(port: u16) -> serde_json::Value {
    let (status, body) = get(port, "/health");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("/health returns JSON");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["pending"], 0, "{health}");
    health
}

/// Sends the service SIGTERM, asserts it exits 0, and returns what it wrote after `stdout`'s last
/// read.
fn stop(server: &mut Server, stdout: &mut impl Read) -> String {
    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = server.0.wait().expect("wait for workhub");
    assert_eq!(status.code(), Some(0), "workhub serve exits 0 on SIGTERM");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    rest
}

#[test]
fn production_mode_refuses_a_database_behind_head() {
    let fixture = Fixture::with_steps(1);
    fixture.ok(&["db", "upgrade"]);
    fixture.step(2);
    let before = fixture.snapshot();
    let run = output(
        fixture
            .workhub()
            .env("WORKHUB_ENV", "production")
            .env("WORKHUB_ADDR", format!("127.0.0.1:{}", free_port()))
            .arg("serve"),
    );
    run.expect_failure(
        1,
        &[
            "production mode",
            "is not at this binary's head",
            &format!("pending: {}", step_folder(2)),
            "workhub --migrate-only",
        ],
    );
    assert!(!run.stdout.contains("listening"), "{}", run.stdout);
    assert_eq!(fixture.snapshot(), before);

    // After the release step the same command would start: the database is at head.
    fixture.ok(&["--migrate-only"]);
    fixture.assert_at_head();
}

#[test]
fn a_bad_listen_address_is_a_usage_error() {
    let fixture = Fixture::with_steps(1);
    let run = output(
        fixture
            .workhub()
            .env("WORKHUB_ADDR", "localhost-8000")
            .arg("serve"),
    );
    run.expect_failure(2, &["WORKHUB_ADDR=`localhost-8000`", "hint:"]);
    assert!(!fixture.db().exists(), "nothing was migrated");
}

/// On MySQL and MariaDB (a build with the `mysql` feature), with the binary's own migrations:
/// production mode refuses a database the release step has not migrated, creating nothing; after
/// `workhub --migrate-only` the same command serves, `/health` says so, and SIGTERM stops it.
#[cfg(feature = "mysql")]
#[test]
fn production_mode_on_mysql_serves_after_the_release_step() {
    use workhub_migrations::apply::TemporaryMysqlDatabase;
    let test = "production_mode_on_mysql_serves_after_the_release_step";
    let Some(mysql) = workhub_migrations::testing::mysql_server(test) else {
        return;
    };
    let database = TemporaryMysqlDatabase::create(&mysql, "serve").expect("a test database");
    let workhub_migrations::DatabaseUrl::Mysql(url) = database.url() else {
        unreachable!("a MySQL server's database has a MySQL URL")
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let port = free_port();
    let workhub = || {
        let mut command = std_command(Path::new(env!("CARGO_BIN_EXE_workhub")), dir.path());
        command
            .env("DATABASE_URL", url)
            .env("WORKHUB_ENV", "production")
            .env("WORKHUB_ADDR", format!("127.0.0.1:{port}"));
        command
    };
    let refused = output(&mut assert_cmd::Command::from_std({
        let mut command = workhub();
        command.arg("serve");
        command
    }));
    refused.expect_failure(
        1,
        &[
            "production mode",
            "is not at this binary's head",
            "workhub --migrate-only",
        ],
    );
    let mut admin = {
        use diesel::Connection;
        diesel::MysqlConnection::establish(url).expect("connect")
    };
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let tables = |admin: &mut diesel::MysqlConnection| {
        use diesel::RunQueryDsl;
        diesel::sql_query(
            "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        )
        .get_result::<Count>(admin)
        .expect("count the tables")
        .n
    };
    assert_eq!(tables(&mut admin), 0, "the refusal created nothing");

    let release = output(&mut assert_cmd::Command::from_std({
        let mut command = workhub();
        command.arg("--migrate-only");
        command
    }));
    release.expect_code(0);
    assert!(tables(&mut admin) > 0, "the release step migrated");

    let mut server = Server(
        workhub()
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start workhub serve"),
    );
    let mut stdout = BufReader::new(server.0.stdout.take().expect("piped stdout"));
    let (_, line) = until_listening(&mut stdout);
    assert!(line.contains("production mode"), "{line}");
    let health = health(port);
    assert_eq!(health["backend"], "mysql", "{health}");
    let rest = stop(&mut server, &mut stdout);
    assert!(rest.contains("workhub stopped"), "{rest}");
}
