use std::path::PathBuf;

/// A migration folder that breaks one of the format's rules. Each names the folder or file at fault;
/// [`remedy`](SourceError::remedy) says how a folder is put right, for a front end to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The migrations directory itself cannot be read.
    #[error("cannot read the migrations directory {}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    /// A folder whose version diesel's history table cannot record (empty, or over 50 characters).
    #[error("migration folder `{folder}`: {reason}; nothing was run")]
    BadFolderName { folder: String, reason: String },
    /// Two folders with the same version.
    #[error("migration folders `{first}` and `{second}` share version {version}")]
    DuplicateVersion {
        version: String,
        first: String,
        second: String,
    },
    /// A folder without `up.sql`: diesel refuses the whole directory.
    #[error("migration folder `{folder}` has no up.sql; nothing was run")]
    MissingUp { folder: String },
    /// A script that is not valid UTF-8.
    #[error("migration folder `{folder}`: {file} is not valid UTF-8")]
    NotUtf8 { folder: String, file: String },
    /// A dialect's scripts without their counterpart (`up.postgres.sql` and `down.postgres.sql`, or
    /// `up.mysql.sql` and `down.mysql.sql`, go together when the folder has a `down.sql`).
    #[error(
        "migration folder `{folder}` has SQL for {} but no {missing}",
        dialect_named(missing)
    )]
    IncompleteDialect { folder: String, missing: String },
    /// A `lineage.toml` that cannot be read.
    #[error("migration folder `{folder}`: lineage.toml line {line}: {message}")]
    BadLineage {
        folder: String,
        line: usize,
        message: String,
    },
}

impl SourceError {
    /// How to put the folder right, in terms of the folder and its files alone; `None` where the way
    /// out is the application's to say (where the migrations directory is configured).
    pub fn remedy(&self) -> Option<String> {
        Some(match self {
            Self::Unreadable { .. } => return None,
            Self::BadFolderName { .. } => "rename the folder so that the part before its first `_` \
                 is a version of 1 to 50 characters, e.g. YYYY-MM-DD-HHMMSS_name"
                .into(),
            Self::DuplicateVersion { .. } => "rename the newer folder with a later timestamp (two \
                 branches probably created migrations in the same second)"
                .into(),
            Self::MissingUp { .. } => "every folder in the migrations directory is a migration and \
                 needs an up.sql (diesel refuses the directory too); move the folder out if it is not \
                 one"
            .into(),
            Self::NotUtf8 { .. } => "save the file as UTF-8".into(),
            Self::IncompleteDialect { missing, .. } if missing.contains(".mysql.") => format!(
                "add {missing}: MySQL runs only up.mysql.sql/down.mysql.sql, and they go together"
            ),
            Self::IncompleteDialect { missing, .. } => format!(
                "add {missing}, or remove the PostgreSQL override so both backends run \
                 up.sql/down.sql"
            ),
            Self::BadLineage { .. } => "the file records what the migration was written against; \
                 restore it from version control, or delete it (the migration is then not checked \
                 against other branches)"
                .into(),
        })
    }
}

/// The database a dialect's script file (`up.mysql.sql`, `down.postgres.sql`) is written for.
fn dialect_named(file: &str) -> &'static str {
    if file.contains(".mysql.") {
        "MySQL"
    } else {
        "PostgreSQL"
    }
}
