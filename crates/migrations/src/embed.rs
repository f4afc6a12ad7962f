//! Migrations compiled into a binary: the code generator a build script runs, and the set it gives the
//! binary.
//!
//! A diesel application embeds its `migrations/` with one line in `build.rs` and one in its code:
//!
//! ```ignore
//! // build.rs (workhub-migrations as a build-dependency, without default features)
//! fn main() {
//!     workhub_migrations::embed::migrations("migrations");
//! }
//!
//! // src/main.rs: MIGRATIONS, HEAD, FINDINGS and EMBEDDED, as the build script read them
//! workhub_migrations::include_embedded!();
//! ```
//!
//! `tests/fixtures/embed-app` is such an application, built by `tests/embed.rs`.
//!
//! The folders go through the same rules as [`scan`](crate::source::scan) applies at run time, so a
//! malformed folder fails the build naming the folder and the rule. Every file read, and the directory
//! itself, is declared with `cargo:rerun-if-changed`: adding, removing or editing a migration
//! (`metadata.toml` included) rebuilds the binary, so it never ships a stale set. What diesel accepts
//! but `db create` would not write, and a diverged history, are `cargo:warning`s: the build goes on.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::source::{self, lineage, Dialect, Migration, SourceError};

/// The file the generated code is written to, in the build script's `OUT_DIR`.
pub const GENERATED_FILE: &str = "embedded_migrations.rs";

/// The migrations a build script embedded, as [`include_embedded!`](crate::include_embedded) defines
/// them (`EMBEDDED`).
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// Every migration folder, in version order.
    pub migrations: &'static [Migration],
    /// The text of `lineage.head` beside the folders, when there was one.
    pub head: Option<&'static str>,
    /// The findings about the directory (see [`Finding`](crate::source::Finding)), as text.
    pub findings: &'static [&'static str],
}

/// Embeds the migrations of `dir` (relative to the package's root) from a build script: writes the
/// code [`include_embedded!`](crate::include_embedded) reads, prints cargo's directives, and fails the
/// build, naming the folder and the rule, when a folder is one diesel would refuse.
pub fn migrations(dir: impl Into<PathBuf>) {
    Embed::new(dir).build_script();
}

/// The code generator, configured: [`migrations`] with options.
#[derive(Debug, Clone)]
pub struct Embed {
    dir: PathBuf,
    dir_variable: Option<String>,
    divergence_hint: Option<String>,
}

impl Embed {
    /// Embeds `dir`; a relative path is taken from the package's root (`CARGO_MANIFEST_DIR`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            dir_variable: None,
            divergence_hint: None,
        }
    }

    /// Embeds the directory the environment variable `name` names instead, when it is set at build
    /// time (a benchmark building a binary over generated migrations, say).
    pub fn dir_from_env(mut self, name: impl Into<String>) -> Self {
        self.dir_variable = Some(name.into());
        self
    }

    /// What the warnings about a diverged history (and a stale `lineage.head`) end with: the command
    /// of the application's CLI that resolves them.
    pub fn divergence_hint(mut self, hint: impl Into<String>) -> Self {
        self.divergence_hint = Some(hint.into());
        self
    }

    /// The directory this build embeds: the variable's when it is set, else the one given, from the
    /// package's root.
    fn resolved_dir(&self) -> PathBuf {
        if let Some(dir) = self
            .dir_variable
            .as_deref()
            .and_then(std::env::var_os)
            .filter(|dir| !dir.is_empty())
        {
            return PathBuf::from(dir);
        }
        match std::env::var_os("CARGO_MANIFEST_DIR") {
            Some(root) if self.dir.is_relative() => PathBuf::from(root).join(&self.dir),
            _ => self.dir.clone(),
        }
    }

    /// Reads `dir` and generates the code that embeds it, without printing or writing anything.
    pub fn generate(&self, dir: &Path) -> Result<Generated, EmbedError> {
        let scan = source::scan(dir).map_err(|source| EmbedError::Folder {
            dir: dir.to_path_buf(),
            source,
        })?;
        // The directory itself comes first: its entry changes when a folder is added or removed.
        let mut rerun_if_changed = scan.paths.clone();
        // diesel accepts what these describe, so they warn and never fail the build.
        let mut warnings: Vec<String> = scan
            .findings
            .iter()
            .map(|finding| format!("migrations: {finding}"))
            .collect();
        let hint = |text: String| match &self.divergence_hint {
            Some(hint) => format!("{text}; {hint}"),
            None => text,
        };
        // Diverged branches are a warning here, not a failure: the command that resolves them may run
        // from this same binary. Every command that would run them refuses.
        for divergence in lineage::divergences(&scan.migrations) {
            warnings.push(hint(format!("migrations have diverged: {divergence}")));
        }
        // A missing path would rerun the build script on every build; the directory's own entry covers
        // the file appearing.
        let head_path = dir.join(lineage::HEAD_FILE);
        if head_path.exists() {
            rerun_if_changed.push(head_path);
        }
        let head = lineage::read_head(dir).map_err(EmbedError::Head)?;
        if let Some(problem) = head
            .as_deref()
            .and_then(|text| lineage::head_problem(text, &scan.migrations))
        {
            warnings.push(hint(problem.to_string()));
        }
        let findings: Vec<String> = scan.findings.iter().map(ToString::to_string).collect();
        Ok(Generated {
            code: code(&scan.migrations, head.as_deref(), &findings),
            rerun_if_changed,
            warnings,
        })
    }

    /// Runs as a build script: generates the code into `OUT_DIR`, prints the `rerun-if-changed` and
    /// `warning` directives, and on a folder diesel would refuse prints the error and exits 1.
    pub fn build_script(&self) {
        if let Some(variable) = &self.dir_variable {
            println!("cargo:rerun-if-env-changed={variable}");
        }
        let dir = self.resolved_dir();
        println!("cargo:rerun-if-changed={}", dir.display());
        let generated = match self.generate(&dir) {
            Ok(generated) => generated,
            Err(err) => {
                eprintln!("error: {err}");
                std::process::exit(1);
            }
        };
        for path in &generated.rerun_if_changed {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        for warning in &generated.warnings {
            println!("cargo:warning={warning}");
        }
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
            .join(GENERATED_FILE);
        std::fs::write(&out, generated.code)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", out.display()));
    }
}

/// What [`Embed::generate`] produced.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The Rust code defining `MIGRATIONS`, `HEAD`, `FINDINGS` and `EMBEDDED`.
    pub code: String,
    /// Every path read, for `cargo:rerun-if-changed`.
    pub rerun_if_changed: Vec<PathBuf>,
    /// The warnings for `cargo:warning`, in order: findings, divergences, a stale head file.
    pub warnings: Vec<String>,
}

/// Why a directory cannot be embedded; the build fails.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmbedError {
    /// A folder breaks a rule of the format (or the directory cannot be read).
    Folder { dir: PathBuf, source: SourceError },
    /// `lineage.head` cannot be read.
    Head(SourceError),
}

impl fmt::Display for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Folder { dir, source } => write!(
                f,
                "cannot embed the migrations in {}:\n{source}",
                dir.display()
            )?,
            Self::Head(source) => source.fmt(f)?,
        }
        // The build script is where this is read: the folder's own remedy is the way out.
        match self {
            Self::Folder { source, .. } | Self::Head(source) => match source.remedy() {
                Some(remedy) => write!(f, "\n  hint: {remedy}"),
                None => Ok(()),
            },
        }
    }
}

impl Error for EmbedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Folder { source, .. } | Self::Head(source) => Some(source),
        }
    }
}

/// The generated code: every migration as a `const fn` call, so nothing is read or hashed at run time.
fn code(migrations: &[Migration], head: Option<&str>, findings: &[String]) -> String {
    let mut code = String::from(
        "/// Every migration under `migrations/` when this binary was built, in version order.\n\
         pub static MIGRATIONS: &[::workhub_migrations::Migration] = &[\n",
    );
    for migration in migrations {
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
         pub static FINDINGS: &[&str] = &{findings:?};"
    );
    code.push_str(
        "/// All of the above, as one value.\n\
         pub static EMBEDDED: ::workhub_migrations::embed::Embedded = \
         ::workhub_migrations::embed::Embedded { migrations: MIGRATIONS, head: HEAD, findings: FINDINGS };\n",
    );
    code
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
    let mysql = if migration.has_mysql_scripts() {
        format!("Some({})", scripts(Dialect::Mysql))
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
        "    ::workhub_migrations::Migration::embedded_with_mysql({:?}, {:?}, {:?}, {}, {}, {postgres}, {mysql}, {lineage}),",
        migration.folder(),
        migration.version(),
        migration.name(),
        migration.run_in_transaction(),
        scripts(Dialect::Sqlite),
    );
}

/// Defines what the build script's [`migrations`](crate::embed::migrations) generated: `MIGRATIONS`
/// (`&[Migration]`), `HEAD`, `FINDINGS` and `EMBEDDED` (an [`Embedded`](crate::embed::Embedded)).
#[macro_export]
macro_rules! include_embedded {
    () => {
        include!(concat!(env!("OUT_DIR"), "/embedded_migrations.rs"));
    };
}
