//! What a database records of its migrations.
//!
//! Applied versions live in diesel's own `__diesel_schema_migrations`, so `diesel migration list` on the
//! same database agrees with workhub. What diesel does not record (name, checksum, when and how long)
//! lives beside it in `__workhub_migrations`, one row per version. A version diesel_cli applied has no
//! companion row: it counts as applied, with no checksum to verify until a repair (`Migrator::repair`) records one.

/// diesel's table, exactly as diesel creates it.
pub const DIESEL_TABLE: &str = "__diesel_schema_migrations";
/// workhub's companion table.
pub const COMPANION_TABLE: &str = "__workhub_migrations";

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

/// The statements that create both history tables when they are missing; the same on every backend.
pub const CREATE_TABLES: &str = "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
    version VARCHAR(50) PRIMARY KEY NOT NULL,
    run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS __workhub_migrations (
    version VARCHAR(50) PRIMARY KEY NOT NULL,
    folder TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    duration_ms BIGINT NOT NULL,
    stamped BOOLEAN NOT NULL DEFAULT FALSE
)";

/// Reads every applied version with whatever the companion table knows of it, in version order.
pub const SELECT_APPLIED: &str =
    "SELECT d.version AS version, w.folder AS folder, w.checksum AS checksum, \
     CAST(w.applied_at AS TEXT) AS applied_at, w.duration_ms AS duration_ms, \
     COALESCE(w.stamped, FALSE) AS stamped \
     FROM __diesel_schema_migrations d LEFT JOIN __workhub_migrations w ON w.version = d.version \
     ORDER BY d.version";
