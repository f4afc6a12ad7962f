//! A history linted as a whole: each migration's statements ([`super::lint`]), whether its lineage
//! follows the migration before it, what a SQLite table rebuild loses, and which columns a MySQL
//! `MODIFY` narrows. A rebuild creates a new
//! table and drops the old one, so its statements never say which columns went or narrowed: the
//! SQLite scripts are replayed into an in-memory database and each rebuilt table compared before
//! and after the migration.

use workhub_schema::Change;

use super::{silences, Finding, Rule};
use crate::apply::{Silent, Sqlite};
use crate::plan::Target;
use crate::source::{lineage, statements};
use crate::{scratch, Dialect, MigrateError, Migration, Migrator};

/// What [`history()`] found, and what it could not compare (as lines for the user).
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

/// The findings of `migrations[i]` for each `i` in `chosen` (ascending), read in the context of the
/// whole history `migrations`.
pub fn history(migrations: &[Migration], chosen: &[usize]) -> Report {
    let mut report = Report::default();
    let mut per_migration: Vec<Vec<Finding>> = chosen
        .iter()
        .map(|&i| {
            let migration = &migrations[i];
            let mut found = super::lint(migration);
            if let Some(divergence) = lineage::divergence_at(migrations, i) {
                found.push(Finding {
                    rule: Rule::NonLinearHistory,
                    folder: migration.folder().to_string(),
                    file: "lineage.toml",
                    line: 1,
                    message: divergence.to_string(),
                });
            }
            found
        })
        .collect();
    // Only a script that drops something can lose a column or narrow one on SQLite.
    let rebuilds: Vec<usize> = (0..chosen.len())
        .filter(|&k| drops(migrations[chosen[k]].scripts(Dialect::Sqlite).up()))
        .collect();
    if !rebuilds.is_empty() {
        let at: Vec<usize> = rebuilds.iter().map(|&k| chosen[k]).collect();
        match lost_in_rebuilds(migrations, &at) {
            Ok(lost) => {
                for (k, changes) in rebuilds.into_iter().zip(lost) {
                    let migration = &migrations[chosen[k]];
                    let found = &mut per_migration[k];
                    let extra = rebuild_findings(migration, &changes, found);
                    found.extend(extra);
                }
            }
            Err(err) => report.notes.push(format!(
                "note: the SQLite scripts did not replay ({err}), so what a table rebuild drops or \
                 narrows was not compared; the statements themselves were linted"
            )),
        }
    }
    // MySQL restates a column whole: whether it narrows is read against what the history built.
    for (k, &i) in chosen.iter().enumerate() {
        let migration = &migrations[i];
        if !migration.has_mysql_scripts() || !restates_columns(migration) {
            continue;
        }
        match scratch::built_by(&migrations[..i], &Target::Head) {
            Ok(before) => per_migration[k].extend(super::mysql_narrowing(migration, &before)),
            Err(err) => report.notes.push(format!(
                "note: the migrations before {} did not replay on SQLite ({err}), so whether its \
                 up.mysql.sql narrows a column was not compared; its statements were linted",
                migration.folder()
            )),
        }
    }
    for mut found in per_migration {
        found.sort_by(|a, b| (a.file, a.line).cmp(&(b.file, b.line)));
        report.findings.extend(found);
    }
    report
}

/// Whether the MySQL script restates a column (`MODIFY`, `CHANGE`).
fn restates_columns(migration: &Migration) -> bool {
    statements::identifiers(migration.scripts(Dialect::Mysql).up(), Dialect::Mysql)
        .any(|w| w.eq_ignore_ascii_case("MODIFY") || w.eq_ignore_ascii_case("CHANGE"))
}

fn drops(sql: &str) -> bool {
    statements::split(sql, Dialect::Sqlite)
        .into_iter()
        .any(|s| {
            statements::identifiers(s, Dialect::Sqlite).any(|w| w.eq_ignore_ascii_case("DROP"))
        })
}

/// For each migration `at[k]` (ascending), the destructive changes its SQLite script makes to the
/// schema, from one replay of the history.
fn lost_in_rebuilds(
    migrations: &[Migration],
    at: &[usize],
) -> Result<Vec<Vec<Change>>, MigrateError> {
    let mut scratch = Sqlite::open(std::path::Path::new(":memory:"))?;
    let mut migrator = Migrator::new(migrations);
    migrator.allow_out_of_order = true;
    migrator.allow_diverged = true;
    let mut applied = 0;
    let mut lost = Vec::with_capacity(at.len());
    for &index in at {
        if index > applied {
            migrator.upgrade(&mut scratch, &Target::Forward(index - applied), &mut Silent)?;
        }
        let before = scratch::read(&mut scratch)?;
        migrator.upgrade(&mut scratch, &Target::Forward(1), &mut Silent)?;
        applied = index + 1;
        let after = scratch::read(&mut scratch)?;
        lost.push(
            scratch::differences(&before, &after, Dialect::Sqlite)
                .into_iter()
                .filter(Change::is_destructive)
                .collect(),
        );
    }
    Ok(lost)
}

/// The findings for `changes` that the statements' own findings (`found`) do not already report.
fn rebuild_findings(migration: &Migration, changes: &[Change], found: &[Finding]) -> Vec<Finding> {
    let sql = migration.scripts(Dialect::Sqlite).up();
    let (allowed, _) = silences(sql, Dialect::Sqlite);
    let reported = |rule: Rule, message: &str| {
        found.iter().any(|f| {
            f.rule == rule && f.file == "up.sql" && f.message.eq_ignore_ascii_case(message)
        })
    };
    let mut extra = Vec::new();
    for change in changes {
        let (rule, table, message) = match change {
            Change::DropTable(table) => {
                let statement = format!("DROP TABLE {}", table.name);
                if reported(Rule::DropTable, &statement) {
                    continue;
                }
                (Rule::DropTable, table.name.as_str(), statement)
            }
            Change::DropColumn { table, column } => {
                let statement = format!("ALTER TABLE {table} DROP COLUMN {}", column.name);
                if reported(Rule::DropColumn, &statement) {
                    continue;
                }
                (
                    Rule::DropColumn,
                    table.as_str(),
                    format!("rebuilds {table} without its column {}", column.name),
                )
            }
            Change::AlterColumn { table, from, to } => (
                Rule::Narrowing,
                table.as_str(),
                format!(
                    "rebuilds {table} with its column {} narrowed from {} to {}",
                    to.name, from.ty, to.ty
                ),
            ),
            _ => continue,
        };
        if allowed.contains(&rule) {
            continue;
        }
        extra.push(Finding {
            rule,
            folder: migration.folder().to_string(),
            file: "up.sql",
            line: line_naming(sql, table),
            message,
        });
    }
    extra
}

/// The line of the statement that drops `table` (a rebuild's old table), else of the first that
/// names it.
fn line_naming(sql: &str, table: &str) -> usize {
    let parts = statements::split(sql, Dialect::Sqlite);
    let words = |s: &str| -> Vec<String> {
        statements::identifiers(s, Dialect::Sqlite)
            .map(|w| w.into_owned())
            .collect()
    };
    let names = |w: &[String]| {
        w.iter()
            .any(|x| super::unqualified(x).eq_ignore_ascii_case(table))
    };
    let dropping = parts.iter().find(|s| {
        let w = words(s);
        w.len() >= 3
            && w[0].eq_ignore_ascii_case("DROP")
            && w[1].eq_ignore_ascii_case("TABLE")
            && names(&w[2..])
    });
    dropping
        .or_else(|| parts.iter().find(|s| names(&words(s))))
        .map_or(1, |s| super::line_of(sql, s))
}
