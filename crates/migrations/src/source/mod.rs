//! Where migrations come from: folders in diesel's format (`VERSION_name/` holding `up.sql`, an optional
//! `down.sql` and an optional `metadata.toml`), read from a directory or embedded in a binary by its
//! build script. Both paths go through the same rules, diesel's, in [`directory`]; what diesel accepts
//! but workhub would not write is reported as a [`Finding`], never refused.

mod checksum;
mod directory;
mod error;
mod finding;
mod folder_name;
pub mod lineage;
mod metadata;
mod migration;
pub mod statements;

pub use checksum::checksum;
pub use directory::{migration_from_files, scan, Scan};
pub use error::SourceError;
pub use finding::Finding;
pub use folder_name::{is_valid_name, FolderName, MIGRATION_NAME_RULE};
pub use lineage::Lineage;
pub use metadata::Metadata;
pub use migration::{Migration, Scripts};
pub use workhub_schema::Dialect;

/// Sorts migrations by version and refuses two folders with the same version.
pub fn ordered(mut migrations: Vec<Migration>) -> Result<Vec<Migration>, SourceError> {
    migrations.sort_by(|a, b| {
        a.version()
            .cmp(b.version())
            .then(a.folder().cmp(b.folder()))
    });
    for pair in migrations.windows(2) {
        if pair[0].version() == pair[1].version() {
            return Err(SourceError::DuplicateVersion {
                version: pair[0].version().to_string(),
                first: pair[0].folder().to_string(),
                second: pair[1].folder().to_string(),
            });
        }
    }
    Ok(migrations)
}
