//! Migration linting: what a migration's SQL does that can lose data or stall a busy database, found
//! by reading it as the database reads it (the statement splitter's tokens), each finding with the
//! rule it breaks, where, why it matters and the safe way to write it.
//!
//! A migration is read against the dialect it targets: `up.postgres.sql` as PostgreSQL, the
//! `up.sql` beside it as SQLite, a portable `up.sql` (no override) as both, and `up.mysql.sql` as
//! MySQL, where every DDL statement commits itself (so a script of several cannot roll back). A table the
//! migration creates itself is new and empty, so what would lock or scan a busy table is safe on it.
//! A comment `-- workhub-lint: allow RULE REASON` in the script silences RULE there, and must give
//! the reason.
//!
//! [`history()`] reads a whole history: each migration's statements, whether its lineage follows the
//! migration before it, and, by replaying the SQLite scripts, what a table rebuild loses.

use std::collections::BTreeSet;

#[cfg(feature = "runtime")]
mod history;
#[cfg(feature = "runtime")]
pub use history::{history, Report};

use crate::source::statements;
use crate::{Dialect, Migration};

/// How much a finding matters: an error fails `db lint`, a warning is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// The rules, each with its id (what a silencing comment names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    DropTable,
    DropColumn,
    Narrowing,
    RenameTable,
    RenameColumn,
    AddColumnNotNull,
    UniqueOnExistingData,
    CreateIndexNotConcurrently,
    DropIndexNotConcurrently,
    AddUniqueConstraint,
    AddPrimaryKey,
    ForeignKeyNotValid,
    CheckNotValid,
    SetNotNull,
    AlterColumnType,
    VacuumFull,
    LockTimeout,
    NonTransactionalDdl,
    NonLinearHistory,
    SilenceWithoutReason,
}

impl Rule {
    pub const ALL: [Rule; 20] = [
        Rule::DropTable,
        Rule::DropColumn,
        Rule::Narrowing,
        Rule::RenameTable,
        Rule::RenameColumn,
        Rule::AddColumnNotNull,
        Rule::UniqueOnExistingData,
        Rule::CreateIndexNotConcurrently,
        Rule::DropIndexNotConcurrently,
        Rule::AddUniqueConstraint,
        Rule::AddPrimaryKey,
        Rule::ForeignKeyNotValid,
        Rule::CheckNotValid,
        Rule::SetNotNull,
        Rule::AlterColumnType,
        Rule::VacuumFull,
        Rule::LockTimeout,
        Rule::NonTransactionalDdl,
        Rule::NonLinearHistory,
        Rule::SilenceWithoutReason,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Self::DropTable => "drop-table",
            Self::DropColumn => "drop-column",
            Self::Narrowing => "narrowing",
            Self::RenameTable => "rename-table",
            Self::RenameColumn => "rename-column",
            Self::AddColumnNotNull => "add-column-not-null",
            Self::UniqueOnExistingData => "unique-on-existing-data",
            Self::CreateIndexNotConcurrently => "create-index-not-concurrently",
            Self::DropIndexNotConcurrently => "drop-index-not-concurrently",
            Self::AddUniqueConstraint => "add-unique-constraint",
            Self::AddPrimaryKey => "add-primary-key",
            Self::ForeignKeyNotValid => "foreign-key-not-valid",
            Self::CheckNotValid => "check-not-valid",
            Self::SetNotNull => "set-not-null",
            Self::AlterColumnType => "alter-column-type",
            Self::VacuumFull => "vacuum-full",
            Self::LockTimeout => "lock-timeout",
            Self::NonTransactionalDdl => "non-transactional-ddl",
            Self::NonLinearHistory => "non-linear-history",
            Self::SilenceWithoutReason => "silence-without-reason",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Self::DropIndexNotConcurrently
            | Self::SetNotNull
            | Self::LockTimeout
            | Self::NonTransactionalDdl
            | Self::UniqueOnExistingData => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// Why it matters.
    pub fn why(self) -> &'static str {
        match self {
            Self::DropTable => "destructive: every row of the table is lost, and the release still running reads it",
            Self::DropColumn => "destructive: the column's data is lost, and the release still running reads it",
            Self::Narrowing => "destructive: values that do not fit the narrower type are lost or fail the migration",
            Self::RenameTable => "backward-incompatible: the release still running reads the table by its old name",
            Self::RenameColumn => "backward-incompatible: the release still running reads the column by its old name",
            Self::AddColumnNotNull => "data-dependent: with rows in the table and no default, the statement fails",
            Self::UniqueOnExistingData => "data-dependent: duplicates already in the table fail it (on PostgreSQL a failed CONCURRENTLY build leaves an INVALID index behind)",
            Self::CreateIndexNotConcurrently => "blocks every write to the table for the whole index build",
            Self::DropIndexNotConcurrently => "takes ACCESS EXCLUSIVE on the index's table: reads and writes wait",
            Self::AddUniqueConstraint => "builds its index under ACCESS EXCLUSIVE: the table is unusable for the whole build, and existing duplicates fail it",
            Self::AddPrimaryKey => "builds its index under ACCESS EXCLUSIVE (and scans for NULLs): the table is unusable for the whole build",
            Self::ForeignKeyNotValid => "checks every existing row while both tables are locked (SHARE ROW EXCLUSIVE)",
            Self::CheckNotValid => "checks every existing row under ACCESS EXCLUSIVE",
            Self::SetNotNull => "scans the whole table under ACCESS EXCLUSIVE, and fails on existing NULLs",
            Self::AlterColumnType => "most type changes rewrite the table and its indexes under ACCESS EXCLUSIVE",
            Self::VacuumFull => "rewrites the table under ACCESS EXCLUSIVE for as long as it takes",
            Self::LockTimeout => "without a lock_timeout, a statement queued behind a long query blocks all traffic on the table while it waits",
            Self::NonTransactionalDdl => "MySQL commits each DDL statement as it runs: if a later statement fails, the ones before it stay applied to existing tables and the migration cannot roll back",
            Self::NonLinearHistory => "the migration was written against a schema without the migrations now before it (merged from another branch): it may undo or break them",
            Self::SilenceWithoutReason => "a silenced rule must say why it does not apply",
        }
    }

    /// The safe way to write it.
    pub fn fix(self) -> &'static str {
        match self {
            Self::DropTable | Self::DropColumn => "stop reading it in one release, drop it in the next; or silence the rule with the reason the data can go",
            Self::Narrowing => "keep the wider type, or check the data first (SELECT the rows that do not fit) and silence the rule with the reason",
            Self::RenameTable | Self::RenameColumn => "add the new name beside the old (a view, or a column kept in step), move readers over in one release, drop the old name in the next",
            Self::AddColumnNotNull => "add it with a DEFAULT, or nullable, backfill, then SET NOT NULL in a later migration",
            Self::UniqueOnExistingData => "look for duplicates first (GROUP BY the columns HAVING count(*) > 1) and remove them; then silence the rule with the reason",
            Self::CreateIndexNotConcurrently => "CREATE INDEX CONCURRENTLY, in a migration of its own with run_in_transaction = false (metadata.toml)",
            Self::DropIndexNotConcurrently => "DROP INDEX CONCURRENTLY, in a migration of its own with run_in_transaction = false",
            Self::AddUniqueConstraint => "CREATE UNIQUE INDEX CONCURRENTLY (run_in_transaction = false), then ADD CONSTRAINT ... UNIQUE USING INDEX",
            Self::AddPrimaryKey => "CREATE UNIQUE INDEX CONCURRENTLY on NOT NULL columns (run_in_transaction = false), then ADD CONSTRAINT ... PRIMARY KEY USING INDEX",
            Self::ForeignKeyNotValid => "ADD CONSTRAINT ... NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later migration",
            Self::CheckNotValid => "ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT in a later migration",
            Self::SetNotNull => "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (which uses it) and drop the check",
            Self::AlterColumnType => "add a column of the new type, backfill it in batches, switch readers, then drop the old one",
            Self::VacuumFull => "plain VACUUM, or pg_repack outside the migration",
            Self::LockTimeout => "start the migration with SET lock_timeout = '5s' (SET LOCAL inside its transaction)",
            Self::NonTransactionalDdl => "keep a risky statement in a migration of its own; should one fail part-way, fix its cause and `db upgrade --resume` continues from the failed statement, or undo what took effect and `db repair` forgets the unfinished run",
            Self::NonLinearHistory => "`db rebase` re-creates the merged-in branch's migrations on top of the branch they were merged into",
            Self::SilenceWithoutReason => "write the reason after the rule: -- workhub-lint: allow RULE REASON",
        }
    }

    pub(crate) fn from_id(id: &str) -> Option<Rule> {
        Self::ALL.into_iter().find(|rule| rule.id() == id)
    }
}

/// One thing a migration's SQL does that a rule warns of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub folder: String,
    /// `up.sql`, `up.postgres.sql`, `up.mysql.sql`, or `lineage.toml` for the history's shape.
    pub file: &'static str,
    /// The line the statement starts on, from 1.
    pub line: usize,
    /// What the statement does, in its own names.
    pub message: String,
}

/// Every finding in `migration`'s up scripts, in file and line order.
pub fn lint(migration: &Migration) -> Vec<Finding> {
    let mut findings = Vec::new();
    if migration.has_postgres_override() {
        let postgres = migration.scripts(Dialect::Postgres).up();
        findings.extend(script(
            migration,
            "up.sql",
            migration.scripts(Dialect::Sqlite).up(),
            &[Dialect::Sqlite],
        ));
        findings.extend(script(
            migration,
            "up.postgres.sql",
            postgres,
            &[Dialect::Postgres],
        ));
    } else {
        let sql = migration.scripts(Dialect::Sqlite).up();
        findings.extend(script(
            migration,
            "up.sql",
            sql,
            &[Dialect::Postgres, Dialect::Sqlite],
        ));
    }
    if migration.has_mysql_scripts() {
        findings.extend(script(
            migration,
            MYSQL_FILE,
            migration.scripts(Dialect::Mysql).up(),
            &[Dialect::Mysql],
        ));
    }
    findings
}

/// The script MySQL runs, and the only one linted as MySQL.
pub(crate) const MYSQL_FILE: &str = "up.mysql.sql";

/// The words MySQL's `ALTER TABLE ... DROP` takes before something other than a column.
const MYSQL_DROP_OTHER: [&str; 8] = [
    "INDEX",
    "KEY",
    "FOREIGN",
    "PRIMARY",
    "CONSTRAINT",
    "CHECK",
    "PARTITION",
    "SYSTEM",
];

/// Statements that MySQL commits as they run (DDL), by their first word.
fn is_mysql_ddl(s: &Statement) -> bool {
    ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"]
        .iter()
        .any(|k| s.is(0, k))
}

/// One statement as the rules read it: its words (keywords upper-cased, identifiers as written,
/// quotes removed) and the line it starts on.
struct Statement {
    words: Vec<String>,
    line: usize,
}

impl Statement {
    fn is(&self, index: usize, keyword: &str) -> bool {
        self.words
            .get(index)
            .is_some_and(|word| word.eq_ignore_ascii_case(keyword))
    }

    fn has(&self, keyword: &str) -> bool {
        self.words
            .iter()
            .any(|word| word.eq_ignore_ascii_case(keyword))
    }

    /// The position of `keyword` after `from`.
    fn find(&self, keyword: &str, from: usize) -> Option<usize> {
        (from..self.words.len()).find(|&i| self.is(i, keyword))
    }

    /// The table an `ALTER TABLE [IF EXISTS] [ONLY] name` or `... ON name` names.
    fn table_after(&self, mut at: usize) -> Option<&str> {
        for skip in ["IF", "EXISTS", "ONLY"] {
            if self.is(at, skip) {
                at += 1;
            }
        }
        self.words.get(at).map(|name| unqualified(name))
    }
}

fn unqualified(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn script(
    migration: &Migration,
    file: &'static str,
    sql: &str,
    dialects: &[Dialect],
) -> Vec<Finding> {
    let postgres = dialects.contains(&Dialect::Postgres);
    let dialect = dialects[0];
    let mysql = dialect == Dialect::Mysql;
    let mut findings = Vec::new();
    let (allowed, mut unreasoned) = silences(sql, dialect);
    let statements: Vec<Statement> = statements::split(sql, dialect)
        .into_iter()
        .map(|text| Statement {
            words: statements::identifiers(text, dialect)
                .map(|w| w.into_owned())
                .collect(),
            line: line_of(sql, text),
        })
        .collect();
    // Tables (and materialized views) this migration creates, or builds under a new name and renames
    // into place as a SQLite rebuild does: new, so nobody else holds them yet.
    let mut created: BTreeSet<String> = BTreeSet::new();
    for s in &statements {
        if s.is(0, "CREATE") {
            // CREATE [OR REPLACE] [TEMP] [UNLOGGED | MATERIALIZED] TABLE | VIEW name
            let at = (1..=4).find(|&i| s.is(i, "TABLE") || s.is(i, "VIEW"));
            if let Some(name) = at.and_then(|i| s.table_after(i + 1)) {
                created.insert(name.to_ascii_lowercase());
            }
        }
        if s.is(0, "ALTER") && s.is(1, "TABLE") {
            if let Some(to) = s.find("RENAME", 2).filter(|&i| s.is(i + 1, "TO")) {
                if let Some(name) = s.words.get(to + 2) {
                    created.insert(unqualified(name).to_ascii_lowercase());
                }
            }
        }
    }
    let existing = |name: &str| !created.contains(&name.to_ascii_lowercase());
    let mut push = |rule: Rule, line: usize, message: String| {
        if !allowed.contains(&rule) {
            findings.push(Finding {
                rule,
                folder: migration.folder().to_string(),
                file,
                line,
                message,
            });
        }
    };
    let mut lock_timeout_set = false;
    let mut warned_lock_timeout = false;
    // MySQL: the DDL statements, and whether any changes a table that was there before.
    let mut ddl = Vec::new();
    let mut ddl_on_existing = false;
    for s in &statements {
        if mysql && is_mysql_ddl(s) {
            ddl.push(s.line);
            let index = s.find("INDEX", 1).filter(|&i| i <= 2);
            let on = if s.is(0, "CREATE") && index.is_none() {
                // A table or view of its own: new.
                None
            } else if let Some(at) = index.filter(|_| s.is(0, "CREATE") || s.is(0, "DROP")) {
                s.find("ON", at).and_then(|i| s.table_after(i + 1))
            } else if s.is(0, "TRUNCATE") && !s.is(1, "TABLE") {
                s.table_after(1)
            } else {
                s.table_after(2)
            };
            ddl_on_existing |= on.is_some_and(existing);
        }
        if s.is(0, "SET")
            && (s.is(1, "LOCK_TIMEOUT") || (s.is(1, "LOCAL") && s.is(2, "LOCK_TIMEOUT")))
        {
            lock_timeout_set = true;
        }
        let mut locks_existing = None;
        if mysql && s.is(0, "RENAME") && s.is(1, "TABLE") {
            // RENAME TABLE a TO b [, c TO d ...]
            let mut at = 2;
            while let (Some(from), true) = (s.words.get(at), s.is(at + 1, "TO")) {
                let to = s.words.get(at + 2).map_or("?", String::as_str);
                if existing(unqualified(from)) {
                    push(
                        Rule::RenameTable,
                        s.line,
                        format!("RENAME TABLE {} TO {to}", unqualified(from)),
                    );
                }
                at += 3;
            }
        }
        if s.is(0, "DROP") && s.is(1, "TABLE") {
            if let Some(table) = s.table_after(2) {
                if existing(table) {
                    push(Rule::DropTable, s.line, format!("DROP TABLE {table}"));
                    locks_existing = Some(table.to_string());
                }
            }
        }
        if s.is(0, "ALTER") && s.is(1, "TABLE") {
            let Some(table) = s.table_after(2).map(str::to_string) else {
                continue;
            };
            if !existing(&table) {
                continue;
            }
            locks_existing = Some(table.clone());
            if let Some(at) = s.find("RENAME", 3) {
                if s.is(at + 1, "TO") || (mysql && s.is(at + 1, "AS")) {
                    let to = s.words.get(at + 2).map_or("?", String::as_str);
                    push(
                        Rule::RenameTable,
                        s.line,
                        format!("ALTER TABLE {table} RENAME TO {to}"),
                    );
                } else if !s.is(at + 1, "CONSTRAINT") {
                    // RENAME [COLUMN] old TO new
                    let from = if s.is(at + 1, "COLUMN") {
                        at + 2
                    } else {
                        at + 1
                    };
                    if s.is(from + 1, "TO") {
                        push(
                            Rule::RenameColumn,
                            s.line,
                            format!(
                                "ALTER TABLE {table} RENAME COLUMN {} TO {}",
                                s.words[from],
                                s.words.get(from + 2).map_or("?", String::as_str)
                            ),
                        );
                    }
                }
            }
            if let Some(at) = s.find("DROP", 3).filter(|&i| s.is(i + 1, "COLUMN")) {
                let column = s.words.get(at + 2).map_or("?", String::as_str);
                push(
                    Rule::DropColumn,
                    s.line,
                    format!("ALTER TABLE {table} DROP COLUMN {column}"),
                );
            } else if let Some(at) = s.find("DROP", 3).filter(|&i| {
                // MySQL's `DROP name` drops a column too.
                mysql
                    && s.words.get(i + 1).is_some()
                    && !MYSQL_DROP_OTHER.iter().any(|k| s.is(i + 1, k))
            }) {
                let column = &s.words[at + 1];
                push(
                    Rule::DropColumn,
                    s.line,
                    format!("ALTER TABLE {table} DROP COLUMN {column}"),
                );
            }
            if let Some(at) = s.find("CHANGE", 3).filter(|_| mysql) {
                // CHANGE [COLUMN] old new definition: a rename when the names differ.
                let from = if s.is(at + 1, "COLUMN") {
                    at + 2
                } else {
                    at + 1
                };
                if let (Some(old), Some(new)) = (s.words.get(from), s.words.get(from + 1)) {
                    if !old.eq_ignore_ascii_case(new) {
                        push(
                            Rule::RenameColumn,
                            s.line,
                            format!("ALTER TABLE {table} CHANGE COLUMN {old} {new}"),
                        );
                    }
                }
            }
            if let Some(at) = s.find("ADD", 3) {
                let column_at = if s.is(at + 1, "COLUMN") {
                    at + 2
                } else {
                    at + 1
                };
                let adds_column = ![
                    "CONSTRAINT",
                    "UNIQUE",
                    "CHECK",
                    "FOREIGN",
                    "PRIMARY",
                    "EXCLUDE",
                ]
                .iter()
                .any(|k| s.is(column_at, k));
                if adds_column && s.has("NOT") && s.find("NULL", at).is_some() && !s.has("DEFAULT")
                {
                    let column = s.words.get(column_at).map_or("?", String::as_str);
                    push(
                        Rule::AddColumnNotNull,
                        s.line,
                        if mysql {
                            // MySQL does not fail: it gives the rows it has the type's implicit
                            // default, which no one chose.
                            format!(
                                "ALTER TABLE {table} ADD COLUMN {column} NOT NULL without a DEFAULT \
                                 (MySQL gives the rows already there the type's implicit value, 0 or '', \
                                 rather than failing)"
                            )
                        } else {
                            format!(
                                "ALTER TABLE {table} ADD COLUMN {column} NOT NULL without a DEFAULT"
                            )
                        },
                    );
                }
                // USING INDEX attaches an index already built, which met the data then.
                if !adds_column && s.find("UNIQUE", at).is_some() && !s.has("USING") {
                    push(
                        Rule::UniqueOnExistingData,
                        s.line,
                        format!("ALTER TABLE {table} ADD ... UNIQUE on a table that may hold duplicates"),
                    );
                }
                if postgres && !adds_column {
                    // Any NOT VALID after ADD: a check's own `IS NOT NULL` comes first.
                    let not_valid =
                        (at..s.words.len()).any(|i| s.is(i, "NOT") && s.is(i + 1, "VALID"));
                    if s.find("UNIQUE", at).is_some() && !s.has("USING") {
                        push(
                            Rule::AddUniqueConstraint,
                            s.line,
                            format!("ALTER TABLE {table} ADD ... UNIQUE"),
                        );
                    }
                    if s.find("PRIMARY", at).is_some_and(|i| s.is(i + 1, "KEY")) && !s.has("USING")
                    {
                        push(
                            Rule::AddPrimaryKey,
                            s.line,
                            format!("ALTER TABLE {table} ADD ... PRIMARY KEY"),
                        );
                    }
                    if s.find("FOREIGN", at).is_some() && !not_valid {
                        push(
                            Rule::ForeignKeyNotValid,
                            s.line,
                            format!("ALTER TABLE {table} ADD ... FOREIGN KEY without NOT VALID"),
                        );
                    }
                    if s.find("CHECK", at).is_some() && !not_valid {
                        push(
                            Rule::CheckNotValid,
                            s.line,
                            format!("ALTER TABLE {table} ADD ... CHECK without NOT VALID"),
                        );
                    }
                }
            }
            if postgres {
                if s.find("SET", 3)
                    .is_some_and(|i| s.is(i + 1, "NOT") && s.is(i + 2, "NULL"))
                {
                    push(
                        Rule::SetNotNull,
                        s.line,
                        format!("ALTER TABLE {table} ... SET NOT NULL"),
                    );
                }
                if s.find("ALTER", 3).is_some() && s.find("TYPE", 3).is_some() {
                    push(
                        Rule::AlterColumnType,
                        s.line,
                        format!("ALTER TABLE {table} ... TYPE"),
                    );
                }
            }
        }
        if s.is(0, "CREATE") && s.is(1, "UNIQUE") && s.is(2, "INDEX") {
            if let Some(table) = s.find("ON", 2).and_then(|i| s.table_after(i + 1)) {
                if existing(table) {
                    push(
                        Rule::UniqueOnExistingData,
                        s.line,
                        format!("CREATE UNIQUE INDEX on {table}, which may hold duplicates"),
                    );
                }
            }
        }
        if postgres && s.is(0, "CREATE") {
            let index_at = if s.is(1, "UNIQUE") { 2 } else { 1 };
            if s.is(index_at, "INDEX") && !s.is(index_at + 1, "CONCURRENTLY") {
                if let Some(table) = s.find("ON", index_at).and_then(|i| s.table_after(i + 1)) {
                    if existing(table) {
                        push(
                            Rule::CreateIndexNotConcurrently,
                            s.line,
                            format!("CREATE INDEX on {table} without CONCURRENTLY"),
                        );
                        locks_existing = Some(table.to_string());
                    }
                }
            }
        }
        if postgres && s.is(0, "DROP") && s.is(1, "INDEX") && !s.is(2, "CONCURRENTLY") {
            let index = s.table_after(2).unwrap_or("?").to_string();
            push(
                Rule::DropIndexNotConcurrently,
                s.line,
                format!("DROP INDEX {index} without CONCURRENTLY"),
            );
            locks_existing = Some(index);
        }
        if postgres && s.is(0, "VACUUM") && s.is(1, "FULL") {
            push(Rule::VacuumFull, s.line, "VACUUM FULL".into());
        }
        if let Some(table) = locks_existing {
            if postgres && !lock_timeout_set && !warned_lock_timeout {
                warned_lock_timeout = true;
                push(
                    Rule::LockTimeout,
                    s.line,
                    format!("locks {table} with no lock_timeout set before it"),
                );
            }
        }
    }
    // Tables a migration only creates are nobody's yet: a run stopped among them harms nothing
    // running (and `--resume` finishes it).
    if mysql && statements.len() > 1 && ddl_on_existing {
        push(
            Rule::NonTransactionalDdl,
            ddl[0],
            format!(
                "{} statements, {} of them DDL, which MySQL commits as each runs: should statement k \
                 fail, statements 1 to k-1 stay applied to tables the running release uses",
                statements.len(),
                ddl.len()
            ),
        );
    }
    for line in unreasoned.drain(..) {
        findings.push(Finding {
            rule: Rule::SilenceWithoutReason,
            folder: migration.folder().to_string(),
            file,
            line,
            message: "a workhub-lint comment allows a rule without saying why".into(),
        });
    }
    findings.sort_by_key(|f| f.line);
    findings
}

/// The columns `migration`'s MySQL script narrows (`MODIFY [COLUMN] c TYPE`, `CHANGE [COLUMN] old
/// new TYPE`), against `before`, the schema the migrations before it build: MySQL restates a column
/// whole, so only the type the history gave it says whether the new one is narrower.
#[cfg(feature = "runtime")]
pub(crate) fn mysql_narrowing(
    migration: &Migration,
    before: &workhub_schema::Schema,
) -> Vec<Finding> {
    let sql = migration.scripts(Dialect::Mysql).up();
    let (allowed, _) = silences(sql, Dialect::Mysql);
    if allowed.contains(&Rule::Narrowing) {
        return Vec::new();
    }
    let mut findings = Vec::new();
    for text in statements::split(sql, Dialect::Mysql) {
        let s = Statement {
            words: statements::identifiers(text, Dialect::Mysql)
                .map(|w| w.into_owned())
                .collect(),
            line: line_of(sql, text),
        };
        if !(s.is(0, "ALTER") && s.is(1, "TABLE")) {
            continue;
        }
        let Some(table) = s.table_after(2).and_then(|t| before.table(t)) else {
            continue;
        };
        let mut at = 3;
        while let Some(clause) =
            (at..s.words.len()).find(|&i| s.is(i, "MODIFY") || s.is(i, "CHANGE"))
        {
            let mut name_at = if s.is(clause + 1, "COLUMN") {
                clause + 2
            } else {
                clause + 1
            };
            let old = s.words.get(name_at).cloned().unwrap_or_default();
            if s.is(clause, "CHANGE") {
                name_at += 1;
            }
            at = name_at + 1;
            let (Some(column), Some(ty)) = (table.column(&old), mysql_type(&s.words, name_at + 1))
            else {
                continue;
            };
            if column.ty.narrows_to(&ty) {
                findings.push(Finding {
                    rule: Rule::Narrowing,
                    folder: migration.folder().to_string(),
                    file: MYSQL_FILE,
                    line: s.line,
                    message: format!(
                        "ALTER TABLE {} {} COLUMN {old} narrows it from {} to {ty}",
                        table.name,
                        s.words[clause].to_ascii_uppercase(),
                        column.ty
                    ),
                });
            }
        }
    }
    findings
}

/// The column type MySQL's words from `at` declare (`VARCHAR 150` is `VARCHAR(150)`), in the
/// model's terms.
#[cfg(feature = "runtime")]
fn mysql_type(words: &[String], at: usize) -> Option<workhub_schema::ColumnType> {
    use workhub_schema::ColumnType;
    let base = words.get(at)?.to_ascii_uppercase();
    let length = words
        .get(at + 1)
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()));
    Some(match (base.as_str(), length) {
        ("DATETIME", _) => ColumnType::Timestamp,
        ("FLOAT", _) => ColumnType::Float,
        ("BLOB" | "LONGBLOB" | "MEDIUMBLOB", _) => ColumnType::Binary,
        ("TINYINT", Some(n)) if n == "1" => ColumnType::Bool,
        ("LONGTEXT" | "MEDIUMTEXT", _) => ColumnType::Text,
        (_, Some(n)) => workhub_schema::reported::parse_type(&format!("{base}({n})")),
        (_, None) => workhub_schema::reported::parse_type(&base),
    })
}

/// The rules `sql`'s `-- workhub-lint: allow RULE REASON` comments silence, and the lines of those
/// that give no reason or name no rule (which silence nothing).
fn silences(sql: &str, dialect: Dialect) -> (BTreeSet<Rule>, Vec<usize>) {
    let mut allowed = BTreeSet::new();
    let mut unreasoned = Vec::new();
    for token in statements::tokens(sql, dialect) {
        if token.kind != statements::TokenKind::Comment {
            continue;
        }
        let text = token
            .text
            .trim_start_matches("--")
            .trim_start_matches('#')
            .trim_start_matches("/*")
            .trim_end_matches("*/")
            .trim();
        let Some(rest) = text.strip_prefix("workhub-lint:") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let rule = match (words.next(), words.next()) {
            (Some("allow"), Some(id)) => Rule::from_id(id),
            _ => None,
        };
        let reason = words.next().is_some();
        match rule {
            Some(rule) if reason => {
                allowed.insert(rule);
            }
            _ => unreasoned.push(line_at(sql, token.start)),
        }
    }
    (allowed, unreasoned)
}

/// The line `part` (a slice of `sql`) starts on.
fn line_of(sql: &str, part: &str) -> usize {
    let offset = (part.as_ptr() as usize).saturating_sub(sql.as_ptr() as usize);
    line_at(sql, offset.min(sql.len()))
}

fn line_at(sql: &str, offset: usize) -> usize {
    sql[..offset].matches('\n').count() + 1
}
