//! Writing changes as SQL, one renderer per dialect, plus the reviewer's header both share.

mod mysql;
pub mod online;
mod postgres;
mod sqlite;

pub use mysql::mysql;
pub use postgres::{postgres, Style};
pub use sqlite::{postgres_refusal, sqlite};

use std::fmt::Write as _;

use crate::diff::{rename_hints, Change, RenameHint};
use crate::Dialect;
use crate::{Action, Check, ColumnType, ForeignKey, Index, Schema, Table, Unique};

/// The schema as `dialect` stores it, so that a model compares equal to what the database reports: a
/// single integer primary key is SQLite's `INTEGER` rowid alias and PostgreSQL's `BIGINT` identity,
/// whatever its declared width (both are 64-bit), with no default of its own; `autoincrement` is
/// SQLite's alone (a PostgreSQL identity never reuses an id). On MySQL a column referencing such a
/// key is a `BIGINT` too, `RESTRICT` is `NO ACTION` and a unique index is a `UNIQUE` constraint; on
/// MySQL and PostgreSQL a literal default is of its column's kind
/// ([`default_of_kind`](crate::reported::default_of_kind)).
pub fn for_dialect(schema: &Schema, dialect: Dialect) -> Schema {
    let mut schema = schema.clone();
    // MySQL takes a foreign key only between columns of one integer type: a column referencing a
    // table's integer key is that key's BIGINT too.
    let auto_keys: std::collections::HashSet<(String, String)> = match dialect {
        Dialect::Mysql => schema
            .tables
            .iter()
            .filter_map(|t| t.auto_key().map(|c| (t.name.clone(), c.name.clone())))
            .collect(),
        Dialect::Sqlite | Dialect::Postgres => Default::default(),
    };
    for table in &mut schema.tables {
        if dialect == Dialect::Mysql {
            let widened: Vec<String> = table
                .foreign_keys
                .iter()
                .filter(
                    |fk| match (fk.columns.as_slice(), fk.referenced_columns.as_slice()) {
                        ([_], [to]) => auto_keys.contains(&(fk.references.clone(), to.clone())),
                        _ => false,
                    },
                )
                .map(|fk| fk.columns[0].clone())
                .collect();
            for column in &mut table.columns {
                if widened.contains(&column.name) && column.ty.is_integer() {
                    column.ty = ColumnType::BigInt;
                }
            }
        }
        let auto = table.auto_key().map(|c| c.name.clone());
        for column in &mut table.columns {
            column.default = column
                .default
                .as_deref()
                .map(crate::reported::normalise_default);
            if dialect != Dialect::Sqlite {
                // As the server stores it and introspection reads it: `DEFAULT 0` on a text
                // column is the text '0', `DEFAULT '0'` on an integer column the number.
                column.default = column
                    .default
                    .as_deref()
                    .map(|default| crate::reported::default_of_kind(default, &column.ty));
            }
            if table.primary_key.contains(&column.name) {
                column.nullable = false;
            }
            if auto.as_deref() == Some(column.name.as_str()) {
                column.ty = match dialect {
                    Dialect::Sqlite => ColumnType::Integer,
                    Dialect::Postgres | Dialect::Mysql => ColumnType::BigInt,
                };
                column.default = None;
            }
            // A PostgreSQL identity never hands out an id twice: there is nothing to express.
            if dialect != Dialect::Sqlite || auto.as_deref() != Some(column.name.as_str()) {
                column.autoincrement = false;
            }
        }
        if dialect == Dialect::Mysql {
            // InnoDB's NO ACTION is RESTRICT (checked at once), and it reports a foreign key
            // declared with neither as RESTRICT.
            for fk in &mut table.foreign_keys {
                for action in [&mut fk.on_delete, &mut fk.on_update] {
                    if *action == Action::Restrict {
                        *action = Action::NoAction;
                    }
                }
            }
            // MySQL keeps a UNIQUE constraint as a unique index and reports the two alike.
            let (unique, plain): (Vec<Index>, Vec<Index>) =
                table.indexes.drain(..).partition(|index| index.unique);
            table.indexes = plain;
            table.uniques.extend(unique.into_iter().map(|index| Unique {
                name: index.name,
                columns: index.columns,
            }));
            table.uniques.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    schema
}

/// `from` and `to` as `dialect` stores them ([`for_dialect`]), ready to diff. On MySQL, a check of
/// `from` that is `to`'s same-named check in the server's own spelling (see
/// [`same_mysql_check`](crate::reported::same_mysql_check)) takes `to`'s text, and a `VARCHAR`
/// column of `from` that `to` declares `TEXT` under a key or index takes `to`'s type: MySQL indexes
/// no whole `TEXT` column, so its scripts declare such a column `VARCHAR(N)` with an N the models
/// do not give.
pub fn comparable(from: &Schema, to: &Schema, dialect: Dialect) -> (Schema, Schema) {
    let mut from = for_dialect(from, dialect);
    let to = for_dialect(to, dialect);
    if dialect == Dialect::Mysql {
        for table in &mut from.tables {
            let Some(goal) = to.table(&table.name) else {
                continue;
            };
            for column in &mut table.columns {
                let keyed_text = goal.column(&column.name).is_some_and(|declared| {
                    declared.ty == ColumnType::Text && keyed(goal, &declared.name)
                });
                if keyed_text && matches!(column.ty, ColumnType::Varchar(_)) {
                    column.ty = ColumnType::Text;
                }
            }
            for check in &mut table.checks {
                if let Some(declared) = goal.checks.iter().find(|c| c.name == check.name) {
                    if crate::reported::same_mysql_check(&check.expression, &declared.expression) {
                        check.expression = declared.expression.clone();
                    }
                }
            }
        }
    }
    (from, to)
}

/// Whether `column` is in `table`'s primary key, a unique constraint or an index.
fn keyed(table: &Table, column: &str) -> bool {
    let name = column.to_string();
    table.primary_key.contains(&name)
        || table.uniques.iter().any(|u| u.columns.contains(&name))
        || table.indexes.iter().any(|i| i.columns.contains(&name))
}

/// Who generates migrations, as their SQL names it: the header says which command wrote a script,
/// and a guard that stops a script run the wrong way says which command runs it right. The
/// application gives its own names; the engine knows no command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generator<'a> {
    /// The application's name, opening the guards' error messages (`NAME: rebuilding ...`).
    pub name: &'a str,
    /// The command that generates migrations, e.g. `workhub db create`.
    pub create: &'a str,
    /// The command that applies them, e.g. `workhub db upgrade`.
    pub upgrade: &'a str,
}

/// The SQL of `changes`, which turn `from` into `to`, for `dialect`.
pub fn render(
    dialect: Dialect,
    from: &Schema,
    to: &Schema,
    changes: &[Change],
    generator: &Generator,
) -> String {
    match dialect {
        Dialect::Sqlite => sqlite(from, to, changes, generator),
        Dialect::Postgres => postgres(from, to, changes, &Style::default()),
        Dialect::Mysql => mysql(from, to, changes),
    }
}

/// The comment block opening a generated script: what was detected, what destroys data, what may be
/// a rename, and what will fail on existing rows unless the developer backfills first.
pub fn header(title: &str, changes: &[Change], generator: &Generator) -> String {
    header_from(title, "the models", changes, generator)
}

/// [`header`] for a MySQL script: the statements it suggests (a `RENAME`, a backfill) backquoted,
/// as MySQL reads names.
pub fn header_mysql(title: &str, changes: &[Change], generator: &Generator) -> String {
    header_quoted(title, "the models", changes, generator, mysql::quote)
}

/// [`header`] for SQL generated from `source` (`the models`, or what migrations build up to a
/// revision).
pub fn header_from(title: &str, source: &str, changes: &[Change], generator: &Generator) -> String {
    header_quoted(title, source, changes, generator, quote)
}

fn header_quoted(
    title: &str,
    source: &str,
    changes: &[Change],
    generator: &Generator,
    quote: fn(&str) -> String,
) -> String {
    let mut out = format!(
        "-- {title}\n-- Generated by `{}` from {source}. Review before applying.\n",
        generator.create
    );
    out.push_str("-- Detected:\n");
    for change in changes {
        let _ = writeln!(out, "--   {}", change.describe());
    }
    for hint in rename_hints(changes) {
        let statement = match &hint {
            RenameHint::Table { from, to } => {
                format!("ALTER TABLE {} RENAME TO {};", quote(from), quote(to))
            }
            RenameHint::Column { table, from, to } => format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {};",
                quote(table),
                quote(from),
                quote(to)
            ),
        };
        let _ = write!(
            out,
            "-- POSSIBLE RENAME: {}. A drop and an add of the same shape were detected; if this is a rename,\n\
             -- replace the statements that drop and add it with this one, which keeps the data:\n--   {statement}\n",
            hint.describe()
        );
    }
    for change in changes {
        match change {
            Change::AlterColumn { table, from, to }
                if from.nullable && !to.nullable && to.default.is_none() =>
            {
                let _ = write!(
                    out,
                    "-- WARNING: {table}.{col} becomes NOT NULL and has no default: existing NULLs make this\n\
                     -- migration fail. Backfill them first, at the top of this file, e.g.\n\
                     --   UPDATE {t} SET {c} = <value> WHERE {c} IS NULL;\n",
                    col = to.name,
                    t = quote(table),
                    c = quote(&to.name),
                );
            }
            Change::AddColumn { table, column } if !column.nullable && column.default.is_none() => {
                let _ = write!(
                    out,
                    "-- WARNING: {table}.{} is NOT NULL without a default: this fails if {table} has rows.\n\
                     -- Give it a default in the model, or add it nullable, backfill, then tighten it.\n",
                    column.name
                );
            }
            _ => {}
        }
    }
    out.push('\n');
    out
}

/// Every warning the scripts of `changes` carry in their comments ([`header`]'s, the destructive
/// notes above statements, the backfills), one line each, for the command that writes them to print.
pub fn warnings(changes: &[Change]) -> Vec<String> {
    let mut out: Vec<String> = rename_hints(changes)
        .iter()
        .map(|hint| {
            format!(
                "possible rename: {}: a drop and an add of the same shape; if it is a rename, the \
                 comment in up.sql gives the statement that keeps the data",
                hint.describe()
            )
        })
        .collect();
    for change in changes {
        if change.is_destructive() {
            out.push(format!("destructive: {}: data can be lost", change.what()));
        }
        match change {
            Change::AlterColumn { table, from, to } if from.nullable && !to.nullable => {
                out.push(match &to.default {
                    None => format!(
                        "{table}.{} becomes NOT NULL and has no default: existing NULLs make this \
                         migration fail; backfill them first (the comment in up.sql shows how)",
                        to.name
                    ),
                    Some(default) => format!(
                        "backfill: {table}.{} becomes NOT NULL: existing NULLs are set to its default \
                         {default} first (on PostgreSQL in batches of {} rows)",
                        to.name,
                        online::BACKFILL_BATCH
                    ),
                });
            }
            Change::AddColumn { table, column } if !column.nullable && column.default.is_none() => {
                out.push(format!(
                    "{table}.{} is NOT NULL without a default: the migration fails if {table} has rows",
                    column.name
                ));
            }
            _ => {}
        }
    }
    out
}

/// A double-quoted identifier, valid on both backends.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn column_list(columns: &[String]) -> String {
    quoted_list(columns, quote)
}

/// `columns`, each quoted by `quote` (the dialect's identifier quoting), comma-separated.
pub(crate) fn quoted_list(columns: &[String], quote: fn(&str) -> String) -> String {
    columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A comment line marking a statement that can lose data, placed right above it.
pub(crate) fn destructive_note(change: &Change) -> String {
    if change.is_destructive() {
        format!("-- DESTRUCTIVE, data can be lost: {}\n", change.what())
    } else {
        String::new()
    }
}

/// `CREATE [UNIQUE] INDEX`, the same on both backends.
pub(crate) fn create_index(table: &str, index: &Index) -> String {
    format!(
        "CREATE {}INDEX {} ON {} ({});\n",
        if index.unique { "UNIQUE " } else { "" },
        quote(&index.name),
        quote(table),
        column_list(&index.columns)
    )
}

/// A `UNIQUE` table constraint.
pub(crate) fn unique_sql(unique: &Unique) -> String {
    format!(
        "CONSTRAINT {} UNIQUE ({})",
        quote(&unique.name),
        column_list(&unique.columns)
    )
}

/// A `FOREIGN KEY` table constraint with its actions (NO ACTION, the default, left out).
pub(crate) fn foreign_key_sql(fk: &ForeignKey) -> String {
    foreign_key_quoted(fk, quote)
}

/// [`foreign_key_sql`] with the names quoted by `quote`.
pub(crate) fn foreign_key_quoted(fk: &ForeignKey, quote: fn(&str) -> String) -> String {
    let mut sql = format!(
        "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
        quote(&fk.name),
        quoted_list(&fk.columns, quote),
        quote(&fk.references),
        quoted_list(&fk.referenced_columns, quote)
    );
    for (event, action) in [("DELETE", fk.on_delete), ("UPDATE", fk.on_update)] {
        if action != Default::default() {
            let _ = write!(sql, " ON {event} {}", action.sql());
        }
    }
    sql
}

/// A named `CHECK` table constraint.
pub(crate) fn check_sql(check: &Check) -> String {
    format!(
        "CONSTRAINT {} CHECK ({})",
        quote(&check.name),
        check.expression
    )
}
