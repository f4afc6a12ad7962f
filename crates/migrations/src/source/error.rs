use std::fmt;
use std::path::PathBuf;

/// A migration folder that breaks one of the format's rules. Each names the folder or file at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The migrations directory itself cannot be read.
    Unreadable { path: PathBuf, message: String },
    /// A folder whose name is not `YYYY-MM-DD-HHMMSS[-XXXX]_name`.
    BadFolderName { folder: String, reason: String },
    /// Two folders with the same version.
    DuplicateVersion {
        version: String,
        first: String,
        second: String,
    },
    /// A folder without `up.sql`.
    MissingUp { folder: String },
    /// An `up.sql` with nothing but whitespace and comments.
    EmptyUp { folder: String, file: String },
    /// A script that is not valid UTF-8.
    NotUtf8 { folder: String, file: String },
    /// A file the format does not know, inside a migration folder or beside the folders.
    UnexpectedFile { folder: String, file: String },
    /// A `metadata.toml` that is not what diesel accepts.
    BadMetadata {
        folder: String,
        line: usize,
        message: String,
    },
    /// A PostgreSQL override without its counterpart (`up.postgres.sql` and `down.postgres.sql` go together
    /// when the folder has a `down.sql`).
    IncompleteDialect { folder: String, missing: String },
    /// A `lineage.toml` workhub cannot read.
    BadLineage {
        folder: String,
        line: usize,
        message: String,
    },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { path, message } => write!(
                f,
                "cannot read the migrations directory {}: {message}\n  \
                 hint: run from the project root, or point --migrations-dir / WORKHUB_MIGRATIONS_DIR at it",
                path.display()
            ),
            Self::BadFolderName { folder, reason } => write!(
                f,
                "migration folder `{folder}`: {reason}\n  \
                 hint: folders are named YYYY-MM-DD-HHMMSS_name (optionally YYYY-MM-DD-HHMMSS-XXXX_name); \
                 create them with `workhub db create NAME`"
            ),
            Self::DuplicateVersion { version, first, second } => write!(
                f,
                "migration folders `{first}` and `{second}` share version {version}\n  \
                 hint: rename the newer folder with a later timestamp (two branches probably created \
                 migrations in the same second)"
            ),
            Self::MissingUp { folder } => write!(
                f,
                "migration folder `{folder}` has no up.sql\n  \
                 hint: every migration needs an up.sql; delete the folder if it is not a migration"
            ),
            Self::EmptyUp { folder, file } => write!(
                f,
                "migration folder `{folder}`: {file} is empty\n  \
                 hint: write the SQL the migration runs, or delete the folder"
            ),
            Self::NotUtf8 { folder, file } => write!(
                f,
                "migration folder `{folder}`: {file} is not valid UTF-8\n  \
                 hint: save the file as UTF-8"
            ),
            Self::UnexpectedFile { folder, file } => write!(
                f,
                "migration folder `{folder}`: unexpected file `{file}`\n  \
                 hint: a migration folder holds up.sql, down.sql, metadata.toml and optionally \
                 up.postgres.sql / down.postgres.sql and lineage.toml; move anything else out of migrations/"
            ),
            Self::BadMetadata { folder, line, message } => write!(
                f,
                "migration folder `{folder}`: metadata.toml line {line}: {message}\n  \
                 hint: the only setting is `run_in_transaction = true|false`"
            ),
            Self::IncompleteDialect { folder, missing } => write!(
                f,
                "migration folder `{folder}` overrides PostgreSQL's SQL but has no {missing}\n  \
                 hint: add {missing}, or remove the PostgreSQL override so both backends run up.sql/down.sql"
            ),
            Self::BadLineage { folder, line, message } => write!(
                f,
                "migration folder `{folder}`: lineage.toml line {line}: {message}\n  \
                 hint: the file records what the migration was written against; restore it from version \
                 control, or delete it (the migration is then not checked against other branches)"
            ),
        }
    }
}

impl std::error::Error for SourceError {}
