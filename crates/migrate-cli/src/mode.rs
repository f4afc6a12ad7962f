//! The startup policy, chosen by `WORKHUB_ENV`: the Rust form of the original guide's `USE_ALEMBIC`.

use std::fmt;

/// Whether this process may change the schema on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `serve` applies pending embedded migrations before it listens; `db reset` is allowed.
    Development,
    /// `serve` never changes the schema and refuses to start unless the database is exactly at the
    /// binary's head; migrations run only as a release step, `workhub --migrate-only`.
    Production,
}

pub const VARIABLE: &str = "WORKHUB_ENV";

impl Mode {
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(VARIABLE) {
            Err(std::env::VarError::NotPresent) => Ok(Self::Development),
            Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "development" | "dev" => Ok(Self::Development),
                "production" | "prod" => Ok(Self::Production),
                _ => Err(format!(
                    "{VARIABLE}=`{value}` is not a mode\n  hint: set {VARIABLE} to development (the default) or production"
                )),
            },
            Err(err) => Err(format!("{VARIABLE}: {err}")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Development => "development",
            Self::Production => "production",
        })
    }
}
