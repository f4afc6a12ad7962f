//! MySQL's and MariaDB's SQL: backquoted names, tables altered in place (`MODIFY COLUMN` restates a
//! column whole), an integer primary key as a `BIGINT AUTO_INCREMENT`. Every DDL statement commits
//! itself there, so a script is a sequence of statements each of which either took effect or not:
//! nothing here relies on a transaction.
//!
//! MySQL indexes no `TEXT` column without a prefix length, which the models do not give: an index
//! over one fails when the script runs, naming the column (give the column a `VARCHAR(N)` type).

use std::collections::HashSet;
use std::fmt::Write as _;

use super::destructive_note;
use crate::reported::split_prefix;
use crate::{Change, Check, Column, ColumnType, ForeignKey, Index, Schema, Table, Unique};

pub fn mysql(_from: &Schema, _to: &Schema, changes: &[Change]) -> String {
    let mut out = String::new();
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
                            out.push_str(&drop_foreign_key(&table.name, &fk.name));
                        }
                    }
                }
            }
        }
        out.push_str(&destructive_note(change));
        out.push_str(&change_sql(change));
    }
    out
}

/// The statements of one change (a new table's are written before the loop).
fn change_sql(change: &Change) -> String {
    let alter = |table: &str, what: String| format!("ALTER TABLE {} {what};\n", quote(table));
    match change {
        Change::AddTable(_) => String::new(),
        Change::DropTable(table) => format!("DROP TABLE {};\n", quote(&table.name)),
        Change::AddColumn { table, column } => {
            alter(table, format!("ADD COLUMN {}", column_sql(column, false)))
        }
        Change::DropColumn { table, column } => {
            alter(table, format!("DROP COLUMN {}", quote(&column.name)))
        }
        Change::AlterColumn { table, from, to } => {
            let mut out = String::new();
            if from.nullable && !to.nullable {
                if let Some(default) = &to.default {
                    let _ = writeln!(
                        out,
                        "UPDATE {} SET {c} = {default} WHERE {c} IS NULL;",
                        quote(table),
                        c = quote(&to.name)
                    );
                }
            }
            out.push_str(&alter(
                table,
                format!("MODIFY COLUMN {}", column_sql(to, false)),
            ));
            out
        }
        Change::AlterPrimaryKey { table, from, to } => {
            // One statement: a failure leaves the old key in place (MySQL cannot roll back a
            // second statement), and a foreign key the old key served is never left without one.
            let mut parts = Vec::new();
            if !from.is_empty() {
                parts.push("DROP PRIMARY KEY".to_string());
            }
            if !to.is_empty() {
                parts.push(format!("ADD PRIMARY KEY ({})", column_list(to)));
            }
            alter(table, parts.join(", "))
        }
        Change::AddIndex { table, index } => create_index(table, index),
        Change::DropIndex { table, index } => {
            format!("DROP INDEX {} ON {};\n", quote(&index.name), quote(table))
        }
        Change::AddUnique { table, unique } => alter(table, format!("ADD {}", unique_sql(unique))),
        Change::DropUnique { table, unique } => {
            alter(table, format!("DROP INDEX {}", quote(&unique.name)))
        }
        Change::AddForeignKey { table, foreign_key } => {
            alter(table, format!("ADD {}", foreign_key_sql(foreign_key)))
        }
        Change::DropForeignKey { table, foreign_key } => drop_foreign_key(table, &foreign_key.name),
        Change::AlterForeignKey { table, from, to } => {
            drop_foreign_key(table, &from.name)
                + &alter(table, format!("ADD {}", foreign_key_sql(to)))
        }
        Change::AddCheck { table, check } => alter(table, format!("ADD {}", check_sql(check))),
        Change::DropCheck { table, check } => {
            alter(table, format!("DROP CONSTRAINT {}", quote(&check.name)))
        }
    }
}

/// A backquoted identifier (MySQL reads `"..."` as a string unless `ANSI_QUOTES` is set).
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A key's or index's parts, each backquoted: a prefix part (`name(10)`, as introspection reads
/// one) as MySQL writes it, `` `name`(10) ``.
fn column_list(parts: &[String]) -> String {
    parts
        .iter()
        .map(|part| match split_prefix(part) {
            (column, Some(length)) => format!("{}({length})", quote(column)),
            (column, None) => quote(column),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn drop_foreign_key(table: &str, name: &str) -> String {
    format!(
        "ALTER TABLE {} DROP FOREIGN KEY {};\n",
        quote(table),
        quote(name)
    )
}

fn create_index(table: &str, index: &Index) -> String {
    format!(
        "CREATE {}INDEX {} ON {} ({});\n",
        if index.unique { "UNIQUE " } else { "" },
        quote(&index.name),
        quote(table),
        column_list(&index.columns)
    )
}

fn unique_sql(unique: &Unique) -> String {
    format!(
        "CONSTRAINT {} UNIQUE ({})",
        quote(&unique.name),
        column_list(&unique.columns)
    )
}

fn foreign_key_sql(fk: &ForeignKey) -> String {
    super::foreign_key_quoted(fk, quote)
}

fn check_sql(check: &Check) -> String {
    format!(
        "CONSTRAINT {} CHECK ({})",
        quote(&check.name),
        check.expression
    )
}

fn create_table(table: &Table) -> String {
    let auto = table.auto_key().map(|c| c.name.clone());
    let mut lines: Vec<String> = table
        .columns
        .iter()
        .map(|column| column_sql(column, auto.as_deref() == Some(column.name.as_str())))
        .collect();
    if !table.primary_key.is_empty() {
        lines.push(format!("PRIMARY KEY ({})", column_list(&table.primary_key)));
    }
    lines.extend(table.uniques.iter().map(unique_sql));
    lines.extend(table.checks.iter().map(check_sql));
    // Text compares exactly, as on SQLite and PostgreSQL, whatever the database's default collation
    // (which ignores case and accents: `adá@x.io` would equal `ada@x.io`).
    let mut out = format!(
        "CREATE TABLE {} (\n    {}\n) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;\n",
        quote(&table.name),
        lines.join(",\n    ")
    );
    for index in &table.indexes {
        out.push_str(&create_index(&table.name, index));
    }
    out
}

fn column_sql(column: &Column, auto_increment: bool) -> String {
    if auto_increment {
        return format!("{} BIGINT NOT NULL AUTO_INCREMENT", quote(&column.name));
    }
    let mut sql = format!("{} {}", quote(&column.name), type_sql(&column.ty));
    if matches!(column.ty, ColumnType::Text | ColumnType::Varchar(_)) {
        // Said on the column too: a `MODIFY` of a table made under another default (an older
        // script's, the server's) brings the column to exact comparison as well.
        sql.push_str(" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    }
    sql.push_str(if column.nullable {
        " NULL"
    } else {
        " NOT NULL"
    });
    if let Some(default) = &column.default {
        // A TEXT or BLOB column's default must be an expression, in parentheses (MySQL 8.0.13+,
        // MariaDB 10.2+).
        if matches!(column.ty, ColumnType::Text | ColumnType::Binary) {
            let _ = write!(sql, " DEFAULT ({default})");
        } else if column.ty == ColumnType::Timestamp
            && default.eq_ignore_ascii_case("CURRENT_TIMESTAMP")
        {
            // The default's precision must be the column's.
            sql.push_str(" DEFAULT CURRENT_TIMESTAMP(6)");
        } else {
            let _ = write!(sql, " DEFAULT {default}");
        }
    }
    sql
}

fn type_sql(ty: &ColumnType) -> String {
    match ty {
        ColumnType::SmallInt => "SMALLINT".into(),
        ColumnType::Integer => "INT".into(),
        ColumnType::BigInt => "BIGINT".into(),
        ColumnType::Text => "TEXT".into(),
        ColumnType::Varchar(n) => format!("VARCHAR({n})"),
        ColumnType::Bool => "BOOLEAN".into(),
        ColumnType::Float => "FLOAT".into(),
        ColumnType::Double => "DOUBLE".into(),
        ColumnType::Date => "DATE".into(),
        // DATETIME, not TIMESTAMP: no time zone conversion, no 2038 limit, no automatic update;
        // with microseconds, as SQLite and PostgreSQL keep them (a bare DATETIME keeps seconds).
        ColumnType::Timestamp => "DATETIME(6)".into(),
        ColumnType::Binary => "LONGBLOB".into(),
        ColumnType::Other(name) => name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, ty: ColumnType, nullable: bool) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable,
            default: None,
            autoincrement: false,
        }
    }

    #[test]
    fn writes_backquoted_mysql_ddl() {
        let mut to = column("title", ColumnType::Varchar(200), false);
        to.default = Some("''".into());
        let from = column("title", ColumnType::Text, true);
        let changes = vec![
            Change::AddColumn {
                table: "tasks".into(),
                column: column("due_on", ColumnType::Date, true),
            },
            Change::AlterColumn {
                table: "tasks".into(),
                from,
                to,
            },
            Change::DropIndex {
                table: "tasks".into(),
                index: Index {
                    name: "tasks_by_title".into(),
                    columns: vec!["title".into()],
                    unique: false,
                },
            },
        ];
        let sql = mysql(&Schema::default(), &Schema::default(), &changes);
        assert!(
            sql.contains("ALTER TABLE `tasks` ADD COLUMN `due_on` DATE NULL;"),
            "{sql}"
        );
        assert!(
            sql.contains("UPDATE `tasks` SET `title` = '' WHERE `title` IS NULL;\nALTER TABLE `tasks` MODIFY COLUMN `title` VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '';"),
            "{sql}"
        );
        assert!(
            sql.contains("DROP INDEX `tasks_by_title` ON `tasks`;"),
            "{sql}"
        );
        assert!(!sql.contains('"'), "{sql}");
    }

    #[test]
    fn a_primary_key_changes_in_one_statement() {
        let changes = vec![Change::AlterPrimaryKey {
            table: "book_tags".into(),
            from: vec!["book_id".into(), "tag".into()],
            to: vec!["tag".into(), "book_id".into()],
        }];
        let sql = mysql(&Schema::default(), &Schema::default(), &changes);
        assert_eq!(
            sql,
            "ALTER TABLE `book_tags` DROP PRIMARY KEY, ADD PRIMARY KEY (`tag`, `book_id`);\n"
        );
    }

    /// What a migration built over a column's prefix, as introspection read it, is created again
    /// over that prefix (`db diff` towards a history that has one).
    #[test]
    fn a_prefix_part_is_written_as_mysql_writes_it() {
        let changes = vec![
            Change::AddIndex {
                table: "users".into(),
                index: Index {
                    name: "users_name_idx".into(),
                    columns: vec!["name(10)".into(), "id".into()],
                    unique: false,
                },
            },
            Change::AddUnique {
                table: "users".into(),
                unique: Unique {
                    name: "users_bio_key".into(),
                    columns: vec!["bio(255)".into()],
                },
            },
        ];
        let sql = mysql(&Schema::default(), &Schema::default(), &changes);
        assert_eq!(
            sql,
            "CREATE INDEX `users_name_idx` ON `users` (`name`(10), `id`);\n\
             ALTER TABLE `users` ADD CONSTRAINT `users_bio_key` UNIQUE (`bio`(255));\n"
        );
    }
}
