use std::collections::HashMap;

use crate::{AppliedMigration, Dialect, MigrateError, Migration};

/// Where one known migration stands in a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Applied,
    /// Applied, but its `up` SQL has changed since.
    Modified,
}

/// One known migration and what the database recorded of it.
#[derive(Debug, Clone)]
pub struct Entry<'m> {
    pub migration: &'m Migration,
    pub applied: Option<AppliedMigration>,
    pub state: State,
}

/// The known migrations laid against a database's history: read once per command, then every plan and
/// report is computed from it.
#[derive(Debug, Clone)]
pub struct Status<'m> {
    dialect: Dialect,
    migrations: &'m [Migration],
    entries: Vec<Entry<'m>>,
    /// Applied versions no known migration has, in version order, none older than the oldest known
    /// migration.
    pub unknown: Vec<AppliedMigration>,
    /// Applied versions older than the oldest known migration, in version order: what a squashed
    /// history (old folders deleted) leaves in a database. diesel ignores them, and so does every
    /// plan; commands report them as a warning.
    pub squashed: Vec<AppliedMigration>,
}

impl<'m> Status<'m> {
    pub fn new(
        dialect: Dialect,
        migrations: &'m [Migration],
        history: Vec<AppliedMigration>,
    ) -> Self {
        let mut by_version: HashMap<String, AppliedMigration> = history
            .into_iter()
            .map(|row| (row.version.clone(), row))
            .collect();
        let entries = migrations
            .iter()
            .map(|migration| {
                let applied = by_version.remove(migration.version());
                let state = match &applied {
                    None => State::Pending,
                    Some(row) => match &row.checksum {
                        Some(sum) if sum != migration.scripts(dialect).checksum() => {
                            State::Modified
                        }
                        _ => State::Applied,
                    },
                };
                Entry {
                    migration,
                    applied,
                    state,
                }
            })
            .collect();
        let oldest = migrations.iter().map(Migration::version).min();
        let (mut squashed, mut unknown): (Vec<AppliedMigration>, Vec<AppliedMigration>) =
            by_version
                .into_values()
                .partition(|row| oldest.is_some_and(|oldest| row.version.as_str() < oldest));
        unknown.sort_by(|a, b| a.version.cmp(&b.version));
        squashed.sort_by(|a, b| a.version.cmp(&b.version));
        Self {
            dialect,
            migrations,
            entries,
            unknown,
            squashed,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn migrations(&self) -> &'m [Migration] {
        self.migrations
    }

    pub fn entries(&self) -> &[Entry<'m>] {
        &self.entries
    }

    pub fn is_applied(&self, index: usize) -> bool {
        self.entries[index].state != State::Pending
    }

    /// Applied known migrations, oldest first.
    pub fn applied(&self) -> impl Iterator<Item = &'m Migration> + '_ {
        self.entries
            .iter()
            .filter(|e| e.state != State::Pending)
            .map(|e| e.migration)
    }

    /// Pending migrations, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &'m Migration> + '_ {
        self.entries
            .iter()
            .filter(|e| e.state == State::Pending)
            .map(|e| e.migration)
    }

    pub fn modified(&self) -> impl Iterator<Item = &'m Migration> + '_ {
        self.entries
            .iter()
            .filter(|e| e.state == State::Modified)
            .map(|e| e.migration)
    }

    /// The newest applied version, known or not.
    pub fn newest_applied(&self) -> Option<&str> {
        let known = self.applied().last().map(Migration::version);
        let unknown = self.unknown.last().map(|row| row.version.as_str());
        known.max(unknown)
    }

    /// The newest applied known migration: the database's current revision.
    pub fn current(&self) -> Option<&'m Migration> {
        self.applied().last()
    }

    pub fn head(&self) -> Option<&'m Migration> {
        self.migrations.last()
    }

    /// Pending migrations older than the newest applied one.
    pub fn out_of_order(&self) -> impl Iterator<Item = &'m Migration> + '_ {
        let newest = self.newest_applied().map(str::to_string);
        self.pending()
            .filter(move |m| newest.as_deref().is_some_and(|newest| m.version() < newest))
    }

    /// Whether every migration is applied, unmodified, and nothing unknown is.
    pub fn is_at_head(&self) -> bool {
        self.unknown.is_empty() && self.entries.iter().all(|e| e.state == State::Applied)
    }

    /// Whether an applied version this set does not know sorts after its head: only then can a newer
    /// build know it.
    pub fn unknown_newer_than_head(&self) -> bool {
        let head = self.head().map(Migration::version);
        self.unknown
            .iter()
            .any(|row| head.is_none_or(|head| row.version.as_str() > head))
    }

    /// Refuses a database that has modified or unknown migrations applied.
    pub fn verify(&self) -> Result<(), MigrateError> {
        if !self.unknown.is_empty() {
            return Err(MigrateError::UnknownApplied {
                versions: self
                    .unknown
                    .iter()
                    .map(|row| row.folder.clone().unwrap_or_else(|| row.version.clone()))
                    .collect(),
                head: self.head().map(|m| m.folder().to_string()),
                newer: self.unknown_newer_than_head(),
            });
        }
        let modified: Vec<String> = self.modified().map(|m| m.folder().to_string()).collect();
        if !modified.is_empty() {
            return Err(MigrateError::Modified { folders: modified });
        }
        Ok(())
    }
}
