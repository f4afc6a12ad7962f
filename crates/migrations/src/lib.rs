//! The workhub migration engine: a library that knows nothing of any application's tables.
//!
//! The modules follow the pipeline a migration goes through:
//!
//! - [`source`]: migration folders in diesel's format, validated and checksummed, either read from a
//!   directory or embedded in a binary at build time by [`embed`], from the binary's build script;
//! - [`plan`]: targets (`head`, `base`, a version, `+N`, `-N`) resolved against what a database has applied;
//! - [`apply`]: the [`Migrator`] that runs a plan against a backend, under a lock;
//! - [`history`]: what a database records of its applied migrations;
//! - [`diesel_source`]: the same migrations as diesel's own `MigrationSource`, for diesel_migrations'
//!   harness in a downstream crate's tests.
//!
//! Schema autogeneration, the pipeline behind `db create`, is split at the database: its pure half
//! (tables declared, the schema as data, diff, render) is the `workhub-schema` crate, re-exported as
//! [`schema`]; the half that needs a database or the migrations is here:
//!
//! - [`introspect`]: a schema read back from a live database;
//! - [`scratch`]: the schema a set of migrations builds, replayed into a scratch database;
//! - [`schema_cache`]: the schemas replays built, kept by the fingerprint of what was replayed;
//! - [`draft`]: a new migration's files, generated and with their lineage, before they are written;
//! - [`online`]: what `db create` writes: PostgreSQL's online form, with a companion run outside a
//!   transaction where a step cannot hold one without blocking;
//! - [`rebase`]: a branch's migrations re-created on top of the history they were merged into;
//! - [`assumed`]: whether each migration still follows the schema it was written against.
//!
//! Without the `runtime` feature only [`source`] and [`embed`] are built, so a build script can
//! validate and embed migrations without compiling a database driver.

pub mod embed;
pub mod source;

pub use source::{Dialect, Migration, Scripts, SourceError};
/// The pure half of schema autogeneration, for downstream convenience.
pub use workhub_schema as schema;

#[cfg(feature = "runtime")]
pub mod apply;
#[cfg(feature = "runtime")]
pub mod assumed;
#[cfg(feature = "runtime")]
mod database_error;
#[cfg(feature = "runtime")]
pub mod diesel_source;
#[cfg(feature = "runtime")]
pub mod draft;
#[cfg(feature = "runtime")]
mod error;
#[cfg(feature = "runtime")]
pub mod history;
#[cfg(feature = "runtime")]
pub mod introspect;
pub mod lint;
#[cfg(feature = "runtime")]
pub mod online;
#[cfg(feature = "runtime")]
pub mod plan;
#[cfg(feature = "runtime")]
pub mod rebase;
#[cfg(feature = "runtime")]
pub mod schema_cache;
#[cfg(feature = "runtime")]
pub mod scratch;
#[cfg(feature = "runtime")]
#[doc(hidden)]
pub mod testing;
#[cfg(feature = "runtime")]
#[doc(hidden)]
pub use diesel as __diesel;

#[cfg(feature = "runtime")]
pub use apply::{Database, DatabaseUrl, Migrator, Progress};
#[cfg(feature = "runtime")]
pub use database_error::DatabaseError;
#[cfg(feature = "runtime")]
pub use diesel_source::DieselSource;
#[cfg(feature = "runtime")]
pub use error::{Counted, MigrateError, Undone, WrongWay};
#[cfg(feature = "runtime")]
pub use history::AppliedMigration;
#[cfg(feature = "runtime")]
pub use plan::{Status, Target};
