//! Schema autogeneration, the pipeline behind `db create`: models are declared ([`declare`]), the
//! schema the migrations build is read back from a database ([`introspect`]), the two are compared
//! ([`diff`]) and the changes written as SQL for each dialect ([`render`]).

pub mod assumed;
pub mod declare;
pub mod diff;
pub mod draft;
pub mod introspect;
pub mod merge;
mod model;
pub mod rebase;
pub mod render;
pub mod scratch;

pub use diff::{diff, Change};
pub use model::{
    squash, Action, Check, Column, ColumnType, ForeignKey, Index, Schema, Table, Unique,
};
pub use scratch::{built_by, generate, uncaptured, Generated};
