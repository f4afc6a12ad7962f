use std::collections::BTreeMap;

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::{PgConnection, QueryableByName, RunQueryDsl};

use workhub_schema::{squash, Action, Check, Column, ForeignKey, Index, Schema, Table, Unique};

use super::{normalise_default, parse_type, IGNORED_TABLES};

fn user_tables(alias: &str) -> String {
    let ignored = IGNORED_TABLES.map(|t| format!("'{t}'")).join(", ");
    format!(
        "{alias}.relnamespace = current_schema()::regnamespace AND {alias}.relkind = 'r' \
         AND {alias}.relname NOT IN ({ignored})"
    )
}

/// The names of the columns `keys` (an attnum array of `rel`) lists, in order, comma-separated.
fn column_names(keys: &str, rel: &str) -> String {
    format!(
        "(SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest({keys}) WITH ORDINALITY k(num, ord) \
         JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.num)"
    )
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = Nullable<Text>)]
    dflt: Option<String>,
    #[diesel(sql_type = Bool)]
    identity: bool,
}

#[derive(QueryableByName)]
struct ConstraintRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    columns: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    target: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    target_columns: Option<String>,
    #[diesel(sql_type = Text)]
    on_delete: String,
    #[diesel(sql_type = Text)]
    on_update: String,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Nullable<Text>)]
    comment: Option<String>,
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    is_unique: bool,
    #[diesel(sql_type = Nullable<Text>)]
    columns: Option<String>,
}

#[derive(QueryableByName)]
struct TriggerRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// Reads the schema of the connection's current schema (normally `public`) from the catalogs.
pub fn postgres(conn: &mut PgConnection) -> Result<Schema, diesel::result::Error> {
    let columns: Vec<ColumnRow> = diesel::sql_query(format!(
        "SELECT c.relname::text AS tbl, a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS ty, \
         a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS dflt, a.attidentity <> '' AS identity \
         FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE {} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
        user_tables("c")
    ))
    .load(conn)?;
    let constraints: Vec<ConstraintRow> = diesel::sql_query(format!(
        "SELECT c.relname::text AS tbl, con.conname::text AS name, con.contype::text AS kind, \
         {} AS columns, t.relname::text AS target, {} AS target_columns, \
         con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update, \
         pg_get_constraintdef(con.oid) AS definition, obj_description(con.oid, 'pg_constraint') AS comment \
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
         LEFT JOIN pg_class t ON t.oid = con.confrelid \
         WHERE {} ORDER BY c.relname, con.conname",
        column_names("con.conkey", "con.conrelid"),
        column_names("con.confkey", "con.confrelid"),
        user_tables("c")
    ))
    .load(conn)?;
    let indexes: Vec<IndexRow> = diesel::sql_query(format!(
        "SELECT c.relname::text AS tbl, i.relname::text AS name, ix.indisunique AS is_unique, {} AS columns \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class c ON c.oid = ix.indrelid \
         WHERE {} AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid \
         AND con.conrelid = ix.indrelid AND con.contype IN ('p', 'u', 'x')) \
         ORDER BY c.relname, i.relname",
        column_names("ix.indkey::int2[]", "ix.indrelid"),
        user_tables("c")
    ))
    .load(conn)?;
    let triggers: Vec<TriggerRow> = diesel::sql_query(format!(
        "SELECT c.relname::text AS tbl, pg_get_triggerdef(tg.oid) AS definition FROM pg_trigger tg \
         JOIN pg_class c ON c.oid = tg.tgrelid WHERE {} AND NOT tg.tgisinternal ORDER BY tg.tgname",
        user_tables("c")
    ))
    .load(conn)?;

    let split = |list: Option<String>| -> Vec<String> {
        list.map(|l| l.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    };
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for row in columns {
        let table = tables
            .entry(row.tbl.clone())
            .or_insert_with(|| Table::new(&row.tbl));
        let mut column = Column::new(&row.name, parse_type(&row.ty), !row.not_null);
        column.default = row
            .dflt
            .filter(|d| !row.identity && !d.starts_with("nextval("))
            .map(|d| normalise_default(&d))
            .filter(|d| d != "NULL");
        table.columns.push(column);
    }
    for row in constraints {
        let Some(table) = tables.get_mut(&row.tbl) else {
            continue;
        };
        let columns = split(row.columns);
        match row.kind.as_str() {
            "p" => table.primary_key = columns,
            "u" => table.uniques.push(Unique {
                name: row.name,
                columns,
            }),
            "f" => table.foreign_keys.push(ForeignKey {
                name: row.name,
                columns,
                references: row.target.unwrap_or_default(),
                referenced_columns: split(row.target_columns),
                on_delete: Action::parse(&row.on_delete),
                on_update: Action::parse(&row.on_update),
            }),
            "c" => table.checks.push(Check {
                name: row.name,
                // workhub writes each check's source as its comment; others keep the server's form.
                expression: squash(&row.comment.unwrap_or(row.definition)),
            }),
            _ => {}
        }
    }
    for row in indexes {
        if let Some(table) = tables.get_mut(&row.tbl) {
            table.indexes.push(Index {
                name: row.name,
                columns: split(row.columns),
                unique: row.is_unique,
            });
        }
    }
    for row in triggers {
        if let Some(table) = tables.get_mut(&row.tbl) {
            table.triggers.push(row.definition);
        }
    }
    Ok(Schema::new(tables.into_values().collect()))
}
