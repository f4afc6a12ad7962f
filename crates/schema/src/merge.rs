//! Three-way merge of schemas, as `db rebase` needs it: what one branch changed (from `base` to
//! `ours`) laid on what the history now builds (`theirs`). Each table, column, key, index and
//! constraint is taken from whichever side changed it; the same thing changed differently on both
//! sides is a conflict, never a guess.

use crate::{Schema, Table};

/// `ours`'s changes since `base`, applied to `theirs`; or every thing both sides changed differently.
pub fn merge(base: &Schema, ours: &Schema, theirs: &Schema) -> Result<Schema, Vec<String>> {
    let mut conflicts = Vec::new();
    let mut tables = Vec::new();
    for name in names(
        theirs.tables.iter().map(|t| &t.name),
        ours.tables.iter().map(|t| &t.name),
    ) {
        let (b, o, t) = (base.table(&name), ours.table(&name), theirs.table(&name));
        match pick(b, o, t) {
            Ok(table) => tables.extend(table.cloned()),
            Err(()) => match (b, o, t) {
                (Some(b), Some(o), Some(t)) => tables.push(merge_table(b, o, t, &mut conflicts)),
                (None, _, _) => conflicts.push(format!(
                    "table {name}: added on both branches, with different definitions"
                )),
                _ => conflicts.push(format!(
                    "table {name}: dropped on one branch and changed on the other"
                )),
            },
        }
    }
    if conflicts.is_empty() {
        Ok(Schema::new(tables))
    } else {
        Err(conflicts)
    }
}

/// The side that changed `base`, or `Err` when both did, differently.
fn pick<'a, T: PartialEq>(
    base: Option<&'a T>,
    ours: Option<&'a T>,
    theirs: Option<&'a T>,
) -> Result<Option<&'a T>, ()> {
    if ours == base || ours == theirs {
        Ok(theirs)
    } else if theirs == base {
        Ok(ours)
    } else {
        Err(())
    }
}

/// `theirs`'s names in order, then those only `ours` has.
fn names<'a>(
    theirs: impl Iterator<Item = &'a String>,
    ours: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let mut names: Vec<String> = theirs.cloned().collect();
    for name in ours {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// A table both sides changed: merged item by item.
fn merge_table(base: &Table, ours: &Table, theirs: &Table, conflicts: &mut Vec<String>) -> Table {
    let table = &theirs.name;
    let mut merged = Table::new(table);
    merged.triggers = theirs.triggers.clone();
    macro_rules! by_name {
        ($field:ident, $what:literal) => {
            for name in names(
                theirs.$field.iter().map(|x| &x.name),
                ours.$field.iter().map(|x| &x.name),
            ) {
                let find = |t: &Table| t.$field.iter().find(|x| x.name == name).cloned();
                let (b, o, t) = (find(base), find(ours), find(theirs));
                match pick(b.as_ref(), o.as_ref(), t.as_ref()) {
                    Ok(item) => merged.$field.extend(item.cloned()),
                    Err(()) => conflicts.push(format!(
                        concat!($what, " {}.{}: changed on both branches, differently"),
                        table, name
                    )),
                }
            }
        };
    }
    by_name!(columns, "column");
    by_name!(indexes, "index");
    by_name!(uniques, "unique constraint");
    by_name!(foreign_keys, "foreign key");
    by_name!(checks, "check constraint");
    match pick(
        Some(&base.primary_key),
        Some(&ours.primary_key),
        Some(&theirs.primary_key),
    ) {
        Ok(key) => merged.primary_key = key.cloned().unwrap_or_default(),
        Err(()) => conflicts.push(format!(
            "primary key of {table}: changed on both branches, differently"
        )),
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Column, ColumnType};

    fn tasks(columns: &[(&str, ColumnType)]) -> Schema {
        let mut table = Table::new("tasks");
        table.primary_key = vec!["id".into()];
        for (name, ty) in columns {
            table
                .columns
                .push(Column::new(name, ty.clone(), *name != "id"));
        }
        Schema::new(vec![table])
    }

    #[test]
    fn each_side_keeps_what_it_changed() {
        let base = tasks(&[
            ("id", ColumnType::BigInt),
            ("title", ColumnType::Varchar(200)),
        ]);
        let ours = tasks(&[
            ("id", ColumnType::BigInt),
            ("title", ColumnType::Varchar(300)),
        ]);
        let theirs = tasks(&[
            ("id", ColumnType::BigInt),
            ("title", ColumnType::Varchar(200)),
            ("color", ColumnType::Text),
        ]);
        let merged = merge(&base, &ours, &theirs).unwrap();
        assert_eq!(
            merged,
            tasks(&[
                ("id", ColumnType::BigInt),
                ("title", ColumnType::Varchar(300)),
                ("color", ColumnType::Text),
            ])
        );
    }

    #[test]
    fn the_same_column_changed_twice_is_a_conflict() {
        let base = tasks(&[
            ("id", ColumnType::BigInt),
            ("title", ColumnType::Varchar(200)),
        ]);
        let ours = tasks(&[
            ("id", ColumnType::BigInt),
            ("title", ColumnType::Varchar(300)),
        ]);
        let theirs = tasks(&[("id", ColumnType::BigInt), ("title", ColumnType::Text)]);
        assert_eq!(
            merge(&base, &ours, &theirs).unwrap_err(),
            vec!["column tasks.title: changed on both branches, differently".to_string()]
        );
        assert!(
            merge(&base, &ours, &ours).is_ok(),
            "the same change twice agrees"
        );
    }
}
