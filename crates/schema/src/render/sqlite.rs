//! SQLite's SQL. What its `ALTER TABLE` cannot do is the documented table rebuild: create the new
//! table, copy the rows, drop the old one, rename, recreate indexes and triggers, then check foreign
//! keys, all inside the migration's transaction so a failure leaves nothing behind.

use std::fmt::Write as _;

use super::{
    check_sql, column_list, create_index, destructive_note, foreign_key_sql, quote, unique_sql,
    Generator,
};
use crate::{Change, Column, ColumnType, Schema, Table};

const NEW_PREFIX: &str = "_workhub_new_";

pub fn sqlite(from: &Schema, to: &Schema, changes: &[Change], generator: &Generator) -> String {
    let mut out = String::new();
    let (from_tables, to_tables) = (from.tables_by_name(), to.tables_by_name());
    let mut rebuilt = false;
    let mut index = 0;
    while index < changes.len() {
        match &changes[index] {
            Change::AddTable(table) => {
                out.push_str(&create_table(table, &table.name));
                out.push_str(&create_indexes(table));
                index += 1;
            }
            change @ Change::DropTable(table) => {
                out.push_str(&destructive_note(change));
                let _ = writeln!(out, "DROP TABLE {};", quote(&table.name));
                index += 1;
            }
            change => {
                let name = change.table().to_string();
                let end = changes[index..]
                    .iter()
                    .position(|c| {
                        c.table() != name || matches!(c, Change::AddTable(_) | Change::DropTable(_))
                    })
                    .map_or(changes.len(), |n| index + n);
                let group = &changes[index..end];
                let (Some(old), Some(new)) = (
                    from_tables.get(name.as_str()).copied(),
                    to_tables.get(name.as_str()).copied(),
                ) else {
                    index = end;
                    continue;
                };
                if group.iter().all(|c| in_place(c, old)) {
                    for change in group {
                        out.push_str(&in_place_sql(change));
                    }
                } else {
                    for change in group.iter().filter(|c| c.is_destructive()) {
                        out.push_str(&destructive_note(change));
                    }
                    out.push_str(&rebuild(old, new, generator));
                    rebuilt = true;
                }
                index = end;
            }
        }
        out.push('\n');
    }
    if rebuilt {
        out.insert_str(0, &foreign_keys_off_guard(generator));
        out.push_str(FOREIGN_KEY_CHECK);
    }
    out.trim_end().to_string() + "\n"
}

/// The first statement of every generated SQLite script that has a PostgreSQL counterpart: a no-op
/// on SQLite (text cast to INTEGER is 0), and on PostgreSQL, which runs it only when a runner that
/// knows nothing of `file` (diesel_cli) picks `up.sql` instead, an error that quotes the text. It
/// runs before anything else, so nothing changes.
pub fn postgres_refusal(file: &str, generator: &Generator) -> String {
    let message = format!(
        "{}: this file is SQLite SQL; on PostgreSQL run {file} instead, with `{}`",
        generator.name, generator.upgrade
    );
    format!(
        "-- For SQLite only: PostgreSQL must run {file}. On PostgreSQL this statement fails, before anything changes.\n\
         SELECT CAST({} AS INTEGER);\n\n",
        literal(&message)
    )
}

/// SQLite reports no error with a message of our choosing outside a trigger, but a JSON path that
/// does not start with `$` fails `json_extract` with the path quoted in the error: each guard
/// selects one only when its condition holds.
fn fail_with(message_sql: &str, from_where: &str) -> String {
    format!("SELECT json_extract('{{}}', {message_sql}) FROM {from_where};\n")
}

/// A rebuild drops the old table; with foreign keys on, that deletes (or nulls) every row that
/// references it, so such a run fails first. The engine turns them off for migrations; diesel_cli
/// turns them on, and cannot turn them off inside the migration's transaction.
fn foreign_keys_off_guard(generator: &Generator) -> String {
    let message = format!(
        "{}: this migration rebuilds tables and needs foreign keys off, or the rows that reference them are deleted; nothing was changed: run it with `{}`",
        generator.name, generator.upgrade
    );
    format!(
        "-- Rebuilds must run with foreign keys off ({} does so): dropping a table would otherwise delete the rows that reference it.\n\
         SELECT json_extract('{{}}', {}) FROM pragma_foreign_keys WHERE foreign_keys = 1;\n\n",
        generator.name,
        literal(&message)
    )
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Fails the migration, before the rebuild of `old` changes anything, unless the live table has
/// exactly the columns it was generated from (`pragma_table_xinfo`, so generated and hidden columns
/// count too): a column added since (by another branch's migration,
/// say) would otherwise be dropped with its data.
fn columns_guard(old: &Table, generator: &Generator) -> String {
    let names: Vec<String> = old.columns.iter().map(|c| literal(&c.name)).collect();
    let json: Vec<String> = old
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    let table = literal(&old.name);
    let changed = changed_since(generator);
    let mut out = String::from(
        "-- The live table must have exactly the columns this rebuild was generated from, or data would be lost.\n",
    );
    out.push_str(&fail_with(
        &format!(
            "{} || group_concat(name, ', ') || {}",
            literal(&format!(
                "{}: rebuilding {} would lose columns: ",
                generator.name, old.name
            )),
            literal(&format!("; {changed}"))
        ),
        &format!(
            "pragma_table_xinfo({table}) WHERE name NOT IN ({}) HAVING count(*) > 0",
            names.join(", ")
        ),
    ));
    out.push_str(&fail_with(
        &format!(
            "{} || group_concat(value, ', ') || {}",
            literal(&format!(
                "{}: rebuilding {} expects columns it lacks: ",
                generator.name, old.name
            )),
            literal(&format!("; {changed}"))
        ),
        &format!(
            "json_each({}) WHERE value NOT IN (SELECT name FROM pragma_table_xinfo({table})) HAVING count(*) > 0",
            literal(&format!("[{}]", json.join(",")))
        ),
    ));
    out
}

/// Fails the migration, before the rebuild of `old` changes anything, unless the live table has
/// exactly the indexes and triggers it was generated from: dropping the table drops them all, and
/// the rebuild re-creates only those it knows (a UNIQUE index another branch added would vanish).
/// SQLite's own indexes for UNIQUE and PRIMARY KEY constraints (`sqlite_autoindex_*`) are the
/// table's definition, which the column guard and the rebuild cover.
fn objects_guard(old: &Table, generator: &Generator) -> String {
    let mut names: Vec<String> = old.indexes.iter().map(|i| i.name.clone()).collect();
    names.extend(old.triggers.iter().filter_map(|t| trigger_name(t)));
    let list: Vec<String> = names.iter().map(|n| literal(n)).collect();
    let json: Vec<String> = names
        .iter()
        .map(|n| format!("\"{}\"", n.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    let table = literal(&old.name);
    let live = format!(
        "sqlite_master WHERE tbl_name = {table} AND type IN ('index', 'trigger') \
         AND substr(name, 1, 17) <> 'sqlite_autoindex_'"
    );
    let changed = changed_since(generator);
    let mut out = String::from(
        "-- The live table must have exactly the indexes and triggers this rebuild was generated from, or they would be lost.\n",
    );
    out.push_str(&fail_with(
        &format!(
            "{} || group_concat(type || ' ' || name, ', ') || {}",
            literal(&format!(
                "{}: rebuilding {} would lose ",
                generator.name, old.name
            )),
            literal(&format!("; {changed}"))
        ),
        &if list.is_empty() {
            // An empty `IN ()` is SQLite's alone; PostgreSQL, which parses the whole file when
            // diesel_cli feeds it up.sql, must reach the first statement's refusal.
            format!("{live} HAVING count(*) > 0")
        } else {
            format!(
                "{live} AND name NOT IN ({}) HAVING count(*) > 0",
                list.join(", ")
            )
        },
    ));
    out.push_str(&fail_with(
        &format!(
            "{} || group_concat(value, ', ') || {}",
            literal(&format!(
                "{}: rebuilding {} expects indexes or triggers it lacks: ",
                generator.name, old.name
            )),
            literal(&format!("; {changed}"))
        ),
        &format!(
            "json_each({}) WHERE value NOT IN (SELECT name FROM {live}) HAVING count(*) > 0",
            literal(&format!("[{}]", json.join(",")))
        ),
    ));
    out
}

/// The name a `CREATE TRIGGER` statement gives, unquoted.
fn trigger_name(sql: &str) -> Option<String> {
    let mut rest = sql.trim_start();
    let word = |rest: &mut &str| -> Option<String> {
        let text = rest.trim_start();
        let (name, tail) = match text.chars().next()? {
            q @ ('"' | '`' | '[') => {
                let close = if q == '[' { ']' } else { q };
                let end = text[1..].find(close)? + 1;
                (text[1..end].to_string(), &text[end + 1..])
            }
            _ => {
                let end = text
                    .find(|c: char| c.is_whitespace() || c == '(')
                    .unwrap_or(text.len());
                (text[..end].to_string(), &text[end..])
            }
        };
        *rest = tail;
        Some(name)
    };
    let mut name = String::new();
    for _ in 0..8 {
        name = word(&mut rest)?;
        match name.to_ascii_uppercase().as_str() {
            "CREATE" | "TEMP" | "TEMPORARY" | "TRIGGER" | "IF" | "NOT" | "EXISTS" => continue,
            _ => break,
        }
    }
    // `schema.name`: the part after the dot.
    Some(match name.rsplit_once('.') {
        Some((_, tail)) => tail.trim_matches(['"', '`', '[', ']']).to_string(),
        None => name,
    })
}

/// Fails the migration (and so rolls the rebuild back) when any row breaks a foreign key: the
/// temporary table's CHECK turns `PRAGMA foreign_key_check`'s report into an error.
const FOREIGN_KEY_CHECK: &str = "-- Every foreign key must still hold after the rebuild (PRAGMA foreign_key_check).\n\
CREATE TEMP TABLE \"_workhub_foreign_key_check\" (violations INTEGER CONSTRAINT \"rows that break a foreign key: run PRAGMA foreign_key_check\" CHECK (violations = 0));\n\
INSERT INTO \"_workhub_foreign_key_check\" SELECT COUNT(*) FROM pragma_foreign_key_check;\n\
DROP TABLE \"_workhub_foreign_key_check\";\n";

/// Whether SQLite's `ALTER TABLE` / `CREATE INDEX` can make `change` without a rebuild.
fn in_place(change: &Change, old: &Table) -> bool {
    match change {
        Change::AddIndex { .. } | Change::DropIndex { .. } => true,
        Change::AddColumn { column, .. } => {
            // SQLite refuses a non-constant default on ADD COLUMN once the table has rows.
            column
                .default
                .as_deref()
                .map_or(column.nullable, is_constant)
        }
        Change::DropColumn { column, .. } => {
            let name = &column.name;
            !old.primary_key.contains(name)
                && !old.uniques.iter().any(|u| u.columns.contains(name))
                && !old.foreign_keys.iter().any(|fk| fk.columns.contains(name))
                && !old
                    .checks
                    .iter()
                    .any(|c| c.expression.contains(name.as_str()))
        }
        _ => false,
    }
}

fn in_place_sql(change: &Change) -> String {
    match change {
        Change::AddIndex { table, index } => create_index(table, index),
        Change::DropIndex { index, .. } => format!("DROP INDEX {};\n", quote(&index.name)),
        Change::AddColumn { table, column } => {
            format!(
                "ALTER TABLE {} ADD COLUMN {};\n",
                quote(table),
                column_sql(column, false)
            )
        }
        Change::DropColumn { table, column } => format!(
            "{}ALTER TABLE {} DROP COLUMN {};\n",
            destructive_note(change),
            quote(table),
            quote(&column.name)
        ),
        _ => unreachable!("only in-place changes reach in_place_sql"),
    }
}

/// What a guard adds when the live table is not the one the rebuild was generated from.
fn changed_since(generator: &Generator) -> String {
    format!(
        "it changed after this migration was generated (a migration from another branch?); nothing was changed: delete this migration folder and `{}` it again on the current history",
        generator.create
    )
}

fn rebuild(old: &Table, new: &Table, generator: &Generator) -> String {
    let temp = format!("{NEW_PREFIX}{}", new.name);
    let mut out = format!(
        "-- Rebuild {}: SQLite cannot make these changes in place. New table, copy every row, swap.\n",
        new.name
    );
    out.push_str(&columns_guard(old, generator));
    out.push_str(&objects_guard(old, generator));
    out.push_str(&create_table(new, &temp));
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for column in &new.columns {
        let Some(before) = old.column(&column.name) else {
            continue;
        };
        targets.push(quote(&column.name));
        sources.push(match &column.default {
            Some(default) if before.nullable && !column.nullable => {
                format!(
                    "COALESCE({}, {})",
                    quote(&column.name),
                    default_sql(default)
                )
            }
            _ => quote(&column.name),
        });
    }
    if !targets.is_empty() {
        let _ = writeln!(
            out,
            "INSERT INTO {} ({}) SELECT {} FROM {};",
            quote(&temp),
            targets.join(", "),
            sources.join(", "),
            quote(&old.name)
        );
    }
    let _ = writeln!(out, "DROP TABLE {};", quote(&old.name));
    let _ = writeln!(
        out,
        "ALTER TABLE {} RENAME TO {};",
        quote(&temp),
        quote(&new.name)
    );
    out.push_str(&create_indexes(new));
    for trigger in &old.triggers {
        let _ = writeln!(out, "{};", trigger.trim().trim_end_matches(';'));
    }
    out
}

fn create_table(table: &Table, name: &str) -> String {
    let auto = table.auto_key().map(|c| c.name.clone());
    let mut lines: Vec<String> = table
        .columns
        .iter()
        .map(|column| column_sql(column, auto.as_deref() == Some(column.name.as_str())))
        .collect();
    if auto.is_none() && !table.primary_key.is_empty() {
        lines.push(format!("PRIMARY KEY ({})", column_list(&table.primary_key)));
    }
    lines.extend(table.uniques.iter().map(unique_sql));
    lines.extend(table.foreign_keys.iter().map(foreign_key_sql));
    lines.extend(table.checks.iter().map(check_sql));
    format!(
        "CREATE TABLE {} (\n    {}\n);\n",
        quote(name),
        lines.join(",\n    ")
    )
}

fn create_indexes(table: &Table) -> String {
    table
        .indexes
        .iter()
        .map(|index| create_index(&table.name, index))
        .collect()
}

fn column_sql(column: &Column, rowid_alias: bool) -> String {
    if rowid_alias {
        // Exactly `INTEGER PRIMARY KEY`: only this spelling makes the column SQLite's rowid, assigned
        // on insert. AUTOINCREMENT keeps the largest id ever given in `sqlite_sequence`, so a
        // deleted row's id is not given again.
        let autoincrement = if column.autoincrement {
            " AUTOINCREMENT"
        } else {
            ""
        };
        return format!("{} INTEGER PRIMARY KEY{autoincrement}", quote(&column.name));
    }
    let mut sql = format!("{} {}", quote(&column.name), type_sql(&column.ty));
    if !column.nullable {
        sql.push_str(" NOT NULL");
    }
    if let Some(default) = &column.default {
        let _ = write!(sql, " DEFAULT {}", default_sql(default));
    }
    sql
}

fn type_sql(ty: &ColumnType) -> String {
    match ty {
        ColumnType::Binary => "BLOB".into(),
        other => other.to_string(),
    }
}

/// A default SQLite accepts bare (a literal) as is; any other expression in parentheses.
fn default_sql(default: &str) -> String {
    if is_literal(default) {
        default.to_string()
    } else {
        format!("({default})")
    }
}

fn is_literal(sql: &str) -> bool {
    is_constant(sql)
        || ["CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME"]
            .iter()
            .any(|k| sql.eq_ignore_ascii_case(k))
}

/// A literal SQLite's `ADD COLUMN` accepts as the default of a NOT NULL column.
fn is_constant(sql: &str) -> bool {
    let sql = sql.trim();
    let number = sql.strip_prefix('-').unwrap_or(sql);
    (!number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.'))
        || (sql.len() >= 2
            && sql.starts_with('\'')
            && sql.ends_with('\'')
            && !sql[1..sql.len() - 1].replace("''", "").contains('\''))
        || ["NULL", "TRUE", "FALSE"]
            .iter()
            .any(|k| sql.eq_ignore_ascii_case(k))
}
