//! What `db create` writes: a migration in PostgreSQL's online form, with, when part of the change
//! cannot run in a transaction without blocking a busy table, a companion migration run outside one
//! (see [`workhub_schema::render::online`]). Each hazard the SQL keeps because it has no online form
//! (a drop, a type change that rewrites the table) is acknowledged in the script with a
//! `workhub-lint: allow` comment saying why, and listed for `db create` to print.
//!
//! MySQL has no online form to write: InnoDB builds and drops secondary indexes in place while
//! writes go on, and no DDL runs in a transaction there. Its scripts follow SQLite's split: the
//! main migration makes everything but the index changes of existing tables, the companion makes
//! those (or, when it has none, says that the step is PostgreSQL's alone and runs `SELECT 1`).

use std::collections::BTreeMap;

use workhub_schema::render::online::{self, Online};
use workhub_schema::render::{self, Generator, Style};
use workhub_schema::{diff, Change, ColumnType, Schema};

use crate::draft::{digest, files_digest, Draft};
use crate::lint::{self, Rule};
use crate::plan::Target;
use crate::source::lineage::LINEAGE_FILE;
use crate::source::{self, Lineage};
use crate::{scratch, Dialect, MigrateError, Migration};

/// The folder names `db create` gives the migration and its companion.
#[derive(Debug, Clone, Copy)]
pub struct Folders<'a> {
    pub main: &'a str,
    pub companion: &'a str,
}

/// The file of a companion that marks it to run outside a transaction.
pub const METADATA: &str = "# PostgreSQL builds indexes CONCURRENTLY and validates constraints only outside a transaction.\n\
                            run_in_transaction = false\n";

/// The migrations that turn `current` (what `existing` build, the newest of them `parent`) into
/// `target`: none when they agree; else the migration, then its companion when PostgreSQL has work
/// that must run outside a transaction (just the companion when that is all there is).
pub fn drafts(
    folders: Folders,
    parent: Option<&str>,
    existing: &[Migration],
    current: &Schema,
    target: &Schema,
    generator: &Generator,
    online: &Online,
) -> Result<Vec<Draft>, MigrateError> {
    let sqlite = Sides::new(current, target, Dialect::Sqlite);
    let postgres = Sides::new(current, target, Dialect::Postgres);
    let mysql = Sides::new(current, target, Dialect::Mysql);
    if diff(&sqlite.current, &sqlite.target).is_empty() {
        return Ok(Vec::new());
    }
    let timeout = Some(online.lock_timeout());
    let validate = online::to_validate(&diff(&postgres.current, &postgres.main));
    let companion_needed =
        !diff(&postgres.main, &postgres.target).is_empty() || !validate.is_empty();
    let main_changes = diff(&sqlite.current, &sqlite.main);
    let mut drafts = Vec::new();
    if !main_changes.is_empty()
        || !diff(&postgres.current, &postgres.main).is_empty()
        || !diff(&mysql.current, &mysql.main).is_empty()
    {
        let in_transaction = Style {
            lock_timeout: timeout,
            not_valid: companion_needed,
            ..Style::default()
        };
        // A revert restores validated constraints: it is not followed by a validation.
        let revert = Style {
            lock_timeout: timeout,
            ..Style::default()
        };
        let files = vec![
            (
                "up.sql",
                sqlite.up(folders.main, &sqlite.current, &sqlite.main, generator),
            ),
            (
                "down.sql",
                sqlite.down(folders.main, &sqlite.current, &sqlite.main, generator),
            ),
            (
                "up.postgres.sql",
                postgres.postgres(
                    folders.main,
                    &postgres.current,
                    &postgres.main,
                    &in_transaction,
                    generator,
                    "up",
                ),
            ),
            (
                "down.postgres.sql",
                postgres.postgres(
                    folders.main,
                    &postgres.main,
                    &postgres.current,
                    &revert,
                    generator,
                    "down",
                ),
            ),
            (
                "up.mysql.sql",
                mysql.mysql(folders.main, &mysql.current, &mysql.main, generator, "up"),
            ),
            (
                "down.mysql.sql",
                mysql.mysql(folders.main, &mysql.main, &mysql.current, generator, "down"),
            ),
        ];
        let notes = vec![format!(
            "up.postgres.sql sets lock_timeout = '{}' first{}",
            online.lock_timeout(),
            if !validate.is_empty() {
                "; foreign keys and checks on existing tables are added NOT VALID, for the companion to validate"
            } else {
                ""
            }
        )];
        drafts.push(finish(
            folders.main,
            parent,
            existing,
            current,
            main_changes,
            files,
            true,
            notes,
        )?);
    }
    if companion_needed {
        let after_main = match drafts.first() {
            Some(main) => {
                let mut history = existing.to_vec();
                history.push(main.migration()?);
                scratch::built_by(&history, &Target::Head)?
            }
            None => current.clone(),
        };
        let outside = Style {
            lock_timeout: timeout,
            outside_transaction: true,
            validate: &validate,
            ..Style::default()
        };
        let revert = Style {
            lock_timeout: timeout,
            outside_transaction: true,
            ..Style::default()
        };
        let title = match drafts.first() {
            Some(main) => format!(
                "{} (runs outside a transaction; completes {})",
                folders.companion, main.folder
            ),
            None => format!("{} (runs outside a transaction)", folders.companion),
        };
        let files = vec![
            (
                "up.sql",
                sqlite.up(&title, &sqlite.main, &sqlite.target, generator),
            ),
            (
                "down.sql",
                sqlite.down(&title, &sqlite.main, &sqlite.target, generator),
            ),
            (
                "up.postgres.sql",
                postgres.postgres(
                    &title,
                    &postgres.main,
                    &postgres.target,
                    &outside,
                    generator,
                    "up",
                ),
            ),
            (
                "down.postgres.sql",
                postgres.postgres(
                    &title,
                    &postgres.target,
                    &postgres.main,
                    &revert,
                    generator,
                    "down",
                ),
            ),
            (
                "up.mysql.sql",
                mysql.mysql(&title, &mysql.main, &mysql.target, generator, "up"),
            ),
            (
                "down.mysql.sql",
                mysql.mysql(&title, &mysql.target, &mysql.main, generator, "down"),
            ),
            ("metadata.toml", METADATA.to_string()),
        ];
        let changes = diff(&sqlite.main, &sqlite.target);
        let mut notes = companion_notes(&diff(&postgres.main, &postgres.target), &validate);
        notes.push(if diff(&mysql.main, &mysql.target).is_empty() {
            "up.mysql.sql changes nothing (SELECT 1): the step is PostgreSQL's alone, and MySQL \
             records the companion as run like any migration"
                .to_string()
        } else {
            "up.mysql.sql makes the index changes in place: InnoDB builds and drops secondary \
             indexes while writes go on"
                .to_string()
        });
        let parent = drafts.first().map_or(parent, |d| Some(d.folder.as_str()));
        let mut before = existing.to_vec();
        if let Some(main) = drafts.first() {
            before.push(main.migration()?);
        }
        let draft = finish(
            folders.companion,
            parent,
            &before,
            &after_main,
            changes,
            files,
            false,
            notes,
        )?;
        drafts.push(draft);
    }
    Ok(drafts)
}

/// One dialect's view of a change: the schemas before, after the main migration, and after all.
struct Sides {
    dialect: Dialect,
    current: Schema,
    main: Schema,
    target: Schema,
}

impl Sides {
    fn new(current: &Schema, target: &Schema, dialect: Dialect) -> Self {
        let current = render::for_dialect(current, dialect);
        let target = render::for_dialect(target, dialect);
        let main = online::main_target(&current, &target, dialect);
        Self {
            dialect,
            current,
            main,
            target,
        }
    }

    /// SQLite's up script from `from` to `to`.
    fn up(&self, title: &str, from: &Schema, to: &Schema, generator: &Generator) -> String {
        self.sqlite(title, from, to, generator, "up.postgres.sql")
    }

    /// SQLite's down script reverting [`up`](Self::up).
    fn down(&self, title: &str, from: &Schema, to: &Schema, generator: &Generator) -> String {
        self.sqlite(
            &format!("{title} (down: reverts up.sql)"),
            to,
            from,
            generator,
            "down.postgres.sql",
        )
    }

    fn sqlite(
        &self,
        title: &str,
        from: &Schema,
        to: &Schema,
        generator: &Generator,
        counterpart: &str,
    ) -> String {
        debug_assert_eq!(self.dialect, Dialect::Sqlite);
        let changes = diff(from, to);
        let body = if changes.is_empty() {
            "-- Nothing changes on SQLite here: this step is PostgreSQL's alone (see its .postgres.sql files).\n\
             SELECT 1;\n"
                .to_string()
        } else {
            render::sqlite(from, to, &changes, generator)
        };
        render::header(title, &changes, generator)
            + &render::postgres_refusal(counterpart, generator)
            + &body
    }

    fn postgres(
        &self,
        title: &str,
        from: &Schema,
        to: &Schema,
        style: &Style,
        generator: &Generator,
        direction: &str,
    ) -> String {
        debug_assert_eq!(self.dialect, Dialect::Postgres);
        let changes = diff(from, to);
        let title = match direction {
            "down" => format!("{title} (down: reverts up.postgres.sql)"),
            _ => title.to_string(),
        };
        if changes.is_empty() && style.validate.is_empty() {
            return render::header(&title, &changes, generator)
                + "-- Nothing changes on PostgreSQL here: it stores the models this way already.\n\
                   -- (A script of comments alone is an empty query to the server: this one does nothing.)\n\
                   SELECT 1;\n";
        }
        render::header(&title, &changes, generator) + &render::postgres(from, to, &changes, style)
    }
}

impl Sides {
    /// MySQL's script from `from` to `to` (`direction` `down` reverts the `up` one).
    fn mysql(
        &self,
        title: &str,
        from: &Schema,
        to: &Schema,
        generator: &Generator,
        direction: &str,
    ) -> String {
        debug_assert_eq!(self.dialect, Dialect::Mysql);
        let changes = diff(from, to);
        let title = match direction {
            "down" => format!("{title} (down: reverts up.mysql.sql)"),
            _ => title.to_string(),
        };
        let body = if changes.is_empty() {
            "-- Nothing changes on MySQL in this step: the scripts beside it do its work on the other databases.\n\
             SELECT 1;\n"
                .to_string()
        } else {
            render::mysql(from, to, &changes)
        };
        render::header_mysql(&title, &changes, generator) + &body
    }
}

/// The draft of `folder` from its files: each hazard its scripts keep acknowledged, then its lineage.
#[allow(clippy::too_many_arguments)]
fn finish(
    folder: &str,
    parent: Option<&str>,
    before: &[Migration],
    assumed: &Schema,
    changes: Vec<Change>,
    mut files: Vec<(&'static str, String)>,
    in_transaction: bool,
    mut notes: Vec<String>,
) -> Result<Draft, MigrateError> {
    notes.extend(acknowledge(
        folder,
        before,
        &mut files,
        &changes,
        in_transaction,
    )?);
    let mut tables: Vec<String> = changes.iter().map(|c| c.table().to_string()).collect();
    tables.sort();
    tables.dedup();
    let lineage = Lineage::new(parent.map(str::to_string), digest(assumed), false, tables)
        .with_sql(files_digest(&files));
    files.push((LINEAGE_FILE, lineage.to_toml()));
    Ok(Draft {
        folder: folder.to_string(),
        changes,
        lineage,
        files,
        notes,
    })
}

/// What a companion does on PostgreSQL, one line each, its constraints and indexes by name.
fn companion_notes(changes: &[Change], validate: &[(String, String)]) -> Vec<String> {
    let mut notes = vec!["runs outside a transaction (metadata.toml), each statement committing on its own; up.postgres.sql sets lock_timeout first and resets it at the end".to_string()];
    notes.extend(validate.iter().map(|(table, name)| {
        format!("validates constraint {name} on {table} (added NOT VALID before it): writes go on")
    }));
    for change in changes {
        notes.push(match change {
            Change::AddIndex { table, index } => {
                format!("builds index {} on {table} CONCURRENTLY", index.name)
            }
            Change::DropIndex { table, index } => {
                format!("drops index {} on {table} CONCURRENTLY", index.name)
            }
            Change::AddUnique { table, unique } => format!(
                "builds unique constraint {} on {table} as a unique index CONCURRENTLY, then attaches \
                 it (ADD CONSTRAINT ... UNIQUE USING INDEX); existing duplicates make the build fail",
                unique.name
            ),
            Change::AlterColumn { table, from, to } if from.nullable && !to.nullable => format!(
                "sets {table}.{} NOT NULL through check constraint {} (added NOT VALID, validated, \
                 dropped again){}",
                to.name,
                online::not_null_check(table, &to.name),
                if to.default.is_some() {
                    ", after a backfill in batches"
                } else {
                    ""
                }
            ),
            other => other.what(),
        });
    }
    notes
}

/// The rules a generated script may break knowingly, because the change has no online form or the
/// form it is written in makes the step safe: each is silenced where `db lint` finds it, with why.
fn reason(rule: Rule, file: &str, changes: &[Change]) -> Option<String> {
    let postgres = file.ends_with(".postgres.sql");
    Some(match rule {
        Rule::DropTable => "the models no longer declare the table; db create reported this drop as destructive (its rows are lost)".into(),
        Rule::DropColumn => "the models no longer declare the column; db create reported this drop as destructive (its data is lost)".into(),
        Rule::Narrowing => "the models narrow the column; db create reported this as destructive (values that do not fit are lost or fail the migration)".into(),
        Rule::NonTransactionalDdl => "db create writes the change as the statements it takes; MySQL commits each as it runs, so should one fail, the run record says which took effect: fix the cause and `db upgrade --resume` continues from the failed one (or undo them and `db repair`)".into(),
        Rule::UniqueOnExistingData => "the models declare it unique; db create reported that duplicates already in the table fail it: find them first with GROUP BY the columns HAVING count(*) > 1".into(),
        Rule::AddPrimaryKey if postgres => "the models change the primary key, which db create writes in place: it reported that PostgreSQL builds the new key's index under ACCESS EXCLUSIVE".into(),
        Rule::SetNotNull if postgres => "it follows a validated CHECK (column IS NOT NULL), from which PostgreSQL 12+ sets NOT NULL without scanning the table".into(),
        Rule::AlterColumnType if postgres => {
            let rewrites: Vec<String> = changes
                .iter()
                .filter_map(|change| match change {
                    Change::AlterColumn { table, from, to }
                        if from.ty != to.ty && !catalog_only(&from.ty, &to.ty) =>
                    {
                        Some(format!("{table}.{} {} -> {}", to.name, from.ty, to.ty))
                    }
                    _ => None,
                })
                .collect();
            if rewrites.is_empty() {
                "widening a VARCHAR (or making it TEXT) changes only the catalog on PostgreSQL: no rewrite, no scan".into()
            } else {
                format!(
                    "the models change {}, which has no online form; db create reported that PostgreSQL rewrites the table under ACCESS EXCLUSIVE",
                    rewrites.join(", ")
                )
            }
        }
        _ => return None,
    })
}

/// Whether PostgreSQL changes `from` to `to` in its catalog alone, without touching a row.
fn catalog_only(from: &ColumnType, to: &ColumnType) -> bool {
    match (from, to) {
        (ColumnType::Varchar(a), ColumnType::Varchar(b)) => b >= a,
        (ColumnType::Varchar(_), ColumnType::Text) => true,
        _ => false,
    }
}

/// Silences, in `files`, each finding of `db lint` (read after the migrations `before`) that
/// [`reason`] accounts for, and returns what was acknowledged, one line each, for `db create` to
/// print.
fn acknowledge(
    folder: &str,
    before: &[Migration],
    files: &mut [(&'static str, String)],
    changes: &[Change],
    in_transaction: bool,
) -> Result<Vec<String>, MigrateError> {
    // Linted as `db lint` reads it: after the migrations before it (a SQLite rebuild's losses are
    // found by replaying them).
    let mut history = before.to_vec();
    history.push(migration_of(folder, files, in_transaction)?);
    let findings = lint::history(&history, &[history.len() - 1]).findings;
    let mut by_file: BTreeMap<&str, Vec<(Rule, String)>> = BTreeMap::new();
    let mut printed = Vec::new();
    for finding in &findings {
        let Some(why) = reason(finding.rule, finding.file, changes) else {
            continue;
        };
        printed.push(format!(
            "{}: {} ({}): {why}",
            finding.file,
            finding.message,
            finding.rule.id()
        ));
        let silences = by_file.entry(finding.file).or_default();
        if !silences.iter().any(|(rule, _)| *rule == finding.rule) {
            silences.push((finding.rule, why));
        }
    }
    for (name, text) in files.iter_mut() {
        let Some(silences) = by_file.get(name) else {
            continue;
        };
        let lines: String = silences
            .iter()
            .map(|(rule, why)| format!("-- workhub-lint: allow {} {why}\n", rule.id()))
            .collect();
        // Below the header, which ends at its first blank line.
        let at = text.find("\n\n").map_or(0, |i| i + 2);
        text.insert_str(at, &lines);
    }
    Ok(printed)
}

/// The migration `files` make, as the source reads a folder.
fn migration_of(
    folder: &str,
    files: &[(&'static str, String)],
    in_transaction: bool,
) -> Result<Migration, MigrateError> {
    let mut bytes: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|(name, text)| (name.to_string(), text.clone().into_bytes()))
        .collect();
    if !in_transaction {
        bytes.insert("metadata.toml".into(), METADATA.as_bytes().to_vec());
    }
    Ok(source::migration_from_files(folder, bytes)?.0)
}
