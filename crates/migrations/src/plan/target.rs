use std::fmt;
use std::str::FromStr;

use crate::{MigrateError, Migration};

/// Where a command should bring the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every migration applied.
    Head,
    /// No migration applied.
    Base,
    /// `+N`: the next N pending migrations.
    Forward(usize),
    /// `-N`: the last N applied migrations reverted.
    Back(usize),
    /// A version, a unique version prefix, a folder name or a migration name.
    Revision(String),
}

impl FromStr for Target {
    type Err = MigrateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let count = |digits: &str| {
            digits
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| MigrateError::UnknownTarget {
                    target: text.to_string(),
                })
        };
        Ok(match text {
            "head" | "heads" => Self::Head,
            "base" => Self::Base,
            "" => {
                return Err(MigrateError::UnknownTarget {
                    target: String::new(),
                })
            }
            _ if text.starts_with('+') => Self::Forward(count(&text[1..])?),
            _ if text.starts_with('-') => Self::Back(count(&text[1..])?),
            _ => Self::Revision(text.to_string()),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Head => f.write_str("head"),
            Self::Base => f.write_str("base"),
            Self::Forward(n) => write!(f, "+{n}"),
            Self::Back(n) => write!(f, "-{n}"),
            Self::Revision(revision) => f.write_str(revision),
        }
    }
}

/// Finds the one migration `revision` names: an exact version, folder or name first, else the
/// migrations whose version starts with it.
pub fn resolve(migrations: &[Migration], revision: &str) -> Result<usize, MigrateError> {
    let exact = |m: &Migration| m.version() == revision || m.folder() == revision;
    if let Some(index) = migrations.iter().position(exact) {
        return Ok(index);
    }
    let mut candidates: Vec<usize> = migrations
        .iter()
        .enumerate()
        .filter(|(_, m)| m.name() == revision)
        .map(|(i, _)| i)
        .collect();
    let digits: String = revision.chars().filter(|c| *c != '-').collect();
    if candidates.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        candidates = migrations
            .iter()
            .enumerate()
            .filter(|(_, m)| m.version().starts_with(&digits))
            .map(|(i, _)| i)
            .collect();
    }
    match candidates.as_slice() {
        [] => Err(MigrateError::UnknownTarget {
            target: revision.to_string(),
        }),
        [one] => Ok(*one),
        many => Err(MigrateError::AmbiguousTarget {
            target: revision.to_string(),
            candidates: many
                .iter()
                .map(|&i| migrations[i].folder().to_string())
                .collect(),
        }),
    }
}
