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
    let before = fixture.snapshot();

    let lock = FileLock::acquire(&fixture.db(), Duration::ZERO, &mut |holder| {
        panic!("nobody else holds the lock yet, but {holder} does")
    })
    .expect("take the migration lock");
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

    let run = fixture.ok(&["db", "upgrade"]);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert_eq!(fixture.applied().len(), 2);
}
