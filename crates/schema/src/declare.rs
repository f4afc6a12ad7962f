//! Declaring tables once, in Rust: [`tables!`](crate::tables) emits diesel's `table!` for queries and a
//! `schema()` function describing the same tables (types, nullability, defaults, keys, indexes,
//! uniques, foreign keys, checks) for migrations to be generated from. Every fact is written once.
//!
//! ```
//! workhub_schema::tables! {
//!     projects (id) {
//!         id -> BigInt,
//!     }
//!
//!     #[index(tasks_by_status, project_id, status)]
//!     #[check(tasks_status_valid, "status IN ('todo', 'doing', 'done')")]
//!     tasks (id) {
//!         id -> BigInt,
//!         #[references(projects.id, on_delete = cascade)]
//!         project_id -> BigInt,
//!         #[max_length = 200]
//!         title -> Text,
//!         #[default = "'todo'"]
//!         status -> Text,
//!         due_on -> Nullable<Date>,
//!     }
//! }
//!
//! let tasks = schema().tables.into_iter().find(|t| t.name == "tasks").unwrap();
//! assert_eq!(tasks.foreign_keys[0].references, "projects");
//! assert_eq!(tasks.indexes[0].columns, ["project_id", "status"]);
//! ```
//!
//! Column attributes: `#[default = "SQL"]`, `#[max_length = N]`, `#[unique]`, `#[index]`,
//! `#[autoincrement]` (on the integer primary key: ids are never reused after a delete),
//! `#[references(table.column)]` with optional `on_delete = ...` / `on_update = ...` (`cascade`,
//! `set_null`, `set_default`, `restrict`, `no_action`). Table attributes: `#[index(name, columns...)]`,
//! `#[unique_index(name, columns...)]`, `#[unique(name, columns...)]`, `#[check(name, "SQL")]`.

use diesel::sql_types::{
    BigInt, Binary, Bool, Date, Double, Float, Integer, Nullable, SmallInt, Text, Timestamp,
};

use crate::model::{Column, ColumnType};

/// The schema facts of a diesel SQL type.
pub trait SqlTypeInfo {
    const TYPE: ColumnType;
    const NULLABLE: bool = false;
}

macro_rules! sql_type_info {
    ($($diesel:ty => $ours:expr),* $(,)?) => {
        $(impl SqlTypeInfo for $diesel {
            const TYPE: ColumnType = $ours;
        })*
    };
}

sql_type_info! {
    SmallInt => ColumnType::SmallInt,
    Integer => ColumnType::Integer,
    BigInt => ColumnType::BigInt,
    Text => ColumnType::Text,
    Bool => ColumnType::Bool,
    Float => ColumnType::Float,
    Double => ColumnType::Double,
    Date => ColumnType::Date,
    Timestamp => ColumnType::Timestamp,
    Binary => ColumnType::Binary,
}

impl<T: SqlTypeInfo + diesel::sql_types::SqlType + diesel::sql_types::SingleValue> SqlTypeInfo
    for Nullable<T>
{
    const TYPE: ColumnType = T::TYPE;
    const NULLABLE: bool = true;
}

#[doc(hidden)]
pub fn column<T: SqlTypeInfo>(name: &str) -> Column {
    Column::new(name, T::TYPE, T::NULLABLE)
}

#[doc(hidden)]
pub fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Declares tables once; see the [module documentation](crate::declare).
#[macro_export]
macro_rules! tables {
    ($(
        $(#[$($table_attr:tt)*])*
        $table:ident ($($pk:ident),+ $(,)?) {
            $(
                $(#[$($column_attr:tt)*])*
                $column:ident -> $ty:ty
            ),+ $(,)?
        }
    )+) => {
        $(
            ::diesel::table! {
                $table ($($pk),+) {
                    $($column -> $ty,)+
                }
            }
        )+

        /// The tables declared above, as the schema migrations are generated from.
        pub fn schema() -> $crate::Schema {
            #[allow(unused_imports)]
            use ::diesel::sql_types::*;
            $crate::Schema::new(::std::vec![$({
                #[allow(unused_mut)]
                let mut table = $crate::Table::new(stringify!($table));
                table.primary_key = $crate::declare::names(&[$(stringify!($pk)),+]);
                $(
                    $crate::__workhub_column!(table, $column, $ty, [$([$($column_attr)*])*]);
                )+
                $(
                    $crate::__workhub_table_attr!(table, $($table_attr)*);
                )*
                table
            }),+])
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __workhub_column {
    ($table:ident, $column:ident, $ty:ty, [$([$($attr:tt)*])*]) => {{
        #[allow(unused_mut)]
        let mut column = $crate::declare::column::<$ty>(stringify!($column));
        $( $crate::__workhub_column_attr!($table, column, $column, $($attr)*); )*
        $table.columns.push(column);
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __workhub_column_attr {
    ($table:ident, $c:ident, $name:ident, doc = $($rest:tt)*) => {};
    ($table:ident, $c:ident, $name:ident, default = $sql:literal) => {
        $c.default = Some($crate::squash($sql));
    };
    ($table:ident, $c:ident, $name:ident, max_length = $n:literal) => {
        $c.ty = match $c.ty {
            $crate::ColumnType::Text => $crate::ColumnType::Varchar($n),
            ref other => panic!("max_length applies to Text columns, not {other}"),
        };
    };
    ($table:ident, $c:ident, $name:ident, autoincrement) => {
        $c.autoincrement = true;
    };
    ($table:ident, $c:ident, $name:ident, unique) => {
        $table.uniques.push($crate::Unique {
            name: format!("{}_{}_key", $table.name, stringify!($name)),
            columns: vec![stringify!($name).to_string()],
        });
    };
    ($table:ident, $c:ident, $name:ident, index) => {
        $table.indexes.push($crate::Index {
            name: format!("{}_{}_idx", $table.name, stringify!($name)),
            columns: vec![stringify!($name).to_string()],
            unique: false,
        });
    };
    ($table:ident, $c:ident, $name:ident, references($target:ident . $target_column:ident $(, $action:ident = $value:ident)* $(,)?)) => {{
        #[allow(unused_mut)]
        let mut fk = $crate::ForeignKey {
            name: format!("{}_{}_fkey", $table.name, stringify!($name)),
            columns: vec![stringify!($name).to_string()],
            references: stringify!($target).to_string(),
            referenced_columns: vec![stringify!($target_column).to_string()],
            on_delete: $crate::Action::NoAction,
            on_update: $crate::Action::NoAction,
        };
        $( $crate::__workhub_fk_action!(fk, $action, $value); )*
        $table.foreign_keys.push(fk);
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __workhub_fk_action {
    ($fk:ident, on_delete, $value:ident) => {
        $fk.on_delete = $crate::__workhub_action!($value);
    };
    ($fk:ident, on_update, $value:ident) => {
        $fk.on_update = $crate::__workhub_action!($value);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __workhub_action {
    (cascade) => {
        $crate::Action::Cascade
    };
    (set_null) => {
        $crate::Action::SetNull
    };
    (set_default) => {
        $crate::Action::SetDefault
    };
    (restrict) => {
        $crate::Action::Restrict
    };
    (no_action) => {
        $crate::Action::NoAction
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __workhub_table_attr {
    ($table:ident, doc = $($rest:tt)*) => {};
    ($table:ident, index($name:ident, $($column:ident),+ $(,)?)) => {
        $table.indexes.push($crate::Index {
            name: stringify!($name).to_string(),
            columns: $crate::declare::names(&[$(stringify!($column)),+]),
            unique: false,
        });
    };
    ($table:ident, unique_index($name:ident, $($column:ident),+ $(,)?)) => {
        $table.indexes.push($crate::Index {
            name: stringify!($name).to_string(),
            columns: $crate::declare::names(&[$(stringify!($column)),+]),
            unique: true,
        });
    };
    ($table:ident, unique($name:ident, $($column:ident),+ $(,)?)) => {
        $table.uniques.push($crate::Unique {
            name: stringify!($name).to_string(),
            columns: $crate::declare::names(&[$(stringify!($column)),+]),
        });
    };
    ($table:ident, check($name:ident, $sql:literal)) => {
        $table.checks.push($crate::Check {
            name: stringify!($name).to_string(),
            expression: $crate::squash($sql),
        });
    };
}
