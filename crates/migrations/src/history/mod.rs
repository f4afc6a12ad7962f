//! What a database records of its migrations.
//!
//! Applied versions live in diesel's own `__diesel_schema_migrations`, so `diesel migration list` on the
//! same database agrees with workhub. What diesel does not record (name, checksum, when and how long)
//! lives beside it in `__workhub_migrations`, one row per version (both names can be changed:
//! [`HistoryTables`]). A version diesel_cli applied has no companion row: it counts as applied, with
//! no checksum to verify until a repair (`Migrator::repair`) records one.

pub mod run;
mod tables;

pub use run::InterruptedRun;
pub(crate) use tables::quote;
pub use tables::{HistoryTables, InvalidTableName};

/// One applied migration, as the database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: String,
    /// The folder name when workhub applied or stamped it.
    pub folder: Option<String>,
    pub checksum: Option<String>,
    pub applied_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// Recorded by `stamp` or `repair` rather than by running its SQL.
    pub stamped: bool,
}
