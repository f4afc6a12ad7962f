//! Re-creating a branch's migrations on top of the history they were merged into. The migration
//! merged into and what it was written after are kept; every other migration is re-created, in
//! order and in a new folder that sorts after them, on the schema the kept ones build: a generated migration is generated again (its own
//! changes, read by replaying the history it was written against, laid on the new schema by a
//! three-way [`merge`]); a hand-written one keeps its SQL and gets a fresh lineage. The result is
//! replayed and compared with the models before anything is written, and nothing is ever decided by
//! guessing: what cannot be decided is a [`RebaseError`].

use std::collections::BTreeMap;
use std::fmt;

use workhub_schema::merge::merge;
use workhub_schema::render::{self, Generator};
use workhub_schema::{diff, Change, Schema};

use crate::draft::{self, Draft};
use crate::plan::Target;
use crate::scratch;
use crate::source::lineage::{self, LINEAGE_FILE};
use crate::source::{self, Lineage};
use crate::{Dialect, MigrateError, Migration};

/// One migration as the rebase re-creates it, in a new folder (`draft.folder`) that sorts after
/// every kept migration.
#[derive(Debug, Clone)]
pub struct Rebased {
    /// The folder it was in before.
    pub from: String,
    pub draft: Draft,
    /// Kept its SQL as written; the user must re-check it against the migrations it now follows.
    pub hand_written: bool,
    /// Generated, but its SQL was edited by hand since (a RENAME for a DROP + ADD, a backfill), so it
    /// was kept as hand-written SQL rather than generated again, which would undo the edit.
    pub edited: bool,
    /// Whether its SQL changed, beyond its new folder.
    pub sql_changed: bool,
}

/// What a rebase would write.
#[derive(Debug, Clone)]
pub struct Rebase {
    /// The migrations it found written without knowledge of the others, and what those were.
    pub divergences: Vec<lineage::Divergence>,
    /// The migration the first re-created one now follows (`None`: base).
    pub onto: Option<String>,
    pub migrations: Vec<Rebased>,
    /// Model changes that neither branch captures, still to be captured by `db create`.
    pub uncaptured: Vec<Change>,
}

/// Why a rebase refused; nothing was written.
#[derive(Debug)]
#[non_exhaustive]
pub enum RebaseError {
    /// A migration names a parent that is not among the migrations before it. With `expected`, the
    /// schema it records is not what the migrations before it build either (`expected` is the one
    /// before it, which its lineage would name if it was written for this history after all).
    ParentMissing {
        migration: String,
        parent: String,
        expected: Option<String>,
    },
    /// Both branches changed the same things differently.
    Conflicts {
        migration: String,
        conflicts: Vec<String>,
    },
    /// A generated migration whose every change the other branch already made.
    NothingLeft { migration: String },
    /// Replaying the history a migration was written against, or the rebased history, failed.
    Replay {
        migration: String,
        error: Box<MigrateError>,
    },
    /// The rebased history does not build what the branches meant (hand-written SQL that does
    /// something else on the new parent).
    Mismatch {
        migration: String,
        differences: Vec<String>,
    },
    /// The migration named as the one merged into is not in the history.
    UnknownOnto { onto: String },
    /// Every migration leads to the one merged into, so there is no other branch to re-create.
    NothingMergedIn { onto: String },
    /// The re-created files do not form a valid migration folder.
    Source(source::SourceError),
    /// A companion `db create` wrote to run outside a transaction (PostgreSQL's online form), which
    /// is re-created only with the migration it completes, by generating both again.
    OnlinePair {
        companion: String,
        completes: Option<String>,
    },
}

impl fmt::Display for RebaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list =
            |items: &[String]| -> String { items.iter().map(|i| format!("\n    {i}")).collect() };
        match self {
            Self::ParentMissing {
                migration,
                parent,
                expected,
            } => {
                write!(
                    f,
                    "{migration} was written after {parent}, which is not among the migrations before \
                     it (renamed or removed?), so the schema it was written against cannot be rebuilt"
                )?;
                if let Some(expected) = expected {
                    write!(
                        f,
                        "; nor is it what the migrations up to {expected} build. If it was written for \
                         this history after all (a cherry-picked hotfix, say), write \
                         `parent = \"{expected}\"` in its {LINEAGE_FILE} and check its SQL against them"
                    )?;
                }
                Ok(())
            }
            Self::OnlinePair {
                companion,
                completes,
            } => write!(
                f,
                "{companion} is the companion db create wrote to run outside a transaction (it \
                 completes {} on PostgreSQL without blocking); a rebase cannot re-create such a pair \
                 one folder at a time: delete {companion}{}, rebase the rest, then run db create again \
                 to generate the change anew on the rebased history",
                completes.as_deref().unwrap_or("the change before it"),
                completes
                    .as_deref()
                    .map(|m| format!(" and {m}"))
                    .unwrap_or_default()
            ),
            Self::Conflicts { migration, conflicts } => write!(
                f,
                "{migration} changes what the other branch also changed, differently:{}",
                list(conflicts)
            ),
            Self::NothingLeft { migration } => write!(
                f,
                "every change {migration} makes is already made by the migrations before it"
            ),
            Self::Replay { migration, error } => {
                write!(f, "replaying the history of {migration} failed: {error}")
            }
            Self::Mismatch { migration, differences } => write!(
                f,
                "after {migration} the rebased history does not build what its branch built; it would \
                 still need:{}",
                list(differences)
            ),
            Self::UnknownOnto { onto } => write!(f, "{onto} is not one of the migrations"),
            Self::NothingMergedIn { onto } => write!(
                f,
                "every migration is {onto} or one it was written after, so no branch was merged into it"
            ),
            Self::Source(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for RebaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Replay { error, .. } => Some(error.as_ref()),
            Self::Source(err) => Some(err),
            _ => None,
        }
    }
}

/// What re-creating the merged-in branch of `migrations` on top of `ours` (the migration it was
/// merged into) gives, `None` when nothing has diverged. `ours` and what it was written after are
/// kept as they are; every other migration is re-created on top of them, oldest first, in the
/// folder `folder_after(migration, newest version so far)` names. `models` is only compared with the
/// result: what the branches do not capture is reported, never invented.
pub fn rebase(
    migrations: &[Migration],
    models: &Schema,
    ours: &str,
    generator: &Generator,
    mut folder_after: impl FnMut(&Migration, &str) -> String,
) -> Result<Option<Rebase>, RebaseError> {
    let divergences = lineage::divergences(migrations);
    let Some(first) = divergences.first() else {
        return Ok(None);
    };
    if divergences.iter().any(|d| d.parent_missing) {
        return restore_parents(migrations, divergences).map(Some);
    }
    let Some(tip) = migrations.iter().find(|m| m.folder() == ours) else {
        return Err(RebaseError::UnknownOnto { onto: ours.into() });
    };
    let mut history = ancestors(migrations, tip)?;
    history.push(tip.clone());
    let theirs: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !history.iter().any(|k| k.folder() == m.folder()))
        .collect();
    if theirs.is_empty() {
        return Err(RebaseError::NothingMergedIn { onto: ours.into() });
    }
    if let Some(companion) = theirs
        .iter()
        .find(|m| !m.run_in_transaction() && m.lineage().is_some_and(|l| !l.is_hand_written()))
    {
        return Err(RebaseError::OnlinePair {
            companion: companion.folder().to_string(),
            completes: companion
                .lineage()
                .and_then(Lineage::parent)
                .map(str::to_string),
        });
    }
    let onto = tip.folder().to_string();
    let mut schema = built(&history, &first.migration)?;
    let mut rebased = Vec::new();
    for migration in theirs {
        let newest = history.last().map_or("", |m| m.version());
        let new_folder = folder_after(migration, newest);
        let folder = new_folder.as_str();
        let ancestors = ancestors(migrations, migration)?;
        let before = built(&ancestors, migration.folder())?;
        let mut with = ancestors;
        with.push(migration.clone());
        let after = built(&with, migration.folder())?;
        let normal = |s: &Schema| render::for_dialect(s, Dialect::Sqlite);
        let target =
            merge(&normal(&before), &normal(&after), &normal(&schema)).map_err(|conflicts| {
                RebaseError::Conflicts {
                    migration: migration.folder().to_string(),
                    conflicts,
                }
            })?;
        let parent = history.last().map(|m| m.folder().to_string());
        let edited = migration.lineage().is_some_and(|l| {
            !l.is_hand_written() && edited_by_hand(migration, l, &before, &after, generator)
        });
        let hand_written = edited || migration.lineage().is_none_or(Lineage::is_hand_written);
        let draft = if hand_written {
            draft::hand_written(folder, parent.as_deref(), &schema, files_of(migration))
        } else {
            draft::generated(folder, parent.as_deref(), &schema, &target, generator).ok_or_else(
                || RebaseError::NothingLeft {
                    migration: migration.folder().to_string(),
                },
            )?
        };
        let recreated = migration_of(&draft)?;
        let sql_changed = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql]
            .into_iter()
            .any(|d| recreated.scripts(d).checksum() != migration.scripts(d).checksum());
        history.push(recreated);
        schema = built(&history, folder)?;
        let differences: Vec<String> = diff(&normal(&schema), &target)
            .iter()
            .map(Change::describe)
            .collect();
        if !differences.is_empty() {
            return Err(RebaseError::Mismatch {
                migration: migration.folder().to_string(),
                differences,
            });
        }
        rebased.push(Rebased {
            from: migration.folder().to_string(),
            draft,
            hand_written,
            edited,
            sql_changed,
        });
    }
    let uncaptured = diff(
        &render::for_dialect(&schema, Dialect::Sqlite),
        &render::for_dialect(models, Dialect::Sqlite),
    );
    Ok(Some(Rebase {
        onto: Some(onto),
        divergences,
        migrations: rebased,
        uncaptured,
    }))
}

/// Migrations whose recorded parent is not in the history (a hotfix cherry-picked onto a release
/// branch, its parent left on main) follow the migration before them when the schema they record is
/// what the migrations before them build: their lineage is refreshed, their SQL kept. Any other
/// divergence waits for the next rebase, once these follow.
fn restore_parents(
    migrations: &[Migration],
    divergences: Vec<lineage::Divergence>,
) -> Result<Rebase, RebaseError> {
    let mut restored = Vec::new();
    for divergence in divergences.iter().filter(|d| d.parent_missing) {
        let index = migrations
            .iter()
            .position(|m| m.folder() == divergence.migration)
            .expect("a divergence names one of the migrations");
        let migration = &migrations[index];
        let recorded = migration.lineage().expect("a divergence has lineage");
        let expected = index.checked_sub(1).map(|i| migrations[i].folder());
        let before = built(&migrations[..index], migration.folder())?;
        if draft::digest(&before) != recorded.schema() {
            return Err(RebaseError::ParentMissing {
                migration: migration.folder().to_string(),
                parent: divergence.parent.clone().unwrap_or_else(|| "base".into()),
                expected: Some(expected.unwrap_or("").to_string()),
            });
        }
        let mut lineage = Lineage::new(
            expected.map(str::to_string),
            recorded.schema().to_string(),
            recorded.is_hand_written(),
            recorded.tables().into_iter().map(str::to_string).collect(),
        );
        if let Some(sql) = recorded.sql() {
            lineage = lineage.with_sql(sql.to_string());
        }
        let mut files = files_of(migration);
        files.push((LINEAGE_FILE, lineage.to_toml()));
        restored.push(Rebased {
            from: migration.folder().to_string(),
            draft: Draft {
                folder: migration.folder().to_string(),
                changes: Vec::new(),
                lineage,
                files,
                notes: Vec::new(),
            },
            hand_written: true,
            edited: false,
            sql_changed: false,
        });
    }
    Ok(Rebase {
        divergences,
        onto: None,
        migrations: restored,
        uncaptured: Vec::new(),
    })
}

/// The migrations `migration` was written after, oldest first, following the lineage back: up to a
/// migration without lineage, everything before it in order.
fn ancestors(
    migrations: &[Migration],
    migration: &Migration,
) -> Result<Vec<Migration>, RebaseError> {
    let index_of = |folder: &str| migrations.iter().position(|m| m.folder() == folder);
    let mut chain = Vec::new();
    let mut current = migration;
    loop {
        let Some(lineage) = current.lineage() else {
            // No lineage: written against everything before it.
            let index = index_of(current.folder()).expect("the migration is in the history");
            let mut before = migrations[..index].to_vec();
            if !std::ptr::eq(current, migration) {
                before.push(current.clone());
            }
            chain.reverse();
            before.extend(chain);
            return Ok(before);
        };
        let Some(parent) = lineage.parent() else {
            chain.reverse();
            return Ok(chain);
        };
        let Some(index) = index_of(parent).filter(|&i| migrations[i].version() < current.version())
        else {
            return Err(RebaseError::ParentMissing {
                migration: current.folder().to_string(),
                parent: parent.to_string(),
                expected: None,
            });
        };
        current = &migrations[index];
        if current.lineage().is_some() {
            chain.push(current.clone());
        }
    }
}

/// Whether a generated migration's SQL files differ from what was generated: from the digest its
/// lineage records, or, for lineage written before digests were, from generating it again on the
/// schema it was written against. `db create` wrote no MySQL files before it generated them, so a
/// digest of the SQLite and PostgreSQL files alone is of that time: those files are as generated,
/// and MySQL files beside them (the repository's history has them) were written by hand, which
/// generating again would lose, so such a migration counts as edited too.
fn edited_by_hand(
    migration: &Migration,
    lineage: &Lineage,
    before: &Schema,
    after: &Schema,
    generator: &Generator,
) -> bool {
    let files = files_of(migration);
    let now = draft::files_digest(&files);
    let mysql_by_hand = migration.has_mysql_scripts();
    match lineage.sql() {
        // A digest of that time never matches once MySQL files are beside them: edited.
        Some(written) => written != now,
        None => draft::generated(
            migration.folder(),
            lineage.parent(),
            before,
            after,
            generator,
        )
        .is_none_or(|again| {
            if mysql_by_hand {
                draft::files_digest(&again.files) != now
            } else {
                draft::files_digest_without_mysql(&again.files) != now
            }
        }),
    }
}

fn built(migrations: &[Migration], migration: &str) -> Result<Schema, RebaseError> {
    scratch::built_by(migrations, &Target::Head).map_err(|error| RebaseError::Replay {
        migration: migration.to_string(),
        error: Box::new(error),
    })
}

/// A migration's files as they are (MySQL's too), lineage left out.
fn files_of(migration: &Migration) -> Vec<(&'static str, String)> {
    let mut files = vec![(
        "up.sql",
        migration.scripts(Dialect::Sqlite).up().to_string(),
    )];
    if let Some(down) = migration.scripts(Dialect::Sqlite).down() {
        files.push(("down.sql", down.to_string()));
    }
    if migration.has_postgres_override() {
        let postgres = migration.scripts(Dialect::Postgres);
        files.push(("up.postgres.sql", postgres.up().to_string()));
        if let Some(down) = postgres.down() {
            files.push(("down.postgres.sql", down.to_string()));
        }
    }
    if migration.has_mysql_scripts() {
        let mysql = migration.scripts(Dialect::Mysql);
        files.push(("up.mysql.sql", mysql.up().to_string()));
        if let Some(down) = mysql.down() {
            files.push(("down.mysql.sql", down.to_string()));
        }
    }
    if !migration.run_in_transaction() {
        files.push(("metadata.toml", "run_in_transaction = false\n".to_string()));
    }
    files.retain(|(name, _)| *name != LINEAGE_FILE);
    files
}

/// The migration a draft's files make, through the folder rules every migration goes through.
pub fn migration_of(draft: &Draft) -> Result<Migration, RebaseError> {
    let files: BTreeMap<String, Vec<u8>> = draft
        .files
        .iter()
        .map(|(name, text)| (name.to_string(), text.clone().into_bytes()))
        .collect();
    source::migration_from_files(&draft.folder, files)
        .map(|(migration, _)| migration)
        .map_err(RebaseError::Source)
}
