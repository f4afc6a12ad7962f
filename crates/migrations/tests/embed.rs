//! The build-script code generator (`embed`): as a function, what it generates, declares and warns
//! about for a directory; and in a real application (`fixtures/embed-app`, built by cargo into its
//! own target directory), that a migration added or edited after a build is in the next binary, that
//! findings and divergences are `cargo:warning`s, and that a bad folder fails the build naming it.
//!
//! The application's build graph is the engine without its runtime feature (no database driver), so
//! its first build is short and later ones are incremental.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use workhub_migrations::embed::{Embed, EmbedError};
use workhub_migrations::source::{self, lineage, Lineage, SourceError};

fn write_migration(migrations: &Path, folder: &str, up: &str) -> PathBuf {
    let path = migrations.join(folder);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("up.sql"), up).unwrap();
    std::fs::write(path.join("down.sql"), "SELECT 1;\n").unwrap();
    path
}

fn table(migrations: &Path, folder: &str, table: &str) -> PathBuf {
    write_migration(
        migrations,
        folder,
        &format!("CREATE TABLE {table} (id INTEGER);\n"),
    )
}

fn write_lineage(folder: &Path, parent: Option<&str>, hand_written: bool, tables: &[&str]) {
    let lineage = Lineage::new(
        parent.map(str::to_string),
        lineage::UNKNOWN_SCHEMA.to_string(),
        hand_written,
        tables.iter().map(|t| t.to_string()).collect(),
    );
    std::fs::write(folder.join(lineage::LINEAGE_FILE), lineage.to_toml()).unwrap();
}

/// Three migrations whose last two were both written after the first: a merge of two branches.
fn diverged(migrations: &Path) {
    let initial = table(migrations, "2024-01-01-000000_initial", "tasks");
    write_lineage(&initial, None, false, &["tasks"]);
    let a = write_migration(
        migrations,
        "2024-01-02-000000_a",
        "ALTER TABLE tasks ADD COLUMN due_on DATE;\n",
    );
    write_lineage(&a, Some("2024-01-01-000000_initial"), false, &["tasks"]);
    let b = write_migration(
        migrations,
        "2024-01-03-000000_b",
        "UPDATE tasks SET id = id;\n",
    );
    write_lineage(&b, Some("2024-01-01-000000_initial"), true, &[]);
    std::fs::write(migrations.join(lineage::HEAD_FILE), "2024-01-02-000000_a\n").unwrap();
}

#[test]
fn the_generated_code_embeds_every_folder_and_declares_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let first = table(dir.path(), "2031-01-01-000000_first", "first_table");
    std::fs::write(first.join("metadata.toml"), "run_in_transaction = false\n").unwrap();
    let second = table(dir.path(), "2031-01-02-000000_second", "second_table");
    std::fs::write(
        second.join("up.mysql.sql"),
        "CREATE TABLE `second_table` (id INT);\n",
    )
    .unwrap();
    std::fs::write(
        second.join("down.mysql.sql"),
        "DROP TABLE `second_table`;\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join(lineage::HEAD_FILE),
        "2031-01-02-000000_second\n",
    )
    .unwrap();

    let generated = Embed::new("unused").generate(dir.path()).unwrap();
    assert_eq!(generated.warnings, Vec::<String>::new());
    for file in [
        dir.path().to_path_buf(),
        first.join("up.sql"),
        first.join("down.sql"),
        first.join("metadata.toml"),
        dir.path().join("2031-01-02-000000_second").join("up.sql"),
        second.join("up.mysql.sql"),
        dir.path().join(lineage::HEAD_FILE),
    ] {
        assert!(
            generated.rerun_if_changed.contains(&file),
            "{} not declared: {:?}",
            file.display(),
            generated.rerun_if_changed
        );
    }
    let code = &generated.code;
    assert!(code.contains("pub static MIGRATIONS: &[::workhub_migrations::Migration]"));
    assert!(code.contains(
        "::workhub_migrations::Migration::embedded_with_mysql(\"2031-01-01-000000_first\", \
         \"20310101000000\", \"first\", false,"
    ));
    // MySQL's SQL is embedded beside the SQLite SQL, with its own checksum.
    assert!(code.contains("\"CREATE TABLE `second_table` (id INT);\\n\""));
    assert!(code.contains("\"CREATE TABLE second_table (id INTEGER);\\n\""));
    assert!(code.contains("pub static HEAD: Option<&str> = Some(\"2031-01-02-000000_second\\n\");"));
    assert!(code.contains("pub static FINDINGS: &[&str] = &[];"));
    assert!(code.contains("pub static EMBEDDED: ::workhub_migrations::embed::Embedded"));
    // The folder before the second, in version order.
    assert!(code.find("_first\"").unwrap() < code.find("_second\"").unwrap());
}

#[test]
fn findings_and_divergences_are_warnings_ending_with_the_applications_hint() {
    let dir = tempfile::tempdir().unwrap();
    diverged(dir.path());
    table(dir.path(), "2024-01-04-000000_Not-A-Name", "odd");

    let plain = Embed::new("unused").generate(dir.path()).unwrap();
    let findings = source::scan(dir.path()).unwrap().findings;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0]
        .to_string()
        .starts_with("`2024-01-04-000000_Not-A-Name`: not named the way generated migrations are"));
    assert_eq!(
        plain.warnings,
        [
            format!("migrations: {}", findings[0]),
            "migrations have diverged: 2024-01-02-000000_a and 2024-01-03-000000_b were both \
             written after 2024-01-01-000000_initial; both touch tasks"
                .to_string(),
            "migrations/lineage.head names 2024-01-02-000000_a, but the newest migration is \
             2024-01-04-000000_Not-A-Name: a migration was added, removed or renamed without \
             refreshing it"
                .to_string(),
        ]
    );
    assert!(
        plain
            .code
            .contains(&format!("{:?}", findings[0].to_string())),
        "{}",
        plain.code
    );

    let hinted = Embed::new("unused")
        .divergence_hint("run `just migrate-rebase` (workhub db rebase)")
        .generate(dir.path())
        .unwrap();
    assert_eq!(hinted.warnings[0], plain.warnings[0]);
    for (hinted, plain) in hinted.warnings[1..].iter().zip(&plain.warnings[1..]) {
        assert_eq!(
            *hinted,
            format!("{plain}; run `just migrate-rebase` (workhub db rebase)")
        );
    }
}

#[test]
fn a_folder_diesel_refuses_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    table(dir.path(), "2031-01-01-000000_first", "first_table");
    std::fs::create_dir(dir.path().join("2031-01-04-000000_no_up")).unwrap();
    let err = Embed::new("unused").generate(dir.path()).unwrap_err();
    assert!(
        matches!(&err, EmbedError::Folder { source: SourceError::MissingUp { folder }, .. }
            if folder == "2031-01-04-000000_no_up"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot embed the migrations in {}:\n",
            dir.path().display()
        )),
        "{text}"
    );
    assert!(
        text.contains("migration folder `2031-01-04-000000_no_up` has no up.sql"),
        "{text}"
    );
    assert!(text.contains("hint:"), "{text}");
    assert!(std::error::Error::source(&err).is_some());
}

/// The fixture application, copied next to a `migrations/` directory the test fills in, and built
/// into a target directory of its own under cargo's temporary directory (kept between runs).
struct App {
    root: PathBuf,
}

impl App {
    fn new() -> Self {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let root = tmp.join("embed-app");
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/embed-app");
        let engine = Path::new(env!("CARGO_MANIFEST_DIR"));
        let _ = std::fs::remove_dir_all(root.join("migrations"));
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("migrations")).unwrap();
        let manifest = std::fs::read_to_string(fixture.join("Cargo.toml"))
            .unwrap()
            .replace(
                "path = \"../../..\"",
                &format!("path = {:?}", engine.display().to_string()),
            );
        std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
        for file in ["build.rs", "src/main.rs"] {
            std::fs::copy(fixture.join(file), root.join(file)).unwrap();
        }
        // The workspace's versions of the engine's dependencies, so nothing is resolved anew.
        std::fs::copy(engine.join("../../Cargo.lock"), root.join("Cargo.lock")).unwrap();
        Self { root }
    }

    fn migrations(&self) -> PathBuf {
        self.root.join("migrations")
    }

    fn build(&self) -> Output {
        Command::new(env!("CARGO"))
            .current_dir(&self.root)
            .args(["build", "--offline"])
            .env("CARGO_TARGET_DIR", self.root.join("target"))
            .env("CARGO_TERM_COLOR", "never")
            .output()
            .expect("run cargo build")
    }

    /// Builds and fails the test unless the build succeeds; returns the build's stderr.
    fn built(&self) -> String {
        let out = self.build();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "the build failed:\n{stderr}");
        stderr
    }

    /// What the built binary embedded: one line per migration, then findings and the head.
    fn listed(&self) -> Vec<String> {
        let binary = self
            .root
            .join("target/debug")
            .join(format!("embed-app{}", std::env::consts::EXE_SUFFIX));
        let out = Command::new(binary).output().expect("run embed-app");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn folders(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| !l.starts_with("finding: ") && !l.starts_with("head: "))
        .map(|l| l.split(' ').next().unwrap())
        .collect()
}

#[test]
fn an_application_carries_migrations_added_or_edited_after_a_build() {
    let app = App::new();
    let migrations = app.migrations();
    let first = "2031-01-01-000000_embedded_first";
    let second = "2031-01-02-000000_embedded_second";
    table(&migrations, first, "first_table");

    app.built();
    assert_eq!(folders(&app.listed()), vec![first]);

    table(&migrations, second, "second_table");
    app.built();
    assert_eq!(folders(&app.listed()), vec![first, second]);

    std::fs::write(
        migrations.join(first).join("metadata.toml"),
        "run_in_transaction = false\n",
    )
    .unwrap();
    app.built();
    let lines = app.listed();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{first} in_transaction=false "))),
        "{lines:#?}"
    );

    // An edited script: the new checksum is in the next build.
    let before = app.listed();
    std::fs::write(
        migrations.join(second).join("up.sql"),
        "CREATE TABLE second_table (id INTEGER, note TEXT);\n",
    )
    .unwrap();
    app.built();
    let after = app.listed();
    assert_ne!(before[1], after[1], "the edit is not in the binary");

    // A name diesel accepts but `db create` would not write warns, and is embedded with its finding.
    let odd = "2031-01-03-000000_Not-A-Name";
    table(&migrations, odd, "third_table");
    let warned = app.built();
    assert!(
        warned.contains(&format!(
            "warning: embed-app@0.0.0: migrations: `{odd}`: not named the way generated \
             migrations are"
        )),
        "{warned}"
    );
    let lines = app.listed();
    assert_eq!(folders(&lines), vec![first, second, odd]);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("finding: `{odd}`: not named the way"))),
        "{lines:#?}"
    );

    // A diverged history warns and still builds.
    std::fs::remove_dir_all(migrations.join(odd)).unwrap();
    diverged(&migrations);
    let warned = app.built();
    for needle in [
        "warning: embed-app@0.0.0: migrations have diverged: 2024-01-02-000000_a and \
         2024-01-03-000000_b were both written after 2024-01-01-000000_initial",
        "lineage.head names 2024-01-02-000000_a, but the newest migration is",
    ] {
        assert!(warned.contains(needle), "{needle}:\n{warned}");
    }
    assert!(app
        .listed()
        .contains(&"head: Some(\"2024-01-02-000000_a\\n\")".to_string()));

    // A folder diesel refuses (no up.sql) fails the build, naming it.
    let bad = "2031-01-04-000000_no_up";
    std::fs::create_dir_all(migrations.join(bad)).unwrap();
    std::fs::write(migrations.join(bad).join("down.sql"), "SELECT 1;\n").unwrap();
    let failed = app.build();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        !failed.status.success(),
        "a bad folder must fail the build:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("migration folder `{bad}` has no up.sql")),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}
