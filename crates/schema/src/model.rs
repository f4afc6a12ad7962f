//! The schema as data: what a model declares and what introspection reads back, in one shape so the
//! two can be compared.

use std::fmt;

/// A column's type, independent of any dialect's spelling of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ColumnType {
    SmallInt,
    Integer,
    BigInt,
    Text,
    /// Text of at most N characters.
    Varchar(u32),
    Bool,
    Float,
    Double,
    Date,
    Timestamp,
    Binary,
    /// A type the model or database names that workhub does not interpret, kept verbatim (upper-case).
    Other(String),
}

impl ColumnType {
    pub fn is_integer(&self) -> bool {
        matches!(self, Self::SmallInt | Self::Integer | Self::BigInt)
    }

    /// Whether changing `self` to `to` can lose data (a shorter or smaller type).
    pub fn narrows_to(&self, to: &Self) -> bool {
        use ColumnType::*;
        let rank = |t: &Self| match t {
            SmallInt => Some(1),
            Integer => Some(2),
            BigInt => Some(3),
            _ => None,
        };
        match (self, to) {
            (a, b) if a == b => false,
            (Text, Varchar(_)) => true,
            (Varchar(a), Varchar(b)) => b < a,
            (Double, Float) => true,
            (a, b) if rank(a).is_some() && rank(b).is_some() => rank(b) < rank(a),
            (Varchar(_), Text) | (Float, Double) => false,
            (a, b) if a.is_integer() && matches!(b, Float | Double | Text | Varchar(_)) => false,
            _ => true,
        }
    }
}

impl ColumnType {
    /// How the models declare this type (diesel's SQL type names).
    pub fn declared(&self) -> String {
        match self {
            Self::Varchar(n) => format!("Text (with #[max_length = {n}])"),
            Self::Other(name) => name.clone(),
            other => format!("{other:?}"),
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SmallInt => f.write_str("SMALLINT"),
            Self::Integer => f.write_str("INTEGER"),
            Self::BigInt => f.write_str("BIGINT"),
            Self::Text => f.write_str("TEXT"),
            Self::Varchar(n) => write!(f, "VARCHAR({n})"),
            Self::Bool => f.write_str("BOOLEAN"),
            Self::Float => f.write_str("REAL"),
            Self::Double => f.write_str("DOUBLE PRECISION"),
            Self::Date => f.write_str("DATE"),
            Self::Timestamp => f.write_str("TIMESTAMP"),
            Self::Binary => f.write_str("BINARY"),
            Self::Other(name) => f.write_str(name),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
    /// The default as a SQL expression (`0`, `'todo'`, `CURRENT_TIMESTAMP`), normalised.
    pub default: Option<String>,
    /// On the table's integer primary key: an id, once assigned, is never assigned again, even
    /// after its row is deleted (SQLite's `AUTOINCREMENT`; a PostgreSQL identity never reuses one).
    pub autoincrement: bool,
}

/// As derived, but `autoincrement` shows only when set: a schema's digest (its `Debug` text, see
/// `draft::digest`) recorded in a `lineage.toml` before the field existed stays the same.
impl std::fmt::Debug for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Column");
        out.field("name", &self.name)
            .field("ty", &self.ty)
            .field("nullable", &self.nullable)
            .field("default", &self.default);
        if self.autoincrement {
            out.field("autoincrement", &self.autoincrement);
        }
        out.finish()
    }
}

impl Column {
    pub fn new(name: &str, ty: ColumnType, nullable: bool) -> Self {
        Self {
            name: name.to_string(),
            ty,
            nullable,
            default: None,
            autoincrement: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

/// A `UNIQUE` table constraint (as opposed to a unique index, which [`Index`] covers).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Unique {
    pub name: String,
    pub columns: Vec<String>,
}

/// What a foreign key does when the row it references is deleted or its key updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Action {
    #[default]
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl Action {
    pub fn sql(self) -> &'static str {
        match self {
            Self::NoAction => "NO ACTION",
            Self::Restrict => "RESTRICT",
            Self::Cascade => "CASCADE",
            Self::SetNull => "SET NULL",
            Self::SetDefault => "SET DEFAULT",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_uppercase().as_str() {
            "RESTRICT" | "R" => Self::Restrict,
            "CASCADE" | "C" => Self::Cascade,
            "SET NULL" | "N" => Self::SetNull,
            "SET DEFAULT" | "D" => Self::SetDefault,
            _ => Self::NoAction,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub references: String,
    pub referenced_columns: Vec<String>,
    pub on_delete: Action,
    pub on_update: Action,
}

/// A named `CHECK` constraint; the expression is compared after whitespace normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Check {
    pub name: String,
    pub expression: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub indexes: Vec<Index>,
    pub uniques: Vec<Unique>,
    pub foreign_keys: Vec<ForeignKey>,
    pub checks: Vec<Check>,
    /// `CREATE TRIGGER` statements on the table, read back so a SQLite rebuild can restore them; the
    /// models do not declare triggers and the diff ignores them.
    pub triggers: Vec<String>,
}

impl Table {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            indexes: Vec::new(),
            uniques: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            triggers: Vec::new(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The single integer primary key column the database assigns (SQLite's rowid alias, a PostgreSQL
    /// identity), if the table has one.
    pub fn auto_key(&self) -> Option<&Column> {
        match self.primary_key.as_slice() {
            [only] => self.column(only).filter(|c| c.ty.is_integer()),
            _ => None,
        }
    }
}

/// A whole schema: tables in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Schema {
    pub tables: Vec<Table>,
}

impl Schema {
    pub fn new(mut tables: Vec<Table>) -> Self {
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Self { tables }
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Every table by its name, for lookups across a whole schema in constant time each; a name
    /// given twice finds its first table, as [`Schema::table`] does.
    pub fn tables_by_name(&self) -> std::collections::HashMap<&str, &Table> {
        let mut by_name = std::collections::HashMap::with_capacity(self.tables.len());
        for table in &self.tables {
            by_name.entry(table.name.as_str()).or_insert(table);
        }
        by_name
    }

    /// Checks what a declaration cannot express in types: every referenced table and column exists,
    /// names are unique. Returns one line per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let tables = self.tables_by_name();
        let mut names = std::collections::HashSet::new();
        for table in &self.tables {
            if !names.insert(table.name.as_str()) {
                problems.push(format!("table {} is declared twice", table.name));
            }
            if let Some(key) = table.auto_key().filter(|c| c.ty != ColumnType::BigInt) {
                problems.push(format!(
                    "{}.{}: an integer primary key is 64-bit on both backends (SQLite's rowid, a BIGINT identity \
                     on PostgreSQL); declare it BigInt",
                    table.name, key.name
                ));
            }
            for column in table.columns.iter().filter(|c| c.autoincrement) {
                if table.auto_key().map(|k| &k.name) != Some(&column.name) {
                    problems.push(format!(
                        "{}.{}: autoincrement applies to a table's single integer primary key",
                        table.name, column.name
                    ));
                }
            }
            for column in &table.primary_key {
                if table.column(column).is_none() {
                    problems.push(format!(
                        "{}: primary key column {column} is not a column",
                        table.name
                    ));
                }
            }
            for index in &table.indexes {
                if !names.insert(index.name.as_str()) {
                    problems.push(format!(
                        "{}: the name {} is used twice",
                        table.name, index.name
                    ));
                }
                for column in &index.columns {
                    if table.column(column).is_none() {
                        problems.push(format!(
                            "{}: index {} names unknown column {column}",
                            table.name, index.name
                        ));
                    }
                }
            }
            for fk in &table.foreign_keys {
                match tables.get(fk.references.as_str()) {
                    None => problems.push(format!(
                        "{}.{}: references unknown table {}",
                        table.name,
                        fk.columns.join(","),
                        fk.references
                    )),
                    Some(target) => {
                        for column in &fk.referenced_columns {
                            if target.column(column).is_none() {
                                problems.push(format!(
                                    "{}: foreign key {} references unknown column {}.{column}",
                                    table.name, fk.name, fk.references
                                ));
                            }
                        }
                        problems.extend(foreign_key_type_mismatches(table, fk, target));
                    }
                }
            }
        }
        problems
    }
}

/// Each column of `fk` whose type is not the type of the key column it references: an `Integer`
/// column referencing a `BigInt` key accepts every row until the key passes 2^31-1, then every insert
/// of a newer id fails.
fn foreign_key_type_mismatches(table: &Table, fk: &ForeignKey, target: &Table) -> Vec<String> {
    fk.columns
        .iter()
        .zip(&fk.referenced_columns)
        .filter_map(|(column, referenced)| {
            let (own, key) = (table.column(column)?, target.column(referenced)?);
            (own.ty != key.ty).then(|| {
                format!(
                    "{t}.{column} is {} but references {}.{referenced}, which is {}: a foreign key \
                     column must have the type of the key it references, or ids past what {t}.{column} \
                     holds cannot be referenced (inserts fail once they pass it); declare {column} -> {} \
                     in table {t}",
                    own.ty,
                    target.name,
                    key.ty,
                    key.ty.declared(),
                    t = table.name,
                )
            })
        })
        .collect()
}

/// Collapses runs of whitespace and trims, so `a  IN ( 'x')` and `a IN ( 'x')` compare equal.
pub fn squash(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, key: ColumnType) -> Table {
        let mut table = Table::new(name);
        table.columns.push(Column::new("id", key, false));
        table.primary_key = vec!["id".into()];
        table
    }

    #[test]
    fn problems_name_what_a_declaration_got_wrong() {
        let mut tasks = table("tasks", ColumnType::Integer);
        tasks.foreign_keys.push(ForeignKey {
            name: "tasks_project_id_fkey".into(),
            columns: vec!["id".into()],
            references: "projects".into(),
            referenced_columns: vec!["id".into()],
            on_delete: Action::Cascade,
            on_update: Action::NoAction,
        });
        let problems = Schema::new(vec![tasks]).problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("tasks.id") && problems[0].contains("declare it BigInt"));
        assert!(problems[1].contains("references unknown table projects"));
        assert!(Schema::new(vec![table("users", ColumnType::BigInt)])
            .problems()
            .is_empty());
    }

    #[test]
    fn a_foreign_key_of_another_type_than_its_key_is_refused() {
        let users = table("users", ColumnType::BigInt);
        let mut tasks = table("tasks", ColumnType::BigInt);
        tasks
            .columns
            .push(Column::new("owner_id", ColumnType::Integer, false));
        tasks.foreign_keys.push(ForeignKey {
            name: "tasks_owner_id_fkey".into(),
            columns: vec!["owner_id".into()],
            references: "users".into(),
            referenced_columns: vec!["id".into()],
            on_delete: Action::Cascade,
            on_update: Action::NoAction,
        });
        let problems = Schema::new(vec![users.clone(), tasks.clone()]).problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        for needle in [
            "tasks.owner_id is INTEGER",
            "users.id, which is BIGINT",
            "declare owner_id -> BigInt",
        ] {
            assert!(problems[0].contains(needle), "{needle}: {}", problems[0]);
        }
        tasks.columns[1].ty = ColumnType::BigInt;
        assert!(Schema::new(vec![users, tasks]).problems().is_empty());
    }

    #[test]
    fn narrowing_is_what_can_lose_data() {
        assert!(ColumnType::Varchar(200).narrows_to(&ColumnType::Varchar(100)));
        assert!(ColumnType::Text.narrows_to(&ColumnType::Varchar(100)));
        assert!(ColumnType::BigInt.narrows_to(&ColumnType::Integer));
        assert!(!ColumnType::Integer.narrows_to(&ColumnType::BigInt));
        assert!(!ColumnType::Varchar(100).narrows_to(&ColumnType::Text));
    }
}
