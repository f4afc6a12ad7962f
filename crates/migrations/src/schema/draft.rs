//! A new migration folder's files before they are written: the SQL for both dialects, generated from
//! the difference between the schema the migrations build and the target, and its lineage.

use sha2::{Digest, Sha256};

use super::{generate, render, Change, Schema};
use crate::source::lineage::LINEAGE_FILE;
use crate::source::Lineage;
use crate::Dialect;

/// The files of one migration folder, and the changes its SQL makes (none when written by hand).
#[derive(Debug, Clone)]
pub struct Draft {
    pub folder: String,
    pub changes: Vec<Change>,
    pub lineage: Lineage,
    /// File name and text, `lineage.toml` included.
    pub files: Vec<(&'static str, String)>,
}

/// The migration `folder` that turns `current` (what the migrations up to `parent` build) into
/// `target`, or `None` when they already agree.
pub fn generated(
    folder: &str,
    parent: Option<&str>,
    current: &Schema,
    target: &Schema,
) -> Option<Draft> {
    let sqlite = generate(current, target, Dialect::Sqlite, folder)?;
    // The same changes for PostgreSQL, from the same comparison.
    let postgres = generate(current, target, Dialect::Postgres, folder)?;
    let mut tables: Vec<String> = sqlite
        .changes
        .iter()
        .map(|c| c.table().to_string())
        .collect();
    tables.sort();
    tables.dedup();
    let lineage = Lineage::new(parent.map(str::to_string), digest(current), false, tables);
    Some(Draft {
        folder: folder.to_string(),
        changes: sqlite.changes,
        files: vec![
            ("up.sql", sqlite.up),
            ("down.sql", sqlite.down),
            ("up.postgres.sql", postgres.up),
            ("down.postgres.sql", postgres.down),
            (LINEAGE_FILE, lineage.to_toml()),
        ],
        lineage,
    })
}

/// A migration written by hand: `files` as given, plus its lineage. Which tables hand-written SQL
/// touches is read from the SQL when it is compared with another branch, so none are recorded.
pub fn hand_written(
    folder: &str,
    parent: Option<&str>,
    current: &Schema,
    mut files: Vec<(&'static str, String)>,
) -> Draft {
    let lineage = Lineage::new(
        parent.map(str::to_string),
        digest(current),
        true,
        Vec::new(),
    );
    files.retain(|(name, _)| *name != LINEAGE_FILE);
    files.push((LINEAGE_FILE, lineage.to_toml()));
    Draft {
        folder: folder.to_string(),
        changes: Vec::new(),
        lineage,
        files,
    }
}

/// A short digest of `schema` as `db create` compares it (SQLite's normalisation; triggers, which
/// the comparison ignores, left out): equal digests mean the same schema to every check.
pub fn digest(schema: &Schema) -> String {
    let mut schema = render::for_dialect(schema, Dialect::Sqlite);
    for table in &mut schema.tables {
        table.triggers.clear();
    }
    let hash = Sha256::digest(format!("{schema:?}").as_bytes());
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
