//! The build script embeds the migrations of `WORKHUB_EMBED_MIGRATIONS_DIR` and declares every one of
//! their files to cargo: a migration added or edited after a first build is in the next binary, and a bad
//! folder fails the build naming it.
//!
//! The builds go to their own target directory under the workspace's (`target/embedding-test`), so they
//! never replace the `workhub` binary the other tests run. The first build there compiles every
//! dependency once; later ones are incremental.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{marked, std_command, Run};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    workspace().join("target").join("embedding-test")
}

/// `cargo build -p workhub` embedding `migrations`.
fn build(migrations: &Path) -> Run {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(workspace())
        .args(["build", "--offline", "-p", "workhub"])
        .env("CARGO_TARGET_DIR", target_dir())
        .env("WORKHUB_EMBED_MIGRATIONS_DIR", migrations)
        .env("CARGO_TERM_COLOR", "never");
    common::reuse_bundled_openssl(&mut command);
    Run::from(command.output().expect("run cargo build"))
}

/// `workhub db history [-v]` of the freshly built binary, on its embedded migrations.
fn history(scratch: &Path, verbose: bool) -> Vec<String> {
    let binary = target_dir()
        .join("debug")
        .join(format!("workhub{}", std::env::consts::EXE_SUFFIX));
    let mut command = assert_cmd::Command::from_std(std_command(&binary, scratch));
    // `db history` reads an existing database only; an empty file is an empty SQLite database.
    let database = scratch.join("history.db");
    if !database.exists() {
        std::fs::File::create(&database).unwrap();
    }
    let mut args = vec!["db", "history"];
    if verbose {
        args.push("-v");
    }
    let run = common::output(command.env("DATABASE_URL", &database).args(&args));
    run.expect_code(0);
    run.stdout.lines().map(str::to_string).collect()
}

fn write_migration(migrations: &Path, folder: &str, table: &str) {
    let path = migrations.join(folder);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(
        path.join("up.sql"),
        format!("CREATE TABLE {table} (id INTEGER);\n"),
    )
    .unwrap();
    std::fs::write(path.join("down.sql"), format!("DROP TABLE {table};\n")).unwrap();
}

#[test]
fn the_binary_carries_migrations_added_or_edited_after_a_build() {
    let scratch = tempfile::tempdir().unwrap();
    let migrations = scratch.path().join("migrations");
    let first = "2031-01-01-000000_embedded_first";
    let second = "2031-01-02-000000_embedded_second";
    write_migration(&migrations, first, "first_table");

    build(&migrations).expect_code(0);
    assert_eq!(marked(&history(scratch.path(), false), "[ ]"), vec![first]);

    write_migration(&migrations, second, "second_table");
    build(&migrations).expect_code(0);
    assert_eq!(
        marked(&history(scratch.path(), false), "[ ]"),
        vec![first, second]
    );

    std::fs::write(
        migrations.join(first).join("metadata.toml"),
        "run_in_transaction = false\n",
    )
    .unwrap();
    build(&migrations).expect_code(0);
    let lines = history(scratch.path(), true);
    let at = lines
        .iter()
        .position(|line| line.ends_with(first))
        .expect("first listed");
    assert!(
        lines[at + 1].contains("runs outside a transaction"),
        "{lines:#?}"
    );

    // A name diesel accepts but `db create` would not write warns and is embedded.
    let odd = "2031-01-03-000000_Not-A-Name";
    write_migration(&migrations, odd, "third_table");
    let warned = build(&migrations);
    warned.expect_code(0);
    assert!(
        warned.stderr.contains("warning: workhub@")
            && warned.stderr.contains(&format!(
                "`{odd}`: not named as `workhub db create` names folders"
            )),
        "{}",
        warned.stderr
    );
    assert_eq!(
        marked(&history(scratch.path(), false), "[ ]"),
        vec![first, second, odd]
    );
    // The binary carries the warning for `db check` (which fails here: nothing is applied).
    let binary = target_dir()
        .join("debug")
        .join(format!("workhub{}", std::env::consts::EXE_SUFFIX));
    let check = common::output(
        assert_cmd::Command::from_std(std_command(&binary, scratch.path()))
            .env("DATABASE_URL", scratch.path().join("history.db"))
            .args(["db", "check"]),
    );
    assert!(
        check
            .stderr
            .contains(&format!("warning: migrations: `{odd}`: not named as")),
        "{}",
        check.stderr
    );

    // A folder diesel refuses (no up.sql) fails the build, naming it.
    let bad = "2031-01-04-000000_no_up";
    std::fs::create_dir_all(migrations.join(bad)).unwrap();
    std::fs::write(migrations.join(bad).join("down.sql"), "SELECT 1;\n").unwrap();
    let failed = build(&migrations);
    assert_ne!(
        failed.code,
        Some(0),
        "a bad folder must fail the build:\n{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains(&format!("migration folder `{bad}` has no up.sql")),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("hint:"), "{}", failed.stderr);
}
