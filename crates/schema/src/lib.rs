//! Schema autogeneration's pure half, with no database driver and no I/O: tables are declared once
//! in Rust ([`declare`], the [`tables!`] macro), held as data ([`Schema`] and its parts), compared
//! ([`diff`](mod@diff)), merged when two branches changed them ([`merge`]) and written as SQL for
//! each [`Dialect`] ([`render`]); [`reported`] reads what a database reports of a column into the
//! same terms. Reading a live database back and replaying migrations belong to the migration engine.

#[cfg(feature = "declare")]
pub mod declare;
mod dialect;
pub mod diff;
pub mod merge;
mod model;
pub mod render;
pub mod reported;

pub use dialect::Dialect;
pub use diff::{diff, Change, Sides};
pub use model::{
    squash, Action, Check, Column, ColumnType, ForeignKey, Index, Schema, Table, Unique,
};
