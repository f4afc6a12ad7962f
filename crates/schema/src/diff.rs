//! Comparing two schemas: the changes that turn `from` (what the migrations build) into `to` (what the
//! models declare), in an order a database can apply them.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use crate::model::{squash, Check, Column, ColumnType, ForeignKey, Index, Schema, Table, Unique};

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
    let (from_tables, to_tables) = (from.tables_by_name(), to.tables_by_name());
    let added: Vec<&Table> = to
        .tables
        .iter()
        .filter(|t| !from_tables.contains_key(t.name.as_str()))
        .collect();
    for table in dependency_order(&added) {
        changes.push(Change::AddTable(table.clone()));
    }
    for new in &to.tables {
        if let Some(old) = from_tables.get(new.name.as_str()) {
            diff_table(old, new, &mut changes);
        }
    }
    let dropped: Vec<&Table> = from
        .tables
        .iter()
        .filter(|t| !to_tables.contains_key(t.name.as_str()))
        .collect();
    for table in dependency_order(&dropped).into_iter().rev() {
        changes.push(Change::DropTable(table.clone()));
    }
    changes
}

fn diff_table(old: &Table, new: &Table, changes: &mut Vec<Change>) {
    // Most tables are unchanged; every comparison below finds its match in an equal table, so one
    // structural comparison answers for them (a change to 1 table of 2,000 is the usual case).
    if old == new {
        return;
    }
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
///
/// Rounds, as Kahn's algorithm by levels: round k places, in their given order, the tables whose
/// references all point outside the set, at themselves, or at a name placed in an earlier round;
/// what no round can place (a cycle, or a table behind one) follows in its given order. Each
/// table's references are counted once, so the whole is linear in tables and references, plus the
/// sort of each round.
pub fn dependency_order<'a>(tables: &[&'a Table]) -> Vec<&'a Table> {
    let names: HashSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    // For every name, the tables waiting on it; for every table, how many names it still waits on.
    let mut waiting_on: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut unplaced_references: Vec<usize> = Vec::with_capacity(tables.len());
    for (position, table) in tables.iter().enumerate() {
        let references: HashSet<&str> = table
            .foreign_keys
            .iter()
            .map(|fk| fk.references.as_str())
            .filter(|name| *name != table.name && names.contains(name))
            .collect();
        for name in &references {
            waiting_on.entry(name).or_default().push(position);
        }
        unplaced_references.push(references.len());
    }
    let mut placed = vec![false; tables.len()];
    let mut order = Vec::with_capacity(tables.len());
    let mut round: Vec<usize> = (0..tables.len())
        .filter(|&position| unplaced_references[position] == 0)
        .collect();
    while !round.is_empty() {
        let mut next = Vec::new();
        for &position in &round {
            placed[position] = true;
            order.push(tables[position]);
            // A name counts as placed with the first table of that name.
            if let Some(waiting) = waiting_on.remove(tables[position].name.as_str()) {
                for waiter in waiting {
                    unplaced_references[waiter] -= 1;
                    if unplaced_references[waiter] == 0 {
                        next.push(waiter);
                    }
                }
            }
        }
        next.sort_unstable();
        round = next;
    }
    // A cycle: the rest in the order given; SQLite does not check, PostgreSQL gets the constraints
    // after the tables in its renderer.
    order.extend(
        tables
            .iter()
            .zip(&placed)
            .filter(|(_, placed)| !**placed)
            .map(|(table, _)| *table),
    );
    order
}

/// Drops and adds of the same shape in one set of changes.
pub fn rename_hints(changes: &[Change]) -> Vec<RenameHint> {
    let shape = |t: &Table| {
        t.columns
            .iter()
            .map(|c| (c.ty.clone(), c.nullable))
            .collect::<Vec<_>>()
    };
    // The added columns of each table and the added tables of each shape, in the order of
    // `changes`, so that each drop is compared with its candidates alone.
    let mut added_columns: HashMap<&str, Vec<&Column>> = HashMap::new();
    let mut added_tables: HashMap<Vec<(ColumnType, bool)>, Vec<&Table>> = HashMap::new();
    for change in changes {
        match change {
            Change::AddColumn { table, column } => {
                added_columns.entry(table).or_default().push(column)
            }
            Change::AddTable(table) => added_tables.entry(shape(table)).or_default().push(table),
            _ => {}
        }
    }
    let mut hints = Vec::new();
    for change in changes {
        match change {
            Change::DropColumn {
                table,
                column: gone,
            } => {
                for new in added_columns.get(table.as_str()).into_iter().flatten() {
                    if new.ty == gone.ty && new.nullable == gone.nullable {
                        hints.push(RenameHint::Column {
                            table: table.clone(),
                            from: gone.name.clone(),
                            to: new.name.clone(),
                        });
                    }
                }
            }
            Change::DropTable(gone) if !added_tables.is_empty() => {
                for new in added_tables.get(&shape(gone)).into_iter().flatten() {
                    hints.push(RenameHint::Table {
                        from: gone.name.clone(),
                        to: new.name.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Action;

    fn table(name: &str, references: &[&str]) -> Table {
        let mut table = Table::new(name);
        for (n, target) in references.iter().enumerate() {
            table.foreign_keys.push(ForeignKey {
                name: format!("{name}_fk_{n}"),
                columns: vec![format!("c{n}")],
                references: (*target).to_string(),
                referenced_columns: vec!["id".into()],
                on_delete: Action::NoAction,
                on_update: Action::NoAction,
            });
        }
        table
    }

    /// The order by its definition, one round at a time (quadratic): what `dependency_order` must
    /// produce exactly, since generated migrations are compared byte for byte.
    fn by_rounds<'a>(tables: &[&'a Table]) -> Vec<&'a Table> {
        let names: HashSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        let mut placed: HashSet<&str> = HashSet::new();
        let mut order = Vec::new();
        let mut remaining: Vec<&Table> = tables.to_vec();
        while !remaining.is_empty() {
            let (now, later): (Vec<&Table>, Vec<&Table>) = remaining.iter().partition(|t| {
                t.foreign_keys.iter().all(|fk| {
                    fk.references == t.name
                        || !names.contains(fk.references.as_str())
                        || placed.contains(fk.references.as_str())
                })
            });
            if now.is_empty() {
                order.extend(later);
                break;
            }
            placed.extend(now.iter().map(|t| t.name.as_str()));
            order.extend(now);
            remaining = later;
        }
        order
    }

    fn names(tables: &[&Table]) -> Vec<String> {
        tables.iter().map(|t| t.name.clone()).collect()
    }

    #[test]
    fn referenced_tables_come_first_and_cycles_keep_their_order() {
        let tables = [
            table("a", &["c"]),
            table("b", &[]),
            table("c", &["b", "c", "elsewhere"]),
            table("d", &["e"]),
            table("e", &["d"]),
            table("f", &["d", "b"]),
        ];
        let refs: Vec<&Table> = tables.iter().collect();
        assert_eq!(
            names(&dependency_order(&refs)),
            ["b", "c", "a", "d", "e", "f"]
        );
    }

    #[test]
    fn agrees_with_the_round_by_round_definition() {
        // A fixed pseudo-random sequence (a linear congruential generator): repeatable, no seed.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % bound
        };
        for case in 0..300 {
            let count = 1 + next(40);
            // Some names repeat, some references point outside the set or at the table itself.
            let name = |n: usize| format!("t{}", n % (count + 2));
            let tables: Vec<Table> = (0..count)
                .map(|n| {
                    let references: Vec<String> =
                        (0..next(4)).map(|_| name(next(count + 3))).collect();
                    let references: Vec<&str> = references.iter().map(String::as_str).collect();
                    table(
                        &name(if case % 3 == 0 { next(count) } else { n }),
                        &references,
                    )
                })
                .collect();
            let refs: Vec<&Table> = tables.iter().collect();
            let ours = dependency_order(&refs);
            let expected = by_rounds(&refs);
            assert!(
                ours.iter()
                    .zip(&expected)
                    .all(|(a, b)| std::ptr::eq(*a, *b))
                    && ours.len() == expected.len(),
                "case {case}: {:?} against {:?}",
                names(&ours),
                names(&expected)
            );
        }
    }
}
