//! The build script warns (and still builds) when the migrations it embeds have diverged, or when
//! `lineage.head` does not name the newest: `db rebase`, which resolves both, runs from this binary.
//! It builds into the embedding tests' own target directory, so it never replaces the binary the
//! other tests run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Run;
use workhub_migrations::schema::draft;
use workhub_migrations::schema::rebase::migration_of;
use workhub_migrations::schema::{scratch, Schema};
use workhub_migrations::source::lineage;
use workhub_migrations::Target;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn build(migrations: &Path) -> Run {
    let output = common::reuse_bundled_openssl(&mut Command::new(env!("CARGO")))
        .current_dir(workspace())
        .args(["build", "--offline", "-p", "workhub"])
        .env(
            "CARGO_TARGET_DIR",
            workspace().join("target").join("embedding-test"),
        )
        .env("WORKHUB_EMBED_MIGRATIONS_DIR", migrations)
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("run cargo build");
    Run::from(output)
}

#[test]
fn the_build_warns_of_diverged_migrations_and_a_stale_head_file() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    let models = workhub_models::schema();
    let mut without_due_on = models.clone();
    for table in &mut without_due_on.tables {
        table.columns.retain(|c| c.name != "due_on");
    }
    let parent = draft::generated(
        "2024-01-01-000000_initial",
        None,
        &Schema::default(),
        &without_due_on,
    )
    .unwrap();
    let built = scratch::built_by(&[migration_of(&parent).unwrap()], &Target::Head).unwrap();
    let a = draft::generated("2024-01-02-000000_a", Some(&parent.folder), &built, &models).unwrap();
    let b = draft::hand_written(
        "2024-01-03-000000_b",
        Some(&parent.folder),
        &built,
        vec![("up.sql", "UPDATE tasks SET title = trim(title);\n".into())],
    );
    for draft in [&parent, &a, &b] {
        let folder = migrations.join(&draft.folder);
        std::fs::create_dir_all(&folder).unwrap();
        for (name, text) in &draft.files {
            std::fs::write(folder.join(name), text).unwrap();
        }
    }
    std::fs::write(migrations.join(lineage::HEAD_FILE), "2024-01-02-000000_a\n").unwrap();
    let run = build(&migrations);
    run.expect_code(0);
    for needle in [
        "migrations have diverged: 2024-01-02-000000_a and 2024-01-03-000000_b were both written after \
         2024-01-01-000000_initial; both touch tasks; run `just migrate-rebase`",
        "lineage.head names 2024-01-02-000000_a, but the newest migration is 2024-01-03-000000_b",
    ] {
        assert!(run.stderr.contains(needle), "{needle}:\n{}", run.stderr);
    }
}
