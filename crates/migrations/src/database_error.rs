//! What a database answered when a request to it failed, or why it could not be reached.

use std::path::PathBuf;

use diesel::result::DatabaseErrorKind;

/// A failure of the database, or of reaching it, with diesel's error as its source where there is
/// one. Display is the database's own message (what the user reads); [`source`](std::error::Error::source)
/// gives diesel's error, for a program to inspect. diesel does not pass PostgreSQL's SQLSTATE on;
/// [`kind`](DatabaseError::kind) gives its classification instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError {
    /// The connection could not be established: the server is down or unreachable, refused the
    /// login or the TLS handshake, or SQLite cannot open the file. `message` is the driver's, with
    /// the URL's password removed; the driver's error is the source only when its text held no
    /// password.
    #[error("{message}")]
    Connect {
        message: String,
        #[source]
        source: Option<diesel::ConnectionError>,
    },
    /// The directory that would hold the SQLite file does not exist.
    #[error("the directory {} does not exist", directory.display())]
    MissingDirectory { directory: PathBuf },
    /// The SQLite file was replaced between two looks at it while it was opened.
    #[error(
        "the file was replaced while it was being opened (a reset or a restore?); nothing was read \
         or changed; rerun the command"
    )]
    Replaced,
    /// The file system could not answer about the SQLite file.
    #[error("cannot tell whether the file exists: {0}")]
    Io(#[source] std::io::Error),
    /// A query or statement failed: the database's message, with its detail where it gives one
    /// (PostgreSQL's `DETAIL`: which key is duplicated, which row violates a check).
    #[error("{}", with_detail(.0))]
    Query(#[source] diesel::result::Error),
    /// SQLite opened a file that is not a database.
    #[error("{} is not a SQLite database ({source})", path.display())]
    NotADatabase {
        path: PathBuf,
        #[source]
        source: diesel::result::Error,
    },
    /// A statement that failed after it was seen waiting for another session's lock.
    #[error("{source} (it waited for {blocker})")]
    Blocked {
        blocker: String,
        #[source]
        source: Box<DatabaseError>,
    },
}

impl DatabaseError {
    /// diesel's classification of a failed query (a unique or foreign key violation, a
    /// serialization failure, a closed connection ...), where it makes one.
    pub fn kind(&self) -> Option<&DatabaseErrorKind> {
        match self {
            Self::Query(diesel::result::Error::DatabaseError(kind, _))
            | Self::NotADatabase {
                source: diesel::result::Error::DatabaseError(kind, _),
                ..
            } => Some(kind),
            Self::Blocked { source, .. } => source.kind(),
            _ => None,
        }
    }

    /// Whether the database could not be reached: the connection never opened, or it was lost.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::MissingDirectory { .. } | Self::Io(_) => true,
            _ => matches!(self.kind(), Some(DatabaseErrorKind::ClosedConnection)),
        }
    }

    /// Whether PostgreSQL cancelled the statement at its `lock_timeout`: it waited on another
    /// session's lock for as long as it may. (diesel does not pass the SQLSTATE, 55P03, on; the
    /// message is the server's, in English unless `lc_messages` says otherwise.)
    pub fn is_lock_timeout(&self) -> bool {
        match self {
            Self::Blocked { .. } => true,
            Self::Query(diesel::result::Error::DatabaseError(_, info)) => {
                info.message().contains("due to lock timeout")
            }
            _ => false,
        }
    }

    /// SQLite's answer when another connection holds the database.
    pub(crate) fn is_busy(&self) -> bool {
        let message = self.to_string();
        message.contains("database is locked") || message.contains("database is busy")
    }
}

/// diesel's message of `err`, and the server's detail after it: without it, "could not create
/// unique index" does not say which rows to fix.
fn with_detail(err: &diesel::result::Error) -> String {
    match err {
        diesel::result::Error::DatabaseError(_, info) => match info.details() {
            Some(detail) if !detail.trim().is_empty() => {
                format!("{} ({})", info.message(), detail.trim())
            }
            _ => info.message().to_string(),
        },
        other => other.to_string(),
    }
}

impl From<diesel::result::Error> for DatabaseError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Query(err)
    }
}
