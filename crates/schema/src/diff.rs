//! Comparing two schemas: the changes that turn `from` (what the migrations build) into `to` (what the
//! models declare), in an order a database can apply them.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::model::{squash, Check, Column, ForeignKey, Index, Schema, Table, Unique};

/// One detected change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    AddTable(Table),
    DropTable(Table),
    AddColumn {
        table: String,
        column: Column,
    },
    DropColumn {
        table: String,
        column: Column,
    },
    AlterColumn {
        table: String,
        from: Column,
        to: Column,
    },
    AlterPrimaryKey {
        table: String,
        from: Vec<String>,
        to: Vec<String>,
    },
    AddIndex {
        table: String,
        index: Index,
    },
    DropIndex {
        table: String,
        index: Index,
    },
    AddUnique {
        table: String,
        unique: Unique,
    },
    DropUnique {
        table: String,
        unique: Unique,
    },
    AddForeignKey {
        table: String,
        foreign_key: ForeignKey,
    },
    DropForeignKey {
        table: String,
        foreign_key: ForeignKey,
    },
    AlterForeignKey {
        table: String,
        from: ForeignKey,
        to: ForeignKey,
    },
    AddCheck {
        table: String,
        check: Check,
    },
    DropCheck {
        table: String,
        check: Check,
    },
}

impl Change {
    pub fn table(&self) -> &str {
        match self {
            Self::AddTable(t) | Self::DropTable(t) => &t.name,
            Self::AddColumn { table, .. }
            | Self::DropColumn { table, .. }
            | Self::AlterColumn { table, .. }
            | Self::AlterPrimaryKey { table, .. }
            | Self::AddIndex { table, .. }
            | Self::DropIndex { table, .. }
            | Self::AddUnique { table, .. }
            | Self::DropUnique { table, .. }
            | Self::AddForeignKey { table, .. }
            | Self::DropForeignKey { table, .. }
            | Self::AlterForeignKey { table, .. }
            | Self::AddCheck { table, .. }
            | Self::DropCheck { table, .. } => table,
        }
    }

    /// Whether applying it can lose data: dropping a table or column, or narrowing a type.
    pub fn is_destructive(&self) -> bool {
        match self {
            Self::DropTable(_) | Self::DropColumn { .. } => true,
            Self::AlterColumn { from, to, .. } => from.ty.narrows_to(&to.ty),
            _ => false,
        }
    }

    /// One line in Alembic's manner, `added column tasks.due_on`, marked when it can lose data.
    pub fn describe(&self) -> String {
        let mut line = self.what();
        if self.is_destructive() {
            line.push_str("  [destructive: data can be lost]");
        }
        line
    }

    /// What the change does, unmarked.
    pub fn what(&self) -> String {
        let cols = |c: &[String]| c.join(", ");
        match self {
            Self::AddTable(t) => format!("added table {}", t.name),
            Self::DropTable(t) => format!("dropped table {}", t.name),
            Self::AddColumn { table, column } => format!(
                "added column {table}.{} ({})",
                column.name,
                column_shape(column)
            ),
            Self::DropColumn { table, column } => format!("dropped column {table}.{}", column.name),
            Self::AlterColumn { table, from, to } => {
                let mut what = Vec::new();
                if from.ty != to.ty {
                    what.push(format!("type {} -> {}", from.ty, to.ty));
                }
                if from.nullable != to.nullable {
                    what.push(if to.nullable {
                        "now nullable".to_string()
                    } else {
                        "now NOT NULL".to_string()
                    });
                }
                if from.autoincrement != to.autoincrement {
                    what.push(if to.autoincrement {
                        "ids never reused (AUTOINCREMENT)".to_string()
                    } else {
                        "ids may be reused (no AUTOINCREMENT)".to_string()
                    });
                }
                if from.default != to.default {
                    what.push(format!(
                        "default {} -> {}",
                        from.default.as_deref().unwrap_or("none"),
                        to.default.as_deref().unwrap_or("none")
                    ));
                }
                format!("altered column {table}.{}: {}", to.name, what.join(", "))
            }
            Self::AlterPrimaryKey { table, from, to } => {
                format!(
                    "changed primary key of {table}: ({}) -> ({})",
                    cols(from),
                    cols(to)
                )
            }
            Self::AddIndex { table, index } => format!(
                "added {}index {} on {table} ({})",
                if index.unique { "unique " } else { "" },
                index.name,
                cols(&index.columns)
            ),
            Self::DropIndex { table, index } => format!("dropped index {} on {table}", index.name),
            Self::AddUnique { table, unique } => format!(
                "added unique constraint on {table} ({})",
                cols(&unique.columns)
            ),
            Self::DropUnique { table, unique } => {
                format!(
                    "dropped unique constraint on {table} ({})",
                    cols(&unique.columns)
                )
            }
            Self::AddForeignKey {
                table,
                foreign_key: fk,
            } => format!("added foreign key {table}.{}", fk_shape(fk)),
            Self::DropForeignKey {
                table,
                foreign_key: fk,
            } => format!("dropped foreign key {table}.{}", fk_shape(fk)),
            Self::AlterForeignKey { table, from, to } => {
                format!(
                    "changed foreign key {table}.{} (was {})",
                    fk_shape(to),
                    fk_shape(from)
                )
            }
            Self::AddCheck { table, check } => format!("added check {} on {table}", check.name),
            Self::DropCheck { table, check } => format!("dropped check {} on {table}", check.name),
        }
    }
}

/// One change seen as a difference between two schemas: the object it concerns, and what each side
/// has of it (`None` where that side has no such object). `before` is the schema the change starts
/// from, `after` the one it arrives at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sides {
    pub object: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Change {
    /// The object this change concerns and its shape on either side of it, for reports that show
    /// two schemas side by side (what the migrations build against what a database has).
    pub fn sides(&self) -> Sides {
        let cols = |c: &[String]| format!("({})", c.join(", "));
        let sides = |object: String, before: Option<String>, after: Option<String>| Sides {
            object,
            before,
            after,
        };
        let table_shape = |t: &Table| {
            let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
            format!("columns {}", cols(&names))
        };
        // Unlike `describe`, both sides are shown, so what tells them apart must show.
        let column_shape = |c: &Column| {
            let mut shape = column_shape(c);
            if c.autoincrement {
                shape.push_str(" AUTOINCREMENT");
            }
            shape
        };
        let index_shape = |i: &Index| {
            format!(
                "{}{}",
                if i.unique { "UNIQUE " } else { "" },
                cols(&i.columns)
            )
        };
        match self {
            Self::AddTable(t) => sides(format!("table {}", t.name), None, Some(table_shape(t))),
            Self::DropTable(t) => sides(format!("table {}", t.name), Some(table_shape(t)), None),
            Self::AddColumn { table, column } => sides(
                format!("column {table}.{}", column.name),
                None,
                Some(column_shape(column)),
            ),
            Self::DropColumn { table, column } => sides(
                format!("column {table}.{}", column.name),
                Some(column_shape(column)),
                None,
            ),
            Self::AlterColumn { table, from, to } => sides(
                format!("column {table}.{}", to.name),
                Some(column_shape(from)),
                Some(column_shape(to)),
            ),
            Self::AlterPrimaryKey { table, from, to } => sides(
                format!("primary key of {table}"),
                (!from.is_empty()).then(|| cols(from)),
                (!to.is_empty()).then(|| cols(to)),
            ),
            Self::AddIndex { table, index } => sides(
                format!("index {} on {table}", index.name),
                None,
                Some(index_shape(index)),
            ),
            Self::DropIndex { table, index } => sides(
                format!("index {} on {table}", index.name),
                Some(index_shape(index)),
                None,
            ),
            Self::AddUnique { table, unique } => sides(
                format!("unique constraint on {table} {}", cols(&unique.columns)),
                None,
                Some(format!("UNIQUE {}", cols(&unique.columns))),
            ),
            Self::DropUnique { table, unique } => sides(
                format!("unique constraint on {table} {}", cols(&unique.columns)),
                Some(format!("UNIQUE {}", cols(&unique.columns))),
                None,
            ),
            Self::AddForeignKey { table, foreign_key } => sides(
                format!("foreign key on {table} {}", cols(&foreign_key.columns)),
                None,
                Some(fk_shape(foreign_key)),
            ),
            Self::DropForeignKey { table, foreign_key } => sides(
                format!("foreign key on {table} {}", cols(&foreign_key.columns)),
                Some(fk_shape(foreign_key)),
                None,
            ),
            Self::AlterForeignKey { table, from, to } => sides(
                format!("foreign key on {table} {}", cols(&to.columns)),
                Some(fk_shape(from)),
                Some(fk_shape(to)),
            ),
            Self::AddCheck { table, check } => sides(
                format!("check {} on {table}", check.name),
                None,
                Some(format!("CHECK ({})", squash(&check.expression))),
            ),
            Self::DropCheck { table, check } => sides(
                format!("check {} on {table}", check.name),
                Some(format!("CHECK ({})", squash(&check.expression))),
                None,
            ),
        }
    }
}

fn column_shape(column: &Column) -> String {
    let mut shape = column.ty.to_string();
    if !column.nullable {
        shape.push_str(" NOT NULL");
    }
    if let Some(default) = &column.default {
        let _ = write!(shape, " DEFAULT {default}");
    }
    shape
}

fn fk_shape(fk: &ForeignKey) -> String {
    let mut shape = format!(
        "{} -> {}.{}",
        fk.columns.join(","),
        fk.references,
        fk.referenced_columns.join(",")
    );
    if fk.on_delete != Default::default() {
        let _ = write!(shape, " on delete {}", fk.on_delete.sql().to_lowercase());
    }
    if fk.on_update != Default::default() {
        let _ = write!(shape, " on update {}", fk.on_update.sql().to_lowercase());
    }
    shape
}

/// A dropped and an added column (or table) of the same shape: maybe one thing renamed. Never acted on,
/// only reported, with the statement to use instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenameHint {
    Table {
        from: String,
        to: String,
    },
    Column {
        table: String,
        from: String,
        to: String,
    },
}

impl RenameHint {
    pub fn describe(&self) -> String {
        match self {
            Self::Table { from, to } => format!("table {from} -> {to}"),
            Self::Column { table, from, to } => format!("column {table}.{from} -> {table}.{to}"),
        }
    }
}

/// The changes from `from` to `to`: new tables first (referenced before referencing), then changes
/// to existing tables in name order, then dropped tables (referencing before referenced).
pub fn diff(from: &Schema, to: &Schema) -> Vec<Change> {
    let mut changes = Vec::new();
    let added: Vec<&Table> = to
        .tables
        .iter()
        .filter(|t| from.table(&t.name).is_none())
        .collect();
    for table in dependency_order(&added) {
        changes.push(Change::AddTable(table.clone()));
    }
    for new in &to.tables {
        if let Some(old) = from.table(&new.name) {
            diff_table(old, new, &mut changes);
        }
    }
    let dropped: Vec<&Table> = from
        .tables
        .iter()
        .filter(|t| to.table(&t.name).is_none())
        .collect();
    for table in dependency_order(&dropped).into_iter().rev() {
        changes.push(Change::DropTable(table.clone()));
    }
    changes
}

fn diff_table(old: &Table, new: &Table, changes: &mut Vec<Change>) {
    let table = || new.name.clone();
    // Dropped indexes and constraints first: a column cannot go while an index still names it.
    for index in &old.indexes {
        if !new.indexes.iter().any(|i| i == index) {
            changes.push(Change::DropIndex {
                table: table(),
                index: index.clone(),
            });
        }
    }
    let old_fks: HashMap<&[String], &ForeignKey> = old
        .foreign_keys
        .iter()
        .map(|fk| (fk.columns.as_slice(), fk))
        .collect();
    let new_fks: HashMap<&[String], &ForeignKey> = new
        .foreign_keys
        .iter()
        .map(|fk| (fk.columns.as_slice(), fk))
        .collect();
    for fk in &old.foreign_keys {
        match new_fks.get(fk.columns.as_slice()) {
            None => changes.push(Change::DropForeignKey {
                table: table(),
                foreign_key: fk.clone(),
            }),
            Some(new_fk) if !same_fk(fk, new_fk) => changes.push(Change::AlterForeignKey {
                table: table(),
                from: fk.clone(),
                to: (*new_fk).clone(),
            }),
            Some(_) => {}
        }
    }
    for unique in &old.uniques {
        if !new.uniques.iter().any(|u| u.columns == unique.columns) {
            changes.push(Change::DropUnique {
                table: table(),
                unique: unique.clone(),
            });
        }
    }
    for check in &old.checks {
        match new.checks.iter().find(|c| c.name == check.name) {
            Some(c) if squash(&c.expression) == squash(&check.expression) => {}
            _ => changes.push(Change::DropCheck {
                table: table(),
                check: check.clone(),
            }),
        }
    }
    for column in &old.columns {
        if new.column(&column.name).is_none() {
            changes.push(Change::DropColumn {
                table: table(),
                column: column.clone(),
            });
        }
    }
    for column in &new.columns {
        match old.column(&column.name) {
            None => changes.push(Change::AddColumn {
                table: table(),
                column: column.clone(),
            }),
            Some(before) if before != column => changes.push(Change::AlterColumn {
                table: table(),
                from: before.clone(),
                to: column.clone(),
            }),
            Some(_) => {}
        }
    }
    if old.primary_key != new.primary_key {
        changes.push(Change::AlterPrimaryKey {
            table: table(),
            from: old.primary_key.clone(),
            to: new.primary_key.clone(),
        });
    }
    for unique in &new.uniques {
        if !old.uniques.iter().any(|u| u.columns == unique.columns) {
            changes.push(Change::AddUnique {
                table: table(),
                unique: unique.clone(),
            });
        }
    }
    for fk in &new.foreign_keys {
        if !old_fks.contains_key(fk.columns.as_slice()) {
            changes.push(Change::AddForeignKey {
                table: table(),
                foreign_key: fk.clone(),
            });
        }
    }
    for check in &new.checks {
        match old.checks.iter().find(|c| c.name == check.name) {
            Some(c) if squash(&c.expression) == squash(&check.expression) => {}
            _ => changes.push(Change::AddCheck {
                table: table(),
                check: check.clone(),
            }),
        }
    }
    for index in &new.indexes {
        if !old.indexes.iter().any(|i| i == index) {
            changes.push(Change::AddIndex {
                table: table(),
                index: index.clone(),
            });
        }
    }
}

fn same_fk(a: &ForeignKey, b: &ForeignKey) -> bool {
    a.references == b.references
        && a.referenced_columns == b.referenced_columns
        && a.on_delete == b.on_delete
        && a.on_update == b.on_update
}

/// Tables ordered so that each comes after the tables it references (cycles keep name order).
pub fn dependency_order<'a>(tables: &[&'a Table]) -> Vec<&'a Table> {
    let names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::with_capacity(tables.len());
    let mut remaining: Vec<&Table> = tables.to_vec();
    while !remaining.is_empty() {
        let ready = |t: &&Table| {
            t.foreign_keys.iter().all(|fk| {
                fk.references == t.name
                    || !names.contains(fk.references.as_str())
                    || placed.contains(fk.references.as_str())
            })
        };
        let (now, later): (Vec<&Table>, Vec<&Table>) =
            remaining.iter().copied().partition(|t| ready(t));
        if now.is_empty() {
            // A cycle: place the rest in name order; SQLite does not check, PostgreSQL gets the
            // constraints after the tables in its renderer.
            order.extend(later);
            break;
        }
        placed.extend(now.iter().map(|t| t.name.as_str()));
        order.extend(now);
        remaining = later;
    }
    order
}

/// Drops and adds of the same shape in one set of changes.
pub fn rename_hints(changes: &[Change]) -> Vec<RenameHint> {
    let mut hints = Vec::new();
    for change in changes {
        match change {
            Change::DropColumn {
                table,
                column: gone,
            } => {
                for other in changes {
                    if let Change::AddColumn {
                        table: t,
                        column: new,
                    } = other
                    {
                        if t == table && new.ty == gone.ty && new.nullable == gone.nullable {
                            hints.push(RenameHint::Column {
                                table: table.clone(),
                                from: gone.name.clone(),
                                to: new.name.clone(),
                            });
                        }
                    }
                }
            }
            Change::DropTable(gone) => {
                for other in changes {
                    if let Change::AddTable(new) = other {
                        let shape = |t: &Table| {
                            t.columns
                                .iter()
                                .map(|c| (c.ty.clone(), c.nullable))
                                .collect::<Vec<_>>()
                        };
                        if shape(new) == shape(gone) {
                            hints.push(RenameHint::Table {
                                from: gone.name.clone(),
                                to: new.name.clone(),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    hints
}
