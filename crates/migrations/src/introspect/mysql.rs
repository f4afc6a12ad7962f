//! MySQL's and MariaDB's schema, read from `information_schema` for the connection's current
//! database.
//!
//! MySQL keeps a `UNIQUE` constraint as a unique index, so every unique index is read as a
//! [`Unique`] (the models' unique indexes are compared as such too, see `render::for_dialect`). An
//! index InnoDB created by itself for a foreign key (named after it, over its columns) is left out:
//! the models never declare it. Checks are read where the server keeps them
//! (`information_schema.CHECK_CONSTRAINTS`: MySQL 8.0.16+, MariaDB 10.2+), in its own spelling.

use std::collections::BTreeMap;

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{MysqlConnection, QueryableByName, RunQueryDsl};

use workhub_schema::reported::{normalise_mysql_default, parse_mysql_type, prefix_part};
use workhub_schema::{
    squash, Action, Check, Column, ColumnType, ForeignKey, Index, Schema, Table, Unique,
};

use super::IGNORED_TABLES;

/// The tables of the migration machinery: the history tables and MySQL's record of a run that did
/// not finish (see `history::run`).
fn ignored() -> String {
    IGNORED_TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .chain(std::iter::once(format!("'{}_run'", IGNORED_TABLES[1])))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(QueryableByName)]
struct ServerRow {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = BigInt)]
    checks: i64,
}

#[derive(QueryableByName)]
struct TableRow {
    #[diesel(sql_type = Text)]
    tbl: String,
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
    #[diesel(sql_type = BigInt)]
    nullable: i64,
    #[diesel(sql_type = Nullable<Text>)]
    dflt: Option<String>,
    #[diesel(sql_type = Text)]
    extra: String,
    #[diesel(sql_type = Nullable<Text>)]
    collation: Option<String>,
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    non_unique: i64,
    #[diesel(sql_type = Nullable<Text>)]
    col: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    sub_part: Option<i64>,
}

#[derive(QueryableByName)]
struct ForeignKeyRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    col: String,
    #[diesel(sql_type = Text)]
    target: String,
    #[diesel(sql_type = Text)]
    target_col: String,
    #[diesel(sql_type = Text)]
    on_delete: String,
    #[diesel(sql_type = Text)]
    on_update: String,
}

#[derive(QueryableByName)]
struct CheckRow {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    clause: String,
}

/// Reads the schema of the connection's current database.
pub fn mysql(conn: &mut MysqlConnection) -> Result<Schema, diesel::result::Error> {
    let server: ServerRow = diesel::sql_query(
        "SELECT VERSION() AS version, CAST((SELECT COUNT(*) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'CHECK_CONSTRAINTS') AS SIGNED) AS checks",
    )
    .get_result(conn)?;
    let mariadb = server.version.contains("MariaDB");
    let ignored = ignored();
    let names: Vec<TableRow> = diesel::sql_query(format!(
        "SELECT TABLE_NAME AS tbl FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT IN ({ignored}) ORDER BY TABLE_NAME"
    ))
    .load(conn)?;
    let mut tables: BTreeMap<String, Table> = names
        .into_iter()
        .map(|row| (row.tbl.clone(), Table::new(&row.tbl)))
        .collect();
    let columns: Vec<ColumnRow> = diesel::sql_query(
        "SELECT TABLE_NAME AS tbl, COLUMN_NAME AS name, COLUMN_TYPE AS ty, \
         CAST(IS_NULLABLE = 'YES' AS SIGNED) AS nullable, COLUMN_DEFAULT AS dflt, EXTRA AS extra, \
         COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .load(conn)?;
    for row in columns {
        let Some(table) = tables.get_mut(&row.tbl) else {
            continue;
        };
        let ty = match (parse_mysql_type(&row.ty), row.collation.as_deref()) {
            // The models' text compares exactly (`utf8mb4_bin`, as the MySQL renderer declares
            // every table): text under any other collation is another type, which a comparison
            // shows (under a case- and accent-insensitive one `adá@x.io` equals `ada@x.io`).
            (ColumnType::Text | ColumnType::Varchar(_), Some(collation))
                if collation != "utf8mb4_bin" =>
            {
                ColumnType::Other(format!(
                    "{} COLLATE {collation}",
                    row.ty.to_ascii_uppercase()
                ))
            }
            (ty, _) => ty,
        };
        let extra = row.extra.to_ascii_lowercase();
        let mut column = Column::new(&row.name, ty, row.nullable != 0);
        if !extra.contains("auto_increment") {
            column.default = normalise_mysql_default(
                row.dflt.as_deref(),
                &column.ty,
                mariadb,
                extra.contains("default_generated"),
            );
        }
        table.columns.push(column);
    }
    let indexes: Vec<IndexRow> = diesel::sql_query(
        "SELECT TABLE_NAME AS tbl, INDEX_NAME AS name, CAST(NON_UNIQUE AS SIGNED) AS non_unique, \
         COLUMN_NAME AS col, CAST(SUB_PART AS SIGNED) AS sub_part FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    )
    .load(conn)?;
    let mut keyed: BTreeMap<(String, String), (bool, Vec<String>)> = BTreeMap::new();
    for row in indexes {
        let entry = keyed
            .entry((row.tbl, row.name))
            .or_insert_with(|| (row.non_unique == 0, Vec::new()));
        // A functional index's part has no column, and a prefix part covers the start of one; the
        // models declare neither.
        entry.1.push(match (row.col, row.sub_part) {
            (None, _) => "(expression)".into(),
            (Some(col), Some(length)) => prefix_part(&col, length.unsigned_abs()),
            (Some(col), None) => col,
        });
    }
    let foreign_keys: Vec<ForeignKeyRow> = diesel::sql_query(
        "SELECT k.TABLE_NAME AS tbl, k.CONSTRAINT_NAME AS name, k.COLUMN_NAME AS col, \
         IF(k.REFERENCED_TABLE_SCHEMA = DATABASE(), k.REFERENCED_TABLE_NAME, \
            CONCAT(k.REFERENCED_TABLE_SCHEMA, '.', k.REFERENCED_TABLE_NAME)) AS target, \
         k.REFERENCED_COLUMN_NAME AS target_col, r.DELETE_RULE AS on_delete, r.UPDATE_RULE AS on_update \
         FROM information_schema.KEY_COLUMN_USAGE k \
         JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA \
         AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
    )
    .load(conn)?;
    for row in foreign_keys {
        let Some(table) = tables.get_mut(&row.tbl) else {
            continue;
        };
        match table.foreign_keys.iter_mut().find(|fk| fk.name == row.name) {
            Some(fk) => {
                fk.columns.push(row.col);
                fk.referenced_columns.push(row.target_col);
            }
            None => table.foreign_keys.push(ForeignKey {
                name: row.name,
                columns: vec![row.col],
                references: row.target,
                referenced_columns: vec![row.target_col],
                on_delete: Action::parse(&row.on_delete),
                on_update: Action::parse(&row.on_update),
            }),
        }
    }
    for ((tbl, name), (unique, columns)) in keyed {
        let Some(table) = tables.get_mut(&tbl) else {
            continue;
        };
        if name == "PRIMARY" {
            table.primary_key = columns;
        } else if unique {
            table.uniques.push(Unique { name, columns });
        } else if !table
            .foreign_keys
            .iter()
            .any(|fk| fk.name == name && fk.columns == columns)
        {
            table.indexes.push(Index {
                name,
                columns,
                unique: false,
            });
        }
    }
    if server.checks > 0 {
        // MariaDB's check names are per table, and its CHECK_CONSTRAINTS says whose; MySQL's are
        // per database and only TABLE_CONSTRAINTS says whose.
        let sql = if mariadb {
            "SELECT TABLE_NAME AS tbl, CONSTRAINT_NAME AS name, CHECK_CLAUSE AS clause \
             FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() \
             ORDER BY TABLE_NAME, CONSTRAINT_NAME"
        } else {
            "SELECT t.TABLE_NAME AS tbl, c.CONSTRAINT_NAME AS name, c.CHECK_CLAUSE AS clause \
             FROM information_schema.CHECK_CONSTRAINTS c JOIN information_schema.TABLE_CONSTRAINTS t \
             ON t.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA AND t.CONSTRAINT_NAME = c.CONSTRAINT_NAME \
             AND t.CONSTRAINT_TYPE = 'CHECK' WHERE c.CONSTRAINT_SCHEMA = DATABASE() \
             ORDER BY t.TABLE_NAME, c.CONSTRAINT_NAME"
        };
        let checks: Vec<CheckRow> = diesel::sql_query(sql).load(conn)?;
        for row in checks {
            if let Some(table) = tables.get_mut(&row.tbl) {
                table.checks.push(Check {
                    name: row.name,
                    expression: squash(&row.clause),
                });
            }
        }
    }
    Ok(Schema::new(tables.into_values().collect()))
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use workhub_schema::render::{self, Generator};
    use workhub_schema::{diff, ColumnType, Dialect};

    use super::*;
    use crate::apply::TemporaryMysqlDatabase;
    use crate::scratch::{differences, open_mysql_scratch, read_mysql};
    use crate::testing::mysql_server;

    fn column(name: &str, ty: ColumnType, nullable: bool, default: Option<&str>) -> Column {
        let mut column = Column::new(name, ty, nullable);
        column.default = default.map(str::to_string);
        column
    }

    fn fk(name: &str, column: &str, to: &str, on_delete: Action, on_update: Action) -> ForeignKey {
        ForeignKey {
            name: name.into(),
            columns: vec![column.into()],
            references: to.into(),
            referenced_columns: vec!["id".into()],
            on_delete,
            on_update,
        }
    }

    /// Every column type, defaults of each kind, a composite key, foreign keys with every action
    /// InnoDB keeps (one over a column no index covers), unique constraints and indexes, checks.
    fn rich_model() -> Schema {
        let mut owners = Table::new("owners");
        owners.columns = vec![
            column("id", ColumnType::BigInt, false, None),
            column("code", ColumnType::Varchar(20), false, None),
        ];
        owners.primary_key = vec!["id".into()];
        owners.uniques.push(Unique {
            name: "owners_code_key".into(),
            columns: vec!["code".into()],
        });
        let mut items = Table::new("items");
        items.columns = vec![
            column("id", ColumnType::Integer, false, None),
            column("small", ColumnType::SmallInt, true, Some("-3")),
            column("amount", ColumnType::Integer, false, Some("0")),
            column("big", ColumnType::BigInt, true, None),
            column("body", ColumnType::Text, false, Some("'it''s'")),
            column("status", ColumnType::Varchar(20), false, Some("'todo'")),
            column("done", ColumnType::Bool, false, Some("FALSE")),
            column("shown", ColumnType::Bool, true, Some("TRUE")),
            column("ratio", ColumnType::Float, false, Some("1.5")),
            column("weight", ColumnType::Double, true, Some("2.25")),
            column("due_on", ColumnType::Date, true, Some("'2020-01-02'")),
            column(
                "created_at",
                ColumnType::Timestamp,
                false,
                Some("CURRENT_TIMESTAMP"),
            ),
            column("payload", ColumnType::Binary, true, None),
            column(
                "price",
                ColumnType::Other("DECIMAL(10,2)".into()),
                true,
                Some("0.00"),
            ),
            column("owner_id", ColumnType::BigInt, false, None),
            column("backup_owner_id", ColumnType::BigInt, true, None),
            column("reviewer_id", ColumnType::BigInt, true, None),
        ];
        items.primary_key = vec!["id".into()];
        items.indexes = vec![
            Index {
                name: "items_owner_status_idx".into(),
                columns: vec!["owner_id".into(), "status".into()],
                unique: false,
            },
            Index {
                name: "items_backup_owner_id_idx".into(),
                columns: vec!["backup_owner_id".into()],
                unique: false,
            },
            Index {
                name: "items_due_on_idx".into(),
                columns: vec!["due_on".into()],
                unique: false,
            },
            Index {
                name: "items_status_amount_key".into(),
                columns: vec!["status".into(), "amount".into()],
                unique: true,
            },
        ];
        items.foreign_keys = vec![
            fk(
                "items_owner_id_fkey",
                "owner_id",
                "owners",
                Action::Cascade,
                Action::Cascade,
            ),
            fk(
                "items_backup_owner_id_fkey",
                "backup_owner_id",
                "owners",
                Action::SetNull,
                Action::NoAction,
            ),
            // No index covers reviewer_id: InnoDB makes one of its own.
            fk(
                "items_reviewer_id_fkey",
                "reviewer_id",
                "owners",
                Action::Restrict,
                Action::Restrict,
            ),
        ];
        items.checks = vec![
            Check {
                name: "items_amount_positive".into(),
                expression: "amount >= 0".into(),
            },
            Check {
                name: "items_status_valid".into(),
                expression: "status IN ('todo', 'done', 'it''s')".into(),
            },
            Check {
                name: "items_ratio_small".into(),
                expression: "(ratio < 100 AND length(status) > 0 AND shown != FALSE)".into(),
            },
        ];
        let mut tags = Table::new("tags");
        tags.columns = vec![
            column("item_id", ColumnType::Integer, false, None),
            column("name", ColumnType::Varchar(50), false, None),
        ];
        tags.primary_key = vec!["item_id".into(), "name".into()];
        tags.foreign_keys = vec![fk(
            "tags_item_id_fkey",
            "item_id",
            "items",
            Action::Cascade,
            Action::NoAction,
        )];
        Schema::new(vec![owners, items, tags])
    }

    /// What `render::mysql` writes to create `model` from nothing, as `db create` would.
    fn created(model: &Schema) -> String {
        let (from, to) = render::comparable(&Schema::default(), model, Dialect::Mysql);
        let generator = Generator {
            name: "test",
            create: "test create",
            upgrade: "test upgrade",
        };
        render::render(Dialect::Mysql, &from, &to, &diff(&from, &to), &generator)
    }

    #[test]
    fn a_schema_rendered_for_mysql_reads_back_as_its_model() {
        let Some(server) = mysql_server("a_schema_rendered_for_mysql_reads_back_as_its_model")
        else {
            return;
        };
        let scratch = TemporaryMysqlDatabase::create(&server, "introspect").unwrap();
        let mut db = open_mysql_scratch(&scratch).unwrap();
        let model = rich_model();
        let sql = created(&model);
        db.connection()
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
        // The history tables are the engine's, never the schema's.
        db.connection()
            .batch_execute(
                "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY);\
                 CREATE TABLE __workhub_migrations (version VARCHAR(50) PRIMARY KEY);\
                 CREATE TABLE __workhub_migrations_run (version VARCHAR(50) PRIMARY KEY);",
            )
            .unwrap();
        let read = read_mysql(&mut db).unwrap();
        assert_eq!(
            differences(&read, &model, Dialect::Mysql),
            Vec::new(),
            "read back:\n{read:#?}\nfrom:\n{sql}"
        );
        let names: Vec<&str> = read.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["items", "owners", "tags"]);
        let items = read.table("items").unwrap();
        // InnoDB's own index for the reviewer's foreign key is not the schema's.
        assert!(
            !items
                .indexes
                .iter()
                .any(|i| i.name == "items_reviewer_id_fkey"),
            "{items:#?}"
        );
        assert_eq!(items.checks.len(), 3, "{items:#?}");

        // Every kind of hand-made change shows, one difference each.
        db.connection()
            .batch_execute(
                "ALTER TABLE `items` MODIFY COLUMN `status` VARCHAR(30) NOT NULL DEFAULT 'todo';\
                 ALTER TABLE `items` ALTER COLUMN `amount` SET DEFAULT 1;\
                 DROP INDEX `items_due_on_idx` ON `items`;\
                 ALTER TABLE `items` DROP CONSTRAINT `items_amount_positive`;\
                 ALTER TABLE `items` ADD CONSTRAINT `items_amount_small` CHECK (amount < 1000);\
                 ALTER TABLE `items` DROP FOREIGN KEY `items_owner_id_fkey`;\
                 ALTER TABLE `items` ADD CONSTRAINT `items_owner_id_fkey` FOREIGN KEY (`owner_id`) \
                 REFERENCES `owners` (`id`) ON DELETE NO ACTION ON UPDATE CASCADE;\
                 ALTER TABLE `owners` DROP INDEX `owners_code_key`;\
                 ALTER TABLE `tags` ADD COLUMN `note` TEXT NULL;",
            )
            .unwrap();
        let drifted = read_mysql(&mut db).unwrap();
        let changes: Vec<String> = differences(&drifted, &model, Dialect::Mysql)
            .iter()
            .map(|c| c.describe())
            .collect();
        assert_eq!(changes.len(), 8, "{changes:#?}");
        for expected in [
            "items.status",
            "items.amount",
            "items_due_on_idx",
            "items_amount_positive",
            "items_amount_small",
            "foreign key items.owner_id",
            "unique constraint on owners (code)",
            "tags.note",
        ] {
            assert!(
                changes.iter().any(|c| c.contains(expected)),
                "{expected} in {changes:#?}"
            );
        }
        drop(db);
    }

    /// A default that looks like a number is text on a text column and a number on a numeric one,
    /// however the script or the model spells it: MariaDB reports a `TEXT` column's `DEFAULT 0`
    /// unquoted, MySQL every literal unquoted.
    #[test]
    fn numeric_looking_defaults_read_back_in_their_columns_kind() {
        let Some(server) = mysql_server("numeric_looking_defaults_read_back_in_their_columns_kind")
        else {
            return;
        };
        let scratch = TemporaryMysqlDatabase::create(&server, "defaults").unwrap();
        let mut db = open_mysql_scratch(&scratch).unwrap();
        db.connection()
            .batch_execute(
                "CREATE TABLE `d` (`id` BIGINT NOT NULL, \
                 `code` VARCHAR(10) NOT NULL DEFAULT '0', `label` VARCHAR(10) NOT NULL DEFAULT 7, \
                 `flag` CHAR(1) NOT NULL DEFAULT '1', `state` ENUM('0','1') NOT NULL DEFAULT '0', \
                 `note` TEXT NOT NULL DEFAULT 0, `amount` INT NOT NULL DEFAULT '0', \
                 `ratio` DOUBLE NOT NULL DEFAULT '2.5', PRIMARY KEY (`id`)) \
                 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            )
            .unwrap();
        let read = read_mysql(&mut db).unwrap();
        let model = |text: [&str; 4], numbers: [&str; 2]| {
            let mut table = Table::new("d");
            table.columns = vec![
                column("id", ColumnType::BigInt, false, None),
                column("code", ColumnType::Varchar(10), false, Some(text[0])),
                column("label", ColumnType::Varchar(10), false, Some(text[1])),
                column(
                    "flag",
                    ColumnType::Other("CHAR(1)".into()),
                    false,
                    Some("'1'"),
                ),
                column(
                    "state",
                    ColumnType::Other("ENUM('0','1')".into()),
                    false,
                    Some(text[2]),
                ),
                column("note", ColumnType::Text, false, Some(text[3])),
                column("amount", ColumnType::Integer, false, Some(numbers[0])),
                column("ratio", ColumnType::Double, false, Some(numbers[1])),
            ];
            table.primary_key = vec!["id".into()];
            Schema::new(vec![table])
        };
        // Each kind's own spelling, and the other one.
        for model in [
            model(["'0'", "'7'", "'0'", "'0'"], ["0", "2.5"]),
            model(["0", "7", "'0'", "0"], ["'0'", "'2.5'"]),
        ] {
            assert_eq!(
                differences(&read, &model, Dialect::Mysql),
                Vec::new(),
                "read back:\n{read:#?}"
            );
        }
        // Another default is still another.
        db.connection()
            .batch_execute(
                "ALTER TABLE `d` ALTER COLUMN `code` SET DEFAULT '1';\
                 ALTER TABLE `d` ALTER COLUMN `amount` SET DEFAULT 1;",
            )
            .unwrap();
        let changed = read_mysql(&mut db).unwrap();
        let changes: Vec<String> = differences(
            &changed,
            &model(["'0'", "'7'", "'0'", "'0'"], ["0", "2.5"]),
            Dialect::Mysql,
        )
        .iter()
        .map(|c| c.describe())
        .collect();
        assert_eq!(
            changes,
            [
                "altered column d.code: default '1' -> '0'",
                "altered column d.amount: default 1 -> 0"
            ]
        );
        drop(db);
    }
}
