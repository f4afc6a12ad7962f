//! Whether each migration still follows the schema it was written against: the digest its lineage
//! records, compared with what the migrations before it build now. A difference means an earlier
//! migration changed after this one was generated (edited, or re-created by a rebase), so its SQL
//! (a SQLite rebuild's column list, say) may no longer fit.

use crate::apply::{Silent, Sqlite};
use crate::draft::digest;
use crate::plan::Target;
use crate::scratch;
use crate::source::lineage;
use crate::{MigrateError, Migration, Migrator};

/// A migration whose recorded schema digest differs from what the migrations before it build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub migration: String,
    /// The migration before it, whose schema it no longer matches.
    pub parent: Option<String>,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} was written against a schema the migrations up to {} no longer build (one of them \
             changed after it was written)",
            self.migration,
            self.parent.as_deref().unwrap_or("base")
        )
    }
}

/// The first migration with lineage that follows the one before it but not the schema it assumed. One
/// replay into a scratch SQLite database, read back only before migrations that carry lineage.
/// Diverged migrations are left to [`lineage::divergences`].
pub fn stale(migrations: &[Migration]) -> Result<Option<Stale>, MigrateError> {
    if !migrations.iter().any(|m| m.lineage().is_some()) {
        return Ok(None);
    }
    let mut scratch = Sqlite::open(std::path::Path::new(":memory:"))?;
    let mut migrator = Migrator::new(migrations);
    migrator.allow_out_of_order = true;
    migrator.allow_diverged = true;
    for (index, migration) in migrations.iter().enumerate() {
        if let Some(lineage) = migration.lineage() {
            if lineage::divergence_at(migrations, index).is_none()
                && lineage.schema() != lineage::UNKNOWN_SCHEMA
                && digest(&scratch::read(&mut scratch)?) != lineage.schema()
            {
                // Its SQL may not run on what it now follows; what comes after is moot until it is fixed.
                return Ok(Some(Stale {
                    migration: migration.folder().to_string(),
                    parent: lineage.parent().map(str::to_string),
                }));
            }
        }
        migrator.upgrade(&mut scratch, &Target::Forward(1), &mut Silent)?;
    }
    Ok(None)
}
