//! Resolving a target against what a database has applied: which migrations run, in which direction,
//! and every reason to refuse before anything runs.

mod status;
mod target;

pub use status::{Entry, State, Status};
pub use target::{resolve, Target};

use crate::source::lineage;
use crate::{Counted, Dialect, MigrateError, Migration, WrongWay};

/// Which way a run goes: applying migrations or reverting them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The migrations one command runs, in the order it runs them.
#[derive(Debug, Clone)]
pub struct Plan<'m> {
    pub direction: Direction,
    pub steps: Vec<&'m Migration>,
}

impl<'m> Status<'m> {
    /// The pending migrations `target` brings in, oldest first. A pending migration on either side
    /// of a divergence is refused unless `allow_diverged` (a scratch replay).
    pub fn plan_upgrade(
        &self,
        target: &Target,
        allow_out_of_order: bool,
        allow_diverged: bool,
    ) -> Result<Plan<'m>, MigrateError> {
        self.verify()?;
        let pending: Vec<&'m Migration> = self.pending().collect();
        let steps = match target {
            Target::Head => pending,
            Target::Base => {
                return Err(MigrateError::WrongDirection {
                    target: target.to_string(),
                    reason: WrongWay::UpgradeToBase,
                })
            }
            Target::Back(_) => {
                return Err(MigrateError::WrongDirection {
                    target: target.to_string(),
                    reason: WrongWay::UpgradeBack,
                })
            }
            Target::Forward(n) => {
                if *n > pending.len() {
                    return Err(MigrateError::OutOfRange {
                        target: target.to_string(),
                        available: pending.len(),
                        counted: Counted::Pending,
                    });
                }
                pending[..*n].to_vec()
            }
            Target::Revision(revision) => {
                let index = resolve(self.migrations(), revision)?;
                let version = self.migrations()[index].version();
                let steps: Vec<_> = pending
                    .into_iter()
                    .filter(|m| m.version() <= version)
                    .collect();
                if steps.is_empty() && self.newest_applied().is_some_and(|newest| newest > version)
                {
                    return Err(MigrateError::WrongDirection {
                        target: revision.clone(),
                        reason: WrongWay::AlreadyPast {
                            folder: self.migrations()[index].folder().to_string(),
                        },
                    });
                }
                steps
            }
        };
        if !allow_out_of_order {
            if let Some(newest) = self.newest_applied() {
                let late: Vec<String> = steps
                    .iter()
                    .filter(|m| m.version() < newest)
                    .map(|m| m.folder().to_string())
                    .collect();
                if !late.is_empty() {
                    return Err(MigrateError::OutOfOrder {
                        pending: late,
                        newest_applied: self.folder_of(newest),
                    });
                }
            }
        }
        if !allow_diverged {
            // Either side counts: a merged-in migration that sorts before the applied one it
            // diverges from is as unsafe to run as the later one.
            let pending = |folder: &str| steps.iter().any(|s| s.folder() == folder);
            let divergences: Vec<_> = lineage::divergences(self.migrations())
                .into_iter()
                .filter(|d| pending(&d.migration) || d.others.iter().any(|o| pending(o)))
                .collect();
            if !divergences.is_empty() {
                return Err(MigrateError::Diverged { divergences });
            }
        }
        if let Some(empty) = steps
            .iter()
            .find(|m| m.scripts(self.dialect()).up().is_empty())
        {
            let postgres = self.dialect() == Dialect::Postgres && empty.has_postgres_override();
            let mysql = self.dialect() == Dialect::Mysql && empty.has_mysql_scripts();
            return Err(MigrateError::EmptyUp {
                folder: empty.folder().to_string(),
                file: if postgres {
                    "up.postgres.sql"
                } else if mysql {
                    "up.mysql.sql"
                } else {
                    "up.sql"
                },
            });
        }
        Ok(Plan {
            direction: Direction::Up,
            steps,
        })
    }

    /// The applied migrations `target` reverts, newest first.
    pub fn plan_downgrade(&self, target: &Target) -> Result<Plan<'m>, MigrateError> {
        self.verify()?;
        let mut applied: Vec<&'m Migration> = self.applied().collect();
        applied.reverse();
        let steps = match target {
            Target::Base => applied,
            Target::Head | Target::Forward(_) => {
                return Err(MigrateError::WrongDirection {
                    target: target.to_string(),
                    reason: WrongWay::DowngradeForward,
                })
            }
            Target::Back(n) => {
                if *n > applied.len() {
                    return Err(MigrateError::OutOfRange {
                        target: target.to_string(),
                        available: applied.len(),
                        counted: Counted::Applied,
                    });
                }
                applied[..*n].to_vec()
            }
            Target::Revision(revision) => {
                let index = resolve(self.migrations(), revision)?;
                let keep = &self.migrations()[index];
                if !self.is_applied(index) {
                    return Err(MigrateError::WrongDirection {
                        target: revision.clone(),
                        reason: WrongWay::NotApplied {
                            folder: keep.folder().to_string(),
                        },
                    });
                }
                applied
                    .into_iter()
                    .filter(|m| m.version() > keep.version())
                    .collect()
            }
        };
        let irreversible: Vec<String> = steps
            .iter()
            .filter(|m| m.scripts(self.dialect()).down().is_none())
            .map(|m| m.folder().to_string())
            .collect();
        if !irreversible.is_empty() {
            return Err(MigrateError::Irreversible {
                folders: irreversible,
            });
        }
        Ok(Plan {
            direction: Direction::Down,
            steps,
        })
    }

    /// How many migrations are applied after stamping `target`: every one up to it, none after.
    pub fn stamp_count(&self, target: &Target) -> Result<usize, MigrateError> {
        // Relative targets count from the newest applied migration, holes before it included.
        let applied = self
            .entries()
            .iter()
            .rposition(|e| e.state != State::Pending)
            .map_or(0, |i| i + 1);
        match target {
            Target::Head => Ok(self.migrations().len()),
            Target::Base => Ok(0),
            Target::Forward(n) => self.within(target, applied + n),
            Target::Back(n) => applied.checked_sub(*n).ok_or(MigrateError::OutOfRange {
                target: target.to_string(),
                available: applied,
                counted: Counted::Applied,
            }),
            Target::Revision(revision) => Ok(resolve(self.migrations(), revision)? + 1),
        }
    }

    fn within(&self, target: &Target, count: usize) -> Result<usize, MigrateError> {
        if count > self.migrations().len() {
            return Err(MigrateError::OutOfRange {
                target: target.to_string(),
                available: self.pending().count(),
                counted: Counted::Pending,
            });
        }
        Ok(count)
    }

    fn folder_of(&self, version: &str) -> String {
        self.migrations()
            .iter()
            .find(|m| m.version() == version)
            .map_or_else(|| version.to_string(), |m| m.folder().to_string())
    }
}
