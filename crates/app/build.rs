//! Embeds every migration under the workspace's `migrations/` into the `workhub` binary.
//!
//! The folders go through the engine's own rules (the same ones `--migrations-dir` applies at run
//! time), so a malformed folder fails the build naming the folder and the rule. Every file read and the
//! directory itself are declared with `rerun-if-changed`: adding, removing or editing a migration,
//! `metadata.toml` included, rebuilds the binary, so it never ships a stale set.
//!
//! It also records which OpenSSL the bundled libpq links (see `record_openssl`).

use std::fmt::Write as _;
use std::path::PathBuf;

use workhub_migrations::source::lineage;
use workhub_migrations::{source, Dialect, Migration};

fn main() {
    record_openssl();
    println!("cargo:rerun-if-env-changed=WORKHUB_EMBED_MIGRATIONS_DIR");
    let dir = match std::env::var_os("WORKHUB_EMBED_MIGRATIONS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("../../migrations"),
    };
    println!("cargo:rerun-if-changed={}", dir.display());
    let scan = match source::scan(&dir) {
        Ok(scan) => scan,
        Err(err) => {
            eprintln!(
                "error: cannot embed the migrations in {}:\n{err}",
                dir.display()
            );
            std::process::exit(1);
        }
    };
    for path in &scan.paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    // diesel accepts what these describe, so they warn and never fail the build.
    for finding in &scan.findings {
        println!("cargo:warning=migrations: {finding}");
    }
    // Diverged branches are a warning here, not a failure: `workhub db rebase`, which resolves them,
    // runs from this same binary. Every command that would run them refuses.
    for divergence in lineage::divergences(&scan.migrations) {
        println!(
            "cargo:warning=migrations have diverged: {divergence}; run `just migrate-rebase` (workhub db rebase)"
        );
    }
    // A missing path would rerun this script on every build; the directory's own entry covers the
    // file appearing.
    let head = dir.join(lineage::HEAD_FILE);
    if head.exists() {
        println!("cargo:rerun-if-changed={}", head.display());
    }
    let head = match lineage::read_head(&dir) {
        Ok(head) => head,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    };
    if let Some(problem) = head
        .as_deref()
        .and_then(|text| lineage::head_problem(text, &scan.migrations))
    {
        println!("cargo:warning={problem}; run `just migrate-rebase` (workhub db rebase)");
    }
    let mut code = String::from(
        "/// Every migration under `migrations/` when this binary was built, in version order.\n\
         pub static MIGRATIONS: &[::workhub_migrations::Migration] = &[\n",
    );
    for migration in &scan.migrations {
        write_migration(&mut code, migration);
    }
    code.push_str("];\n");
    let _ = writeln!(
        code,
        "/// `migrations/lineage.head` when this binary was built.\npub static HEAD: Option<&str> = {head:?};"
    );
    let _ = writeln!(
        code,
        "/// The findings about `migrations/` when this binary was built (see `source::Finding`).\n\
         pub static FINDINGS: &[&str] = &{:?};",
        scan.findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_migrations.rs");
    std::fs::write(&out, code)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", out.display()));
}

/// Records, from openssl-sys's build metadata, which OpenSSL this build links, for the binary and its
/// tests: `WORKHUB_OPENSSL` is `bundled` (built here from vendored sources, the default) or `system`
/// (`OPENSSL_NO_VENDOR=1`); `WORKHUB_OPENSSL_VERSION` is its version number (OpenSSL's hexadecimal
/// form); `WORKHUB_OPENSSL_ROOT` is where a bundled build is installed (`lib/`, `include/`), empty
/// otherwise.
fn record_openssl() {
    let bundled = std::env::var("DEP_OPENSSL_VENDORED").is_ok_and(|v| v == "1");
    let kind = if bundled { "bundled" } else { "system" };
    println!("cargo:rustc-env=WORKHUB_OPENSSL={kind}");
    let version = std::env::var("DEP_OPENSSL_VERSION_NUMBER").unwrap_or_default();
    println!("cargo:rustc-env=WORKHUB_OPENSSL_VERSION={version}");
    let root = if bundled {
        std::env::var("DEP_OPENSSL_ROOT").unwrap_or_default()
    } else {
        String::new()
    };
    println!("cargo:rustc-env=WORKHUB_OPENSSL_ROOT={root}");
}

fn write_migration(code: &mut String, migration: &Migration) {
    let scripts = |dialect| {
        let scripts = migration.scripts(dialect);
        format!(
            "::workhub_migrations::Scripts::embedded({:?}, {:?}, {:?})",
            scripts.up(),
            scripts.down(),
            scripts.checksum()
        )
    };
    let postgres = if migration.has_postgres_override() {
        format!("Some({})", scripts(Dialect::Postgres))
    } else {
        "None".to_string()
    };
    let lineage = match migration.lineage() {
        Some(lineage) => format!(
            "Some(::workhub_migrations::source::Lineage::embedded({:?}, {:?}, {}, {:?}))",
            lineage.parent(),
            lineage.schema(),
            lineage.is_hand_written(),
            lineage.tables_joined()
        ),
        None => "None".to_string(),
    };
    let _ = writeln!(
        code,
        "    ::workhub_migrations::Migration::embedded_with_lineage({:?}, {:?}, {:?}, {}, {}, {postgres}, {lineage}),",
        migration.folder(),
        migration.version(),
        migration.name(),
        migration.run_in_transaction(),
        scripts(Dialect::Sqlite),
    );
}
