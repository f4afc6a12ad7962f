//! `workhub-dev` generates, checks and rebases migrations over the tables alone: its build graph holds
//! nothing of the service, so a model change that breaks the service's code still generates its
//! migration.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The variables the migration commands read; every command starts without them.
const VARIABLES: [&str; 4] = [
    "DATABASE_URL",
    "WORKHUB_ENV",
    "WORKHUB_MIGRATIONS_DIR",
    "WORKHUB_LOCK_TIMEOUT",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `workhub-dev ARGS` in `dir`, with no workhub variable inherited.
fn dev(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_workhub-dev"));
    command.current_dir(dir).args(args);
    for variable in VARIABLES {
        command.env_remove(variable);
    }
    command.output().expect("run workhub-dev")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `workhub-dev ARGS` and returns its stdout, failing the test unless it exits 0.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = dev(dir, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "workhub-dev {args:?}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn the_generating_binary_builds_without_the_service() {
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args([
            "tree",
            "--offline",
            "-p",
            "workhub-dev",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "cargo tree:\n{}", text(&out.stderr));
    let tree = text(&out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    for needed in [
        "workhub-dev",
        "workhub-models",
        "workhub-migrate-cli",
        "workhub-migrations",
    ] {
        assert!(crates.contains(&needed), "{needed} missing:\n{tree}");
    }
    for service in [
        "workhub",
        "axum",
        "tokio",
        "tracing-subscriber",
        "argon2",
        "utoipa",
    ] {
        assert!(
            !crates.contains(&service),
            "workhub-dev must not depend on {service} (the service's code): \n{tree}"
        );
    }
}

#[test]
fn create_check_and_rebase_run_over_the_tables() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let migrations = dir.join("migrations");
    let db = dir.join("dev.db");
    let (migrations_arg, db_arg) = (
        migrations.to_str().unwrap().to_string(),
        db.to_str().unwrap().to_string(),
    );
    let with = |args: &[&str]| -> Vec<String> {
        let mut all = vec![
            "--migrations-dir".to_string(),
            migrations_arg.clone(),
            "--database-url".to_string(),
            db_arg.clone(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        all
    };
    let run = |args: &[&str]| {
        let args = with(args);
        ok(dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // The first migration of a directory that does not exist yet: the whole model.
    let created = run(&["db", "create", "initial"]);
    assert!(created.contains("Detected 6 changes:"), "{created}");
    assert!(created.contains("  added table tasks"), "{created}");
    assert!(created.contains("Created "), "{created}");
    let folders: Vec<PathBuf> = std::fs::read_dir(&migrations)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let up = std::fs::read_to_string(folders[0].join("up.sql")).unwrap();
    assert!(up.contains("CREATE TABLE \"tasks\""), "{up}");
    assert!(folders[0].join("up.postgres.sql").is_file());
    assert!(folders[0].join("lineage.toml").is_file());

    let again = run(&["db", "create", "again"]);
    assert!(again.starts_with("No changes detected"), "{again}");

    // On a copy of the repository's history, the models are compared with the migrations.
    std::fs::remove_dir_all(&migrations).unwrap();
    copy_dir(&workspace().join("migrations"), &migrations);
    let upgraded = run(&["db", "upgrade"]);
    assert!(upgraded.contains("\nApplied "), "{upgraded}");
    let checked = run(&["db", "check"]);
    assert!(
        checked.starts_with("OK: ") && checked.contains("the models match the migrations"),
        "{checked}"
    );
    let unchanged = run(&["db", "create", "unchanged"]);
    assert!(unchanged.starts_with("No changes detected"), "{unchanged}");
    let rebased = run(&["db", "rebase"]);
    assert!(rebased.contains("Nothing to rebase"), "{rebased}");

    // A refusal keeps workhub's exit codes: 2 for usage.
    let out = dev(dir, &["db", "create", "42"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn it_carries_the_repositorys_migrations() {
    let scratch = tempfile::tempdir().unwrap();
    let db = scratch.path().join("history.db");
    // `db history` reads an existing database only; an empty file is an empty SQLite database.
    std::fs::File::create(&db).unwrap();
    let listed = ok(
        scratch.path(),
        &["--database-url", db.to_str().unwrap(), "db", "history"],
    );
    let mut folders: Vec<String> = std::fs::read_dir(workspace().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert!(!folders.is_empty());
    let pending: Vec<&str> = listed
        .lines()
        .filter_map(|line| line.strip_prefix("[ ] "))
        .map(|rest| rest.split(' ').next().unwrap())
        .collect();
    assert_eq!(pending, folders, "{listed}");
}

#[test]
fn without_a_command_it_says_what_is_needed() {
    let scratch = tempfile::tempdir().unwrap();
    let out = dev(scratch.path(), &["--database-url", "x.db"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("error: a command is needed: `db SUBCOMMAND`"),
        "{}",
        text(&out.stderr)
    );
    assert!(!scratch.path().join("x.db").exists());
}
