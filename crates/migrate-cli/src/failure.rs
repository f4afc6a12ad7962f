//! How a command fails: the message the user reads and the exit code scripts read.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | problems found, or the command could not do its work: drift or pending migrations (`db check`), a refusal, a failed statement |
//! | 2 | usage or configuration: bad flags, a bad database URL, a target that names no migration or points the other way, an unreadable migrations directory |
//! | 3 | the database cannot be reached: connection refused, server down, unknown host, TLS refused, no SQLite file or directory at the path |

use std::fmt;

use workhub_migrations::{MigrateError, SourceError, WrongWay};

/// The exit codes, as documented in `--help` and the README.
pub const EXIT_CODES: &str = "Exit codes: 0 success; 1 problems found or the command could not do \
     its work (drift or pending migrations, a refusal, a failed statement); 2 usage or configuration \
     (bad flags, bad database URL, unknown target); 3 the database cannot be reached (connection \
     refused, server down, unknown host, no SQLite file or directory).";

#[derive(Debug)]
pub enum Failure {
    /// The command was wrong or the configuration is (exit code 2).
    Usage(String),
    /// The command could not do its work, or found problems (exit code 1).
    Failed(String),
    /// The database cannot be reached (exit code 3).
    Unreachable(String),
}

impl Failure {
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) => 1,
            Self::Usage(_) => 2,
            Self::Unreachable(_) => 3,
        }
    }

    /// The same failure with one more way out below its message.
    pub fn and_hint(self, hint: &str) -> Self {
        let add = |message: String| format!("{message}\n  hint: {hint}");
        match self {
            Self::Usage(m) => Self::Usage(add(m)),
            Self::Failed(m) => Self::Failed(add(m)),
            Self::Unreachable(m) => Self::Unreachable(add(m)),
        }
    }

    /// A message that fails with the exit code `err` maps to.
    pub fn coded(err: &MigrateError, message: String) -> Self {
        match exit_code(err) {
            2 => Self::Usage(message),
            3 => Self::Unreachable(message),
            _ => Self::Failed(message),
        }
    }
}

/// The exit code of an engine error: 2 for what is wrong whatever the database holds (the URL, a
/// target no migration matches or that points the other way, the migrations directory), 3 when
/// the database cannot be reached (the connection never opened, or was lost), 1 for the rest.
pub fn exit_code(err: &MigrateError) -> u8 {
    match err {
        MigrateError::BadUrl { .. }
        | MigrateError::UnknownTarget { .. }
        | MigrateError::AmbiguousTarget { .. }
        | MigrateError::NotBuiltFor { .. }
        | MigrateError::NoTransactionalDdl { .. }
        | MigrateError::Source(SourceError::Unreadable { .. })
        // A direction wrong whatever the database holds; the others are refused given where the
        // database stands.
        | MigrateError::WrongDirection {
            reason: WrongWay::UpgradeToBase | WrongWay::UpgradeBack | WrongWay::DowngradeForward,
            ..
        } => 2,
        MigrateError::Connect { .. } => 3,
        other if other.database_error().is_some_and(|e| e.is_unreachable()) => 3,
        _ => 1,
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) | Self::Failed(message) | Self::Unreachable(message) => {
                f.write_str(message)
            }
        }
    }
}

/// A migration folder that breaks the format's rules, worded with its way out.
impl From<SourceError> for Failure {
    fn from(err: SourceError) -> Self {
        let message = crate::hint::source_message(&err);
        match err {
            // Where the migrations are is configuration.
            SourceError::Unreadable { .. } => Self::Usage(message),
            _ => Self::Failed(message),
        }
    }
}
