//! Migrators of one SQLite file exclude each other with the migration lock: many processes starting at
//! once apply each migration exactly once, and a process that cannot get the lock says who holds it.

mod common;

use std::time::Duration;

use common::{assert_each_applied_once, migrate_at_once, output, step_folder, Fixture};
use workhub_migrations::apply::FileLock;

const MIGRATIONS: usize = 20;
const PROCESSES: usize = 8;

#[test]
fn eight_processes_migrating_at_once_apply_each_migration_exactly_once() {
    let fixture = Fixture::with_steps(MIGRATIONS);
    let runs = migrate_at_once(&fixture, &fixture.db().to_string_lossy(), PROCESSES);
    let expected: Vec<String> = (1..=MIGRATIONS).map(step_folder).collect();
    assert_each_applied_once(&runs, &expected, "pid ");

    let snapshot = fixture.snapshot();
    assert_eq!(snapshot.folders(), expected);
    assert_eq!(snapshot.versions().len(), MIGRATIONS);
    assert_eq!(snapshot.tables().len(), MIGRATIONS);
    fixture.assert_at_head();
}

#[test]
fn a_held_lock_makes_a_migrator_wait_then_give_up_naming_the_holder() {
    let fixture = Fixture::with_steps(2);
    fixture.ok(&["db", "upgrade", "+1"]);

    let lock = FileLock::acquire(&fixture.db(), Duration::ZERO, &mut |holder| {
        panic!("nobody else holds the lock yet, but {holder} does")
    })
    .expect("take the migration lock");
    // The holder's note is part of the picture while the lock is held; the sidecar older builds lock
    // is there since the first upgrade.
    let before = fixture.snapshot();
    assert_eq!(
        before.sidecars,
        vec![
            "workhub.db-migrate-holder".to_string(),
            "workhub.db-migrate-lock".to_string()
        ]
    );
    let holder = format!("pid {}", std::process::id());
    for args in [
        &["db", "upgrade"][..],
        &["--migrate-only"],
        &["db", "stamp", "head", "--force"],
        &["db", "reset"],
    ] {
        let run = output(
            fixture
                .workhub()
                .env("WORKHUB_LOCK_TIMEOUT", "0.5")
                .args(args),
        );
        run.expect_failure(
            1,
            &[
                &format!("waiting for the migration lock, held by {holder}"),
                "gave up after",
                &format!("waiting for the migration lock, held by {holder}"),
                "WORKHUB_LOCK_TIMEOUT",
            ],
        );
        assert_eq!(
            fixture.snapshot(),
            before,
            "`{}` changed the database",
            args.join(" ")
        );
    }
    // Read-only commands do not take the lock.
    fixture.ok(&["db", "history"]);
    drop(lock);
    assert_eq!(
        fixture.snapshot().sidecars,
        vec!["workhub.db-migrate-lock".to_string()],
        "the note goes with the lock, the older builds' sidecar stays"
    );

    let run = fixture.ok(&["db", "upgrade"]);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(fixture.applied().len(), 2);
}

/// One lock per database however it is reached: 8 processes through a symlink, a hard link, relative
/// and absolute paths, `./` and `sqlite://`, on migrations that run outside a transaction and insert a
/// row, apply every migration exactly once and all exit 0. (A race by nature, so it may pass by luck;
/// `another_process_holding_the_lock_keeps_out_every_path_to_the_file` cannot.)
#[test]
fn eight_processes_through_different_paths_apply_each_migration_exactly_once() {
    const INSERTS: usize = 9;
    for round in 0..3 {
        let fixture = Fixture::new();
        fixture.migration(
            "2024-01-01-000001_hits",
            "CREATE TABLE hits (n INTEGER NOT NULL);\n",
            None,
        );
        for n in 2..=INSERTS + 1 {
            let folder = fixture.migration(
                &format!("2024-01-01-0000{n:02}_hit_{n:02}"),
                &format!("INSERT INTO hits (n) VALUES ({n});\n"),
                None,
            );
            std::fs::write(folder.join("metadata.toml"), "run_in_transaction = false\n").unwrap();
        }
        // A hard link needs the file to exist; so does a symlink's target, for SQLite to open it.
        fixture.execute("SELECT 1;");
        let dir = fixture.dir.path();
        let symlink = dir.join("link.db");
        std::os::unix::fs::symlink(fixture.db(), &symlink).unwrap();
        let hard = dir.join("hard.db");
        std::fs::hard_link(fixture.db(), &hard).unwrap();
        let parent = format!(
            "../{}/workhub.db",
            dir.file_name().unwrap().to_string_lossy()
        );
        let urls = [
            fixture.db().display().to_string(),
            symlink.display().to_string(),
            hard.display().to_string(),
            "workhub.db".to_string(),
            "./workhub.db".to_string(),
            "sqlite://workhub.db".to_string(),
            format!("sqlite://{}", symlink.display()),
            parent,
        ];
        let children: Vec<_> = urls
            .iter()
            .map(|url| {
                common::std_command(std::path::Path::new(env!("CARGO_BIN_EXE_workhub")), dir)
                    .env("DATABASE_URL", url)
                    .env("WORKHUB_MIGRATIONS_DIR", fixture.migrations())
                    .arg("--migrate-only")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start workhub")
            })
            .collect();
        let runs: Vec<common::Run> = children
            .into_iter()
            .map(|child| common::Run::from(child.wait_with_output().unwrap()))
            .collect();
        let mut applied: Vec<String> = Vec::new();
        for (url, run) in urls.iter().zip(&runs) {
            assert_eq!(run.code, Some(0), "round {round}, {url}: {run:#?}");
            applied.extend(
                run.stdout
                    .lines()
                    .filter(|line| line.contains("] applied "))
                    .map(|line| line.split_whitespace().nth(2).unwrap().to_string()),
            );
        }
        applied.sort();
        assert_eq!(applied.len(), INSERTS + 1, "round {round}: {runs:#?}");
        applied.dedup();
        assert_eq!(applied.len(), INSERTS + 1, "round {round}: applied twice");
        assert_eq!(fixture.count("hits"), INSERTS as i64, "round {round}");
        assert_eq!(
            fixture.count("(SELECT DISTINCT n FROM hits)"),
            INSERTS as i64,
            "round {round}: a row inserted twice"
        );
        assert_eq!(fixture.snapshot().versions().len(), INSERTS + 1);
        // No lock note is left behind once every run is done.
        assert!(
            fixture
                .files()
                .iter()
                .all(|name| !name.ends_with("-migrate-holder")),
            "{:?}",
            fixture.files()
        );
    }
}

/// A migrator reverting a migration outside a transaction drops its schema before it forgets its
/// history row, under the lock. A no-op read in between says "head"; so nothing to do is confirmed
/// under the lock: the upgrade waits for the revert to end, then applies the migration again.
#[test]
fn nothing_to_apply_is_confirmed_under_the_lock_before_it_is_answered() {
    use std::io::{BufRead, BufReader};
    for args in [&["--migrate-only"][..], &["db", "upgrade"]] {
        let fixture = Fixture::with_steps(2);
        fixture.ok(&["db", "upgrade"]);

        // Halfway through the revert of step 2: its table is gone, its history row still there.
        let revert = FileLock::acquire(&fixture.db(), Duration::ZERO, &mut |_| {})
            .expect("take the migration lock");
        fixture.execute("DROP TABLE t02;");
        let mut child = common::std_command(
            std::path::Path::new(env!("CARGO_BIN_EXE_workhub")),
            fixture.dir.path(),
        )
        .env("DATABASE_URL", fixture.db())
        .env("WORKHUB_MIGRATIONS_DIR", fixture.migrations())
        .env("WORKHUB_LOCK_TIMEOUT", "20")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start workhub");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        assert!(
            line.contains("waiting for the migration lock"),
            "`{}` answered without waiting for the running revert: {line:?}",
            args.join(" ")
        );
        fixture.execute(&format!(
            "DELETE FROM __diesel_schema_migrations WHERE version = '{v}';
             DELETE FROM __workhub_migrations WHERE version = '{v}';",
            v = common::step_version(2)
        ));
        drop(revert);

        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        assert!(stdout.contains("Applied 1 migration"), "{stdout}");
        assert_eq!(fixture.count("t02"), 0, "step 2's table is back");
        fixture.assert_at_head();
    }
}

/// Another process holding the OS lock on the database file (util-linux `flock`, which writes no
/// holder note) keeps out a migrator reaching the file by any path: each gives up at the timeout,
/// naming the lock, and changes nothing.
#[test]
fn another_process_holding_the_lock_keeps_out_every_path_to_the_file() {
    let test = "another_process_holding_the_lock_keeps_out_every_path_to_the_file";
    let Some(flock) = common::tool(test, "flock") else {
        return;
    };
    let fixture = Fixture::with_steps(2);
    fixture.ok(&["db", "upgrade", "+1"]);
    let dir = fixture.dir.path();
    let symlink = dir.join("link.db");
    std::os::unix::fs::symlink(fixture.db(), &symlink).unwrap();
    let hard = dir.join("hard.db");
    std::fs::hard_link(fixture.db(), &hard).unwrap();
    let urls = [
        fixture.db().display().to_string(),
        symlink.display().to_string(),
        hard.display().to_string(),
        "workhub.db".to_string(),
        "./workhub.db".to_string(),
        "sqlite://workhub.db".to_string(),
        format!("sqlite://{}", symlink.display()),
        format!(
            "../{}/workhub.db",
            dir.file_name().unwrap().to_string_lossy()
        ),
    ];

    // --no-fork: the process holding the lock is the one killed at the end.
    let mut holder = std::process::Command::new(flock)
        .arg("--no-fork")
        .arg(fixture.db())
        .args(["sleep", "60"])
        .spawn()
        .expect("start flock");
    // Held once this process cannot take it either.
    let started = std::time::Instant::now();
    loop {
        match FileLock::acquire_to_read(&fixture.db(), Duration::ZERO, &mut |_| {}) {
            Err(_) => break,
            Ok(lock) => drop(lock),
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "flock never took the lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = fixture.snapshot();
    let files = fixture.files();
    for url in &urls {
        for args in [&["--migrate-only"][..], &["db", "downgrade"]] {
            let run = output(
                common::workhub_command(dir)
                    .env("DATABASE_URL", url)
                    .env("WORKHUB_MIGRATIONS_DIR", fixture.migrations())
                    .env("WORKHUB_LOCK_TIMEOUT", "0.3")
                    .args(args),
            );
            run.expect_failure(
                1,
                &[
                    "gave up after",
                    "waiting for the migration lock, held by another process",
                    "nothing was run",
                ],
            );
            assert_eq!(fixture.snapshot(), before, "{url}: {args:?}");
            assert_eq!(fixture.files(), files, "{url}: {args:?}");
        }
    }
    holder.kill().unwrap();
    holder.wait().unwrap();

    let run = output(
        common::workhub_command(dir)
            .env("DATABASE_URL", &symlink)
            .env("WORKHUB_MIGRATIONS_DIR", fixture.migrations())
            .args(["db", "upgrade"]),
    );
    run.expect_code(0);
    fixture.assert_at_head();
}

/// flock and SQLite's POSIX locks are independent, and taking and releasing the migration lock never
/// closes a descriptor of the file (which would drop every POSIX lock this process holds on it): a
/// write transaction this process holds still keeps another process's writer out afterwards.
#[test]
fn this_process_s_sqlite_locks_survive_the_migration_lock() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    let fixture = Fixture::with_steps(2);
    fixture.ok(&["db", "upgrade", "+1"]);
    let symlink = fixture.dir.path().join("link.db");
    std::os::unix::fs::symlink(fixture.db(), &symlink).unwrap();
    let mut writer = diesel::SqliteConnection::establish(&fixture.db().to_string_lossy()).unwrap();
    writer
        .batch_execute("BEGIN IMMEDIATE; INSERT INTO t01 (id) VALUES (1);")
        .unwrap();
    for path in [fixture.db(), symlink] {
        let lock = FileLock::acquire(&path, Duration::ZERO, &mut |_| {}).unwrap();
        drop(lock);
        let lock = FileLock::acquire_to_read(&path, Duration::ZERO, &mut |_| {}).unwrap();
        drop(lock);
    }
    let before = fixture.snapshot();
    let run = output(
        fixture
            .workhub()
            .env("WORKHUB_LOCK_TIMEOUT", "0.5")
            .args(["db", "upgrade"]),
    );
    run.expect_failure(
        1,
        &[
            "waiting for another connection to finish writing",
            "nothing was changed",
        ],
    );
    assert_eq!(fixture.snapshot(), before);

    writer.batch_execute("ROLLBACK").unwrap();
    fixture.ok(&["db", "upgrade"]);
    fixture.assert_at_head();
}
