//! Reading a schema back from a live database, into the same [`Schema`](crate::schema::Schema) the
//! models declare. The history tables and the database's own tables are left out.

#[cfg(feature = "mysql")]
mod mysql;
mod postgres;
mod sqlite;

#[cfg(feature = "mysql")]
pub use mysql::mysql;
pub use postgres::postgres;
pub use sqlite::{catalog, sqlite, sqlite_since, Catalog};

use workhub_schema::reported::{normalise_default, parse_type};

/// Tables that belong to the migration machinery, never to a schema.
pub const IGNORED_TABLES: [&str; 2] = ["__diesel_schema_migrations", "__workhub_migrations"];
