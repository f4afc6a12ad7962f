use std::collections::{BTreeMap, BTreeSet};

use diesel::sql_types::{Integer, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};

use workhub_schema::{Action, Check, Column, ForeignKey, Index, Schema, Table, Unique};

use super::{normalise_default, parse_type, IGNORED_TABLES};

/// Every user table (of `only`'s, when given) with the pragma rows of `pragma` joined in: one
/// query for the whole schema, however many tables it has.
fn per_table(select: &str, pragma: &str, order: &str, only: Option<&BTreeSet<String>>) -> String {
    let ignored = IGNORED_TABLES.map(|t| format!("'{t}'")).join(", ");
    format!(
        "SELECT m.name AS tbl, {select} FROM sqlite_master m JOIN {pragma} \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT IN ({ignored}){} \
         ORDER BY m.name, {order}",
        restricted("m.name", only)
    )
}

/// ` AND lower(column) IN (...)` for the lower-cased names of `only`, or nothing.
fn restricted(column: &str, only: Option<&BTreeSet<String>>) -> String {
    only.map_or_else(String::new, |names| {
        let names: Vec<String> = names
            .iter()
            .map(|n| format!("'{}'", n.replace('\'', "''")))
            .collect();
        format!(" AND lower({column}) IN ({})", names.join(", "))
    })
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
    #[diesel(sql_type = Nullable<Text>)]
    dflt: Option<String>,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    idx: String,
    #[diesel(sql_type = Integer)]
    is_unique: i32,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Nullable<Text>)]
    col: Option<String>,
}

#[derive(QueryableByName)]
struct ForeignKeyRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    target: String,
    #[diesel(sql_type = Text)]
    from_col: String,
    #[diesel(sql_type = Nullable<Text>)]
    to_col: Option<String>,
    #[diesel(sql_type = Text)]
    on_update: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
}

#[derive(QueryableByName)]
struct SqlRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Nullable<Text>)]
    sql: Option<String>,
}

/// Reads the schema of a SQLite database.
pub fn sqlite(conn: &mut SqliteConnection) -> Result<Schema, diesel::result::Error> {
    read(conn, None)
}

/// What a table's schema is read from: its rows of `sqlite_master` (the table's, its indexes' and
/// its triggers'), grouped by the name of the table they belong to, lower-cased as SQLite's
/// `lower()` does (ASCII letters only, so that the names the queries restrict to are the same). SQLite keeps each
/// object's `CREATE` statement there, rewritten by every `ALTER`, and answers every pragma the
/// introspection asks from those statements alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog(BTreeMap<String, Vec<CatalogRow>>);

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CatalogRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    sql: Option<String>,
    #[diesel(sql_type = Text)]
    tbl: String,
}

/// The database's [`Catalog`].
pub fn catalog(conn: &mut SqliteConnection) -> Result<Catalog, diesel::result::Error> {
    let rows: Vec<CatalogRow> = diesel::sql_query(
        "SELECT type AS kind, name, sql, tbl_name AS tbl FROM sqlite_master ORDER BY type, name",
    )
    .load(conn)?;
    let mut grouped: BTreeMap<String, Vec<CatalogRow>> = BTreeMap::new();
    for row in rows {
        grouped
            .entry(row.tbl.to_ascii_lowercase())
            .or_default()
            .push(row);
    }
    Ok(Catalog(grouped))
}

impl Catalog {
    /// The lower-cased names of the user tables, as [`sqlite`] reads them.
    fn tables(&self) -> BTreeSet<String> {
        self.0
            .values()
            .flatten()
            .filter(|row| {
                // As `NOT LIKE 'sqlite_%'` leaves them out: `_` is any one character.
                row.kind == "table"
                    && !(row.name.len() > 6
                        && row.name.is_char_boundary(6)
                        && row.name[..6].eq_ignore_ascii_case("sqlite"))
                    && !IGNORED_TABLES.contains(&row.name.as_str())
            })
            .map(|row| row.name.to_ascii_lowercase())
            .collect()
    }
}

/// Reads the schema of a SQLite database whose catalog was `before` when its schema was `previous`
/// (read by [`sqlite`] then), reading again only the tables whose catalog rows changed since, and
/// the tables with a foreign key to one of them (which may take its primary key as their
/// referenced columns). Everything else is taken from `previous`. The result is what [`sqlite`]
/// reads now; should `previous` not hold exactly the tables of `before`, that is what is done.
pub fn sqlite_since(
    conn: &mut SqliteConnection,
    before: &Catalog,
    previous: &Schema,
) -> Result<Schema, diesel::result::Error> {
    let previous_tables: BTreeSet<String> = previous
        .tables
        .iter()
        .map(|t| t.name.to_ascii_lowercase())
        .collect();
    if before.tables() != previous_tables {
        return sqlite(conn);
    }
    let after = catalog(conn)?;
    let mut changed: BTreeSet<String> = before
        .0
        .keys()
        .chain(after.0.keys())
        .filter(|table| before.0.get(*table) != after.0.get(*table))
        .cloned()
        .collect();
    let referencing: Vec<String> = previous
        .tables
        .iter()
        .filter(|table| {
            table
                .foreign_keys
                .iter()
                .any(|fk| changed.contains(&fk.references.to_ascii_lowercase()))
        })
        .map(|table| table.name.to_ascii_lowercase())
        .collect();
    changed.extend(referencing);
    let reread = read(conn, Some(&changed))?;
    let kept = previous
        .tables
        .iter()
        .filter(|table| !changed.contains(&table.name.to_ascii_lowercase()))
        .cloned();
    Ok(Schema::new(kept.chain(reread.tables).collect()))
}

/// Reads the schema of a SQLite database: its user tables, or those of them `only` names
/// (lower-cased).
fn read(
    conn: &mut SqliteConnection,
    only: Option<&BTreeSet<String>>,
) -> Result<Schema, diesel::result::Error> {
    let columns: Vec<ColumnRow> = diesel::sql_query(per_table(
        "p.name AS name, p.type AS ty, p.\"notnull\" AS not_null, p.dflt_value AS dflt, p.pk AS pk",
        "pragma_table_info(m.name) p",
        "p.cid",
        only,
    ))
    .load(conn)?;
    let indexes: Vec<IndexRow> = diesel::sql_query(per_table(
        "il.name AS idx, il.\"unique\" AS is_unique, il.origin AS origin, ii.name AS col",
        "pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii",
        "il.name, ii.seqno",
        only,
    ))
    .load(conn)?;
    let foreign_keys: Vec<ForeignKeyRow> = diesel::sql_query(per_table(
        "fk.id AS id, fk.\"table\" AS target, fk.\"from\" AS from_col, fk.\"to\" AS to_col, \
         fk.on_update AS on_update, fk.on_delete AS on_delete",
        "pragma_foreign_key_list(m.name) fk",
        "fk.id, fk.seq",
        only,
    ))
    .load(conn)?;
    let sql: Vec<SqlRow> = diesel::sql_query(format!(
        "SELECT type AS kind, tbl_name AS tbl, sql FROM sqlite_master WHERE type IN ('table', 'trigger'){} \
         ORDER BY type, name",
        restricted("tbl_name", only)
    ))
    .load(conn)?;

    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut keys: BTreeMap<String, Vec<(i32, String)>> = BTreeMap::new();
    for row in columns {
        let table = tables
            .entry(row.tbl.clone())
            .or_insert_with(|| Table::new(&row.tbl));
        let mut column = Column::new(
            &row.name,
            parse_type(&row.ty),
            row.not_null == 0 && row.pk == 0,
        );
        column.default = row
            .dflt
            .as_deref()
            .map(normalise_default)
            .filter(|d| !d.eq_ignore_ascii_case("NULL"));
        if row.pk > 0 {
            keys.entry(row.tbl.clone())
                .or_default()
                .push((row.pk, row.name.clone()));
        }
        table.columns.push(column);
    }
    for (tbl, mut key) in keys {
        key.sort();
        if let Some(table) = tables.get_mut(&tbl) {
            table.primary_key = key.into_iter().map(|(_, name)| name).collect();
        }
    }
    // Index rows arrive one per indexed column, grouped by index.
    let mut grouped: BTreeMap<(String, String), (bool, String, Vec<String>)> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    for row in indexes {
        let key = (row.tbl.clone(), row.idx.clone());
        let entry = grouped.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (row.is_unique != 0, row.origin.clone(), Vec::new())
        });
        entry
            .2
            .push(row.col.unwrap_or_else(|| "<expression>".into()));
    }
    for key in order {
        let (unique, origin, columns) = grouped.remove(&key).unwrap_or_default();
        let Some(table) = tables.get_mut(&key.0) else {
            continue;
        };
        match origin.as_str() {
            "pk" => {}
            "u" => table.uniques.push(Unique {
                name: key.1,
                columns,
            }),
            _ => table.indexes.push(Index {
                name: key.1,
                columns,
                unique,
            }),
        }
    }
    let mut fks: BTreeMap<(String, i32), ForeignKey> = BTreeMap::new();
    for row in foreign_keys {
        let fk = fks
            .entry((row.tbl.clone(), row.id))
            .or_insert_with(|| ForeignKey {
                name: String::new(),
                columns: Vec::new(),
                references: row.target.clone(),
                referenced_columns: Vec::new(),
                on_delete: Action::parse(&row.on_delete),
                on_update: Action::parse(&row.on_update),
            });
        fk.columns.push(row.from_col);
        if let Some(to) = row.to_col {
            fk.referenced_columns.push(to);
        }
    }
    for ((tbl, _), mut fk) in fks.into_iter().rev() {
        if fk.referenced_columns.is_empty() {
            fk.referenced_columns = match tables.get(&fk.references) {
                Some(table) => table.primary_key.clone(),
                // Read apart: a table left out of `only`, which is read as it would be here.
                None if only.is_some() => primary_key_of(conn, &fk.references)?,
                None => Vec::new(),
            };
        }
        fk.name = format!("{tbl}_{}_fkey", fk.columns.join("_"));
        if let Some(table) = tables.get_mut(&tbl) {
            table.foreign_keys.insert(0, fk);
        }
    }
    for row in sql {
        let Some(text) = row.sql else { continue };
        let Some(table) = tables.get_mut(&row.tbl) else {
            continue;
        };
        if row.kind == "trigger" {
            table.triggers.push(text);
        } else {
            if has_autoincrement(&text) {
                let key = match table.primary_key.as_slice() {
                    [only] => Some(only.clone()),
                    _ => None,
                };
                if let Some(column) = table
                    .columns
                    .iter_mut()
                    .find(|c| Some(&c.name) == key.as_ref())
                {
                    column.autoincrement = true;
                }
            }
            for constraint in named_constraints(&text) {
                match constraint.kind.as_str() {
                    "CHECK" => table.checks.push(Check {
                        name: constraint.name,
                        expression: workhub_schema::squash(&constraint.body),
                    }),
                    "UNIQUE" => {
                        let columns = columns_of(&constraint.body);
                        if let Some(unique) =
                            table.uniques.iter_mut().find(|u| u.columns == columns)
                        {
                            unique.name = constraint.name;
                        }
                    }
                    "FOREIGN" => {
                        let columns = columns_of(&constraint.body);
                        if let Some(fk) = table
                            .foreign_keys
                            .iter_mut()
                            .find(|fk| fk.columns == columns)
                        {
                            fk.name = constraint.name;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(Schema::new(tables.into_values().collect()))
}

/// The primary key columns of the user table named exactly `table` (none when there is no such
/// table), as a whole read finds them.
fn primary_key_of(
    conn: &mut SqliteConnection,
    table: &str,
) -> Result<Vec<String>, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct KeyColumn {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let ignored = IGNORED_TABLES.map(|t| format!("'{t}'")).join(", ");
    let columns: Vec<KeyColumn> = diesel::sql_query(format!(
        "SELECT p.name AS name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name = ? AND m.name NOT LIKE 'sqlite_%' \
         AND m.name NOT IN ({ignored}) AND p.pk > 0 ORDER BY p.pk"
    ))
    .bind::<Text, _>(table)
    .load(conn)?;
    Ok(columns.into_iter().map(|c| c.name).collect())
}

/// A `CONSTRAINT "name" KIND (...)` clause of a `CREATE TABLE` statement: its name, its kind
/// (`CHECK`, `UNIQUE`, `FOREIGN`, `PRIMARY`) and what its first parentheses hold.
struct NamedConstraint {
    name: String,
    kind: String,
    body: String,
}

fn named_constraints(create: &str) -> Vec<NamedConstraint> {
    let mut found = Vec::new();
    let upper = create.to_ascii_uppercase();
    let mut from = 0;
    while let Some(at) = upper[from..].find("CONSTRAINT") {
        let start = from + at + "CONSTRAINT".len();
        from = start;
        let rest = create[start..].trim_start();
        let (name, after) = match rest.chars().next() {
            Some(q @ ('"' | '`' | '[')) => {
                let close = if q == '[' { ']' } else { q };
                match rest[1..].find(close) {
                    Some(end) => (rest[1..1 + end].to_string(), &rest[end + 2..]),
                    None => continue,
                }
            }
            _ => {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (rest[..end].to_string(), &rest[end..])
            }
        };
        let after = after.trim_start();
        let kind_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let kind = after[..kind_end].to_ascii_uppercase();
        let Some(open) = after.find('(') else {
            continue;
        };
        let body = &after[open..];
        let mut depth = 0;
        let mut quoted = false;
        for (i, c) in body.char_indices() {
            match c {
                '\'' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        found.push(NamedConstraint {
                            name,
                            kind,
                            body: body[1..i].to_string(),
                        });
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// The column names of a constraint's column list: `"a", "b"` gives `[a, b]`.
fn columns_of(body: &str) -> Vec<String> {
    body.split(',')
        .map(|c| {
            c.trim()
                .trim_matches(|q| q == '"' || q == '`' || q == '[' || q == ']')
                .to_string()
        })
        .collect()
}

/// Whether a `CREATE TABLE` statement declares `AUTOINCREMENT` (SQLite allows it on the single
/// `INTEGER PRIMARY KEY` alone), outside quoted names, strings and comments.
fn has_autoincrement(sql: &str) -> bool {
    let mut words = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                for inner in chars.by_ref() {
                    if inner == close {
                        break;
                    }
                }
                words.push(' ');
            }
            '-' if chars.peek() == Some(&'-') => {
                for inner in chars.by_ref() {
                    if inner == '\n' {
                        break;
                    }
                }
                words.push(' ');
            }
            c if c.is_ascii_alphanumeric() || c == '_' => words.push(c.to_ascii_uppercase()),
            _ => words.push(' '),
        }
    }
    words.split_whitespace().any(|w| w == "AUTOINCREMENT")
}
