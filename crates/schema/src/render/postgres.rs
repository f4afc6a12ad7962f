//! PostgreSQL's SQL: transactional DDL that alters tables in place. An integer primary key becomes a
//! `BIGINT` identity (SQLite's rowid is 64-bit too), and every check constraint carries its source
//! expression as a comment so introspection compares it exactly.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::online::{not_null_check, BACKFILL_BATCH};
use super::{
    check_sql, column_list, create_index, destructive_note, foreign_key_sql, quote, unique_sql,
};
use crate::{Change, Check, Column, ColumnType, Schema, Table};

/// How a PostgreSQL script is written: plainly (the default), or in the online form `db create`
/// writes (see [`online`](super::online)).
#[derive(Debug, Clone, Copy, Default)]
pub struct Style<'a> {
    /// The `lock_timeout` the script sets first: `SET LOCAL` in a transaction, which ends with it;
    /// `SET` for the session outside one, reset at the end.
    pub lock_timeout: Option<&'a str>,
    /// The script runs outside a transaction: indexes are built and dropped `CONCURRENTLY`, a
    /// unique constraint is attached to an index built so, and NOT NULL is set through a validated
    /// check after a batched backfill, each statement committing on its own.
    pub outside_transaction: bool,
    /// Foreign keys and checks added to existing tables are added `NOT VALID`, for a script outside
    /// a transaction to validate.
    pub not_valid: bool,
    /// Constraints to `VALIDATE` first, `(table, constraint)`.
    pub validate: &'a [(String, String)],
}

pub fn postgres(_from: &Schema, _to: &Schema, changes: &[Change], style: &Style) -> String {
    let mut out = String::new();
    if let Some(timeout) = style.lock_timeout {
        let scope = if style.outside_transaction {
            "SET"
        } else {
            "SET LOCAL"
        };
        let _ = writeln!(
            out,
            "-- A statement that waits longer than this for a lock fails, rather than queue all traffic on the table behind it.\n\
             {scope} lock_timeout = '{timeout}';"
        );
    }
    if !style.validate.is_empty() {
        out.push_str(
            "-- Validates what the migration before added NOT VALID: a scan under SHARE UPDATE EXCLUSIVE, reads and writes go on.\n",
        );
    }
    for (table, constraint) in style.validate {
        let _ = writeln!(
            out,
            "ALTER TABLE {} VALIDATE CONSTRAINT {};",
            quote(table),
            quote(constraint)
        );
    }
    let not_valid = if style.not_valid { " NOT VALID" } else { "" };
    let online = style.outside_transaction;
    let added: Vec<&Table> = changes
        .iter()
        .filter_map(|c| match c {
            Change::AddTable(table) => Some(table),
            _ => None,
        })
        .collect();
    let dropped: HashSet<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::DropTable(table) => Some(table.name.as_str()),
            _ => None,
        })
        .collect();
    // New tables first, then their foreign keys: new tables may reference each other.
    for table in &added {
        out.push_str(&create_table(table));
    }
    for table in &added {
        for fk in &table.foreign_keys {
            let _ = writeln!(
                out,
                "ALTER TABLE {} ADD {};",
                quote(&table.name),
                foreign_key_sql(fk)
            );
        }
    }
    let mut dropping = false;
    for change in changes {
        if let Change::DropTable(_) = change {
            if !dropping {
                dropping = true;
                // Foreign keys between dropped tables go first, so a cycle cannot block the drops.
                for change in changes {
                    if let Change::DropTable(table) = change {
                        for fk in table
                            .foreign_keys
                            .iter()
                            .filter(|fk| dropped.contains(&fk.references.as_str()))
                        {
                            out.push_str(&drop_constraint(&table.name, &fk.name));
                        }
                    }
                }
            }
        }
        out.push_str(&destructive_note(change));
        match change {
            Change::AddTable(_) => {}
            Change::DropTable(table) => {
                let _ = writeln!(out, "DROP TABLE {};", quote(&table.name));
            }
            Change::AddColumn { table, column } => {
                let _ = writeln!(
                    out,
                    "ALTER TABLE {} ADD COLUMN {};",
                    quote(table),
                    column_sql(column, false)
                );
            }
            Change::DropColumn { table, column } => {
                let _ = writeln!(
                    out,
                    "ALTER TABLE {} DROP COLUMN {};",
                    quote(table),
                    quote(&column.name)
                );
            }
            Change::AlterColumn { table, from, to } if online && from.nullable && !to.nullable => {
                out.push_str(&set_not_null_online(table, to));
            }
            Change::AlterColumn { table, from, to } => out.push_str(&alter_column(table, from, to)),
            Change::AlterPrimaryKey { table, from, to } => {
                if !from.is_empty() {
                    let _ = writeln!(
                        out,
                        "ALTER TABLE {} DROP CONSTRAINT {};",
                        quote(table),
                        quote(&format!("{table}_pkey"))
                    );
                }
                if !to.is_empty() {
                    let _ = writeln!(
                        out,
                        "ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({});",
                        quote(table),
                        quote(&format!("{table}_pkey")),
                        column_list(to)
                    );
                }
            }
            Change::AddIndex { table, index } if online => {
                out.push_str(&without_lock_timeout(
                    style,
                    &create_index_concurrently(table, &index.name, &index.columns, index.unique),
                ));
            }
            Change::AddIndex { table, index } => out.push_str(&create_index(table, index)),
            Change::DropIndex { index, .. } if online => {
                out.push_str(&without_lock_timeout(
                    style,
                    &format!(
                        "DROP INDEX CONCURRENTLY IF EXISTS {};\n",
                        quote(&index.name)
                    ),
                ));
            }
            Change::DropIndex { index, .. } => {
                let _ = writeln!(out, "DROP INDEX {};", quote(&index.name));
            }
            Change::AddUnique { table, unique } if online => {
                // A rerun after the attach below committed finds the index owned by the
                // constraint, which DROP INDEX refuses: the constraint goes first (an instant).
                out.push_str(&drop_constraint_if_exists(table, &unique.name));
                out.push_str(&without_lock_timeout(
                    style,
                    &create_index_concurrently(table, &unique.name, &unique.columns, true),
                ));
                // Attaching the built index takes ACCESS EXCLUSIVE for an instant: nothing is scanned.
                let _ = writeln!(
                    out,
                    "ALTER TABLE {t} ADD CONSTRAINT {n} UNIQUE USING INDEX {n};",
                    t = quote(table),
                    n = quote(&unique.name)
                );
            }
            Change::AddUnique { table, unique } => {
                let _ = writeln!(
                    out,
                    "ALTER TABLE {} ADD {};",
                    quote(table),
                    unique_sql(unique)
                );
            }
            // Outside a transaction each statement commits: a rerun after a later one failed
            // finds the constraint gone already.
            Change::DropUnique { table, unique } if online => {
                out.push_str(&drop_constraint_if_exists(table, &unique.name))
            }
            Change::DropUnique { table, unique } => {
                out.push_str(&drop_constraint(table, &unique.name))
            }
            Change::AddForeignKey { table, foreign_key } => {
                let _ = writeln!(
                    out,
                    "ALTER TABLE {} ADD {}{not_valid};",
                    quote(table),
                    foreign_key_sql(foreign_key)
                );
            }
            Change::DropForeignKey { table, foreign_key } => {
                out.push_str(&drop_constraint(table, &foreign_key.name))
            }
            Change::AlterForeignKey { table, from, to } => {
                out.push_str(&drop_constraint(table, &from.name));
                let _ = writeln!(
                    out,
                    "ALTER TABLE {} ADD {}{not_valid};",
                    quote(table),
                    foreign_key_sql(to)
                );
            }
            Change::AddCheck { table, check } => {
                let _ = writeln!(
                    out,
                    "ALTER TABLE {} ADD {}{not_valid};",
                    quote(table),
                    check_sql(check)
                );
                out.push_str(&check_comment(table, check));
            }
            Change::DropCheck { table, check } => {
                out.push_str(&drop_constraint(table, &check.name))
            }
        }
    }
    if style.lock_timeout.is_some() && online {
        // The session goes back to the timeout it had.
        out.push_str("RESET lock_timeout;\n");
    }
    out
}

/// `sql` (statements `CONCURRENTLY`) run with no `lock_timeout`: such a statement waits for every
/// older transaction in the database to end, which blocks no reads or writes, and a timeout there
/// would cancel the build whenever a report or a dump runs longer; the timeout is set again after.
fn without_lock_timeout(style: &Style, sql: &str) -> String {
    match style.lock_timeout {
        Some(timeout) => format!("SET lock_timeout = 0;\n{sql}SET lock_timeout = '{timeout}';\n"),
        None => sql.to_string(),
    }
}

/// Builds an index without blocking writes. A build that failed (a duplicate, a lock timeout)
/// leaves an invalid index behind under the name: it is dropped first, so the script can run again.
fn create_index_concurrently(table: &str, name: &str, columns: &[String], unique: bool) -> String {
    format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {n};\n\
         CREATE {}INDEX CONCURRENTLY {n} ON {} ({});\n",
        if unique { "UNIQUE " } else { "" },
        quote(table),
        column_list(columns),
        n = quote(name),
    )
}

/// NOT NULL on an existing column without a long lock: existing NULLs backfilled with the default in
/// batches, each committed on its own; a `CHECK (col IS NOT NULL)` added `NOT VALID` (an instant),
/// validated (a scan under SHARE UPDATE EXCLUSIVE, writes go on); then `SET NOT NULL`, which
/// PostgreSQL 12+ proves from the valid check without scanning, and the check dropped.
fn set_not_null_online(table: &str, column: &Column) -> String {
    let mut out = String::new();
    let (t, c) = (quote(table), quote(&column.name));
    let check = quote(&not_null_check(table, &column.name));
    if let Some(default) = &column.default {
        let _ = write!(
            out,
            "-- BACKFILL: existing NULLs in {table}.{name} become {default}, {BACKFILL_BATCH} rows per transaction.\n\
             DO $workhub_backfill$\n\
             DECLARE\n    updated bigint;\n\
             BEGIN\n    LOOP\n        \
             UPDATE {t} SET {c} = {default} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {t} WHERE {c} IS NULL LIMIT {BACKFILL_BATCH}));\n        \
             GET DIAGNOSTICS updated = ROW_COUNT;\n        \
             EXIT WHEN updated = 0;\n        \
             COMMIT;\n    END LOOP;\n\
             END\n\
             $workhub_backfill$;\n",
            name = column.name,
        );
    }
    let _ = write!(
        out,
        "ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {check};\n\
         ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID;\n\
         ALTER TABLE {t} VALIDATE CONSTRAINT {check};\n\
         ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;\n\
         ALTER TABLE {t} DROP CONSTRAINT {check};\n"
    );
    out
}

fn drop_constraint(table: &str, name: &str) -> String {
    format!(
        "ALTER TABLE {} DROP CONSTRAINT {};\n",
        quote(table),
        quote(name)
    )
}

fn drop_constraint_if_exists(table: &str, name: &str) -> String {
    format!(
        "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};\n",
        quote(table),
        quote(name)
    )
}

fn alter_column(table: &str, from: &Column, to: &Column) -> String {
    let mut out = String::new();
    let prefix = format!(
        "ALTER TABLE {} ALTER COLUMN {}",
        quote(table),
        quote(&to.name)
    );
    if from.ty != to.ty {
        let ty = type_sql(&to.ty);
        let textual = |t: &ColumnType| matches!(t, ColumnType::Text | ColumnType::Varchar(_));
        if textual(&from.ty) && textual(&to.ty) {
            // The implicit assignment cast fails on a value that does not fit; an explicit USING
            // cast would silently truncate it.
            let _ = writeln!(out, "{prefix} TYPE {ty};");
        } else {
            let _ = writeln!(out, "{prefix} TYPE {ty} USING {}::{ty};", quote(&to.name));
        }
    }
    if from.default != to.default {
        match &to.default {
            Some(default) => {
                let _ = writeln!(out, "{prefix} SET DEFAULT {default};");
            }
            None => {
                let _ = writeln!(out, "{prefix} DROP DEFAULT;");
            }
        }
    }
    if from.nullable && !to.nullable {
        if let Some(default) = &to.default {
            let _ = writeln!(
                out,
                "UPDATE {} SET {c} = {default} WHERE {c} IS NULL;",
                quote(table),
                c = quote(&to.name)
            );
        }
        let _ = writeln!(out, "{prefix} SET NOT NULL;");
    } else if !from.nullable && to.nullable {
        let _ = writeln!(out, "{prefix} DROP NOT NULL;");
    }
    out
}

fn create_table(table: &Table) -> String {
    let auto = table.auto_key().map(|c| c.name.clone());
    let mut lines: Vec<String> = table
        .columns
        .iter()
        .map(|column| column_sql(column, auto.as_deref() == Some(column.name.as_str())))
        .collect();
    if !table.primary_key.is_empty() {
        lines.push(format!(
            "CONSTRAINT {} PRIMARY KEY ({})",
            quote(&format!("{}_pkey", table.name)),
            column_list(&table.primary_key)
        ));
    }
    lines.extend(table.uniques.iter().map(unique_sql));
    lines.extend(table.checks.iter().map(check_sql));
    let mut out = format!(
        "CREATE TABLE {} (\n    {}\n);\n",
        quote(&table.name),
        lines.join(",\n    ")
    );
    for check in &table.checks {
        out.push_str(&check_comment(&table.name, check));
    }
    for index in &table.indexes {
        out.push_str(&create_index(&table.name, index));
    }
    out
}

fn check_comment(table: &str, check: &Check) -> String {
    format!(
        "COMMENT ON CONSTRAINT {} ON {} IS '{}';\n",
        quote(&check.name),
        quote(table),
        check.expression.replace('\'', "''")
    )
}

fn column_sql(column: &Column, identity: bool) -> String {
    if identity {
        return format!(
            "{} BIGINT GENERATED BY DEFAULT AS IDENTITY",
            quote(&column.name)
        );
    }
    let mut sql = format!("{} {}", quote(&column.name), type_sql(&column.ty));
    if !column.nullable {
        sql.push_str(" NOT NULL");
    }
    if let Some(default) = &column.default {
        let _ = write!(sql, " DEFAULT {default}");
    }
    sql
}

fn type_sql(ty: &ColumnType) -> String {
    match ty {
        ColumnType::Binary => "BYTEA".into(),
        ColumnType::Float => "REAL".into(),
        other => other.to_string(),
    }
}
