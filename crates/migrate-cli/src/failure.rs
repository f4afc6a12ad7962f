//! How a command fails: the message the user reads and the exit code scripts read.

use std::fmt;

use workhub_migrations::{MigrateError, SourceError};

#[derive(Debug)]
pub enum Failure {
    /// The command was wrong or the configuration is (exit code 2).
    Usage(String),
    /// The command could not do its work (exit code 1).
    Failed(String),
}

impl Failure {
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Failed(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) | Self::Failed(message) => f.write_str(message),
        }
    }
}

impl From<MigrateError> for Failure {
    fn from(err: MigrateError) -> Self {
        match err {
            MigrateError::BadUrl { .. } => Self::Usage(err.to_string()),
            MigrateError::Diverged { .. } => Self::Failed(crate::db::diverged_refusal(&err)),
            other => Self::Failed(other.to_string()),
        }
    }
}

impl From<SourceError> for Failure {
    fn from(err: SourceError) -> Self {
        Self::Failed(err.to_string())
    }
}
