//! What a migration directory does that diesel accepts but workhub would not write: warnings, never
//! refusals. The build script prints them as `cargo:warning`, `db check` lists them.

use std::fmt;

/// One warning about a migration directory, naming the folder or file it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The migration folder, or the file beside the folders, the finding is about.
    pub path: String,
    pub message: String,
}

impl Finding {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path, self.message)
    }
}
