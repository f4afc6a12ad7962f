//! A new migration folder's files before they are written: the SQL for every dialect (SQLite's
//! `up.sql`, PostgreSQL's `up.postgres.sql`, MySQL's `up.mysql.sql`, each with its `down`), generated
//! from the difference between the schema the migrations build and the target, and its lineage.

use sha2::{Digest, Sha256};

use workhub_schema::render::{self, Generator};
use workhub_schema::{Change, Schema};

use crate::scratch::{generate, Generated};
use crate::source::lineage::LINEAGE_FILE;
use crate::source::{self, Lineage};
use crate::{Dialect, Migration, SourceError};

/// The files of one migration folder, and the changes its SQL makes (none when written by hand).
#[derive(Debug, Clone)]
pub struct Draft {
    pub folder: String,
    pub changes: Vec<Change>,
    pub lineage: Lineage,
    /// File name and text, `lineage.toml` included.
    pub files: Vec<(&'static str, String)>,
    /// What `db create` prints besides the changes, one line each: how PostgreSQL's online form
    /// makes them, and the hazards the SQL keeps knowingly, each silenced for `db lint` with why
    /// (see [`online`](crate::online)).
    pub notes: Vec<String>,
}

impl Draft {
    /// The migration its files make, as the source would read the folder.
    pub fn migration(&self) -> Result<Migration, SourceError> {
        let files = self
            .files
            .iter()
            .map(|(name, text)| (name.to_string(), text.clone().into_bytes()))
            .collect();
        source::migration_from_files(&self.folder, files).map(|(migration, _)| migration)
    }
}

/// The migration `folder` that turns `current` (what the migrations up to `parent` build) into
/// `target`, or `None` when they already agree.
pub fn generated(
    folder: &str,
    parent: Option<&str>,
    current: &Schema,
    target: &Schema,
    generator: &Generator,
) -> Option<Draft> {
    let sqlite = generate(current, target, Dialect::Sqlite, folder, generator)?;
    // The same changes for PostgreSQL, from the same comparison. A change PostgreSQL has already
    // (ids never reused: an identity never reuses one) leaves it a script that says so.
    let postgres = generate(current, target, Dialect::Postgres, folder, generator).unwrap_or_else(|| {
        let unchanged = |title: &str| {
            render::header(title, &sqlite.changes, generator)
                + "-- Nothing changes on PostgreSQL: it stores the models this way already.\n\
                   -- (A script of comments alone is an empty query to the server: this one does nothing.)\n\
                   SELECT 1;\n"
        };
        Generated {
            changes: Vec::new(),
            up: unchanged(folder),
            down: unchanged(&format!("{folder} (down: reverts up.postgres.sql)")),
        }
    });
    let mysql = generate(current, target, Dialect::Mysql, folder, generator)
        .unwrap_or_else(|| unchanged_on_mysql(folder, &sqlite.changes, generator));
    let mut tables: Vec<String> = sqlite
        .changes
        .iter()
        .map(|c| c.table().to_string())
        .collect();
    tables.sort();
    tables.dedup();
    let mut files = vec![
        ("up.sql", sqlite.up),
        ("down.sql", sqlite.down),
        ("up.postgres.sql", postgres.up),
        ("down.postgres.sql", postgres.down),
        ("up.mysql.sql", mysql.up),
        ("down.mysql.sql", mysql.down),
    ];
    let lineage = Lineage::new(parent.map(str::to_string), digest(current), false, tables)
        .with_sql(files_digest(&files));
    files.push((LINEAGE_FILE, lineage.to_toml()));
    Some(Draft {
        folder: folder.to_string(),
        changes: sqlite.changes,
        files,
        lineage,
        notes: Vec::new(),
    })
}

/// The scripts of a change MySQL already stores as the models say (ids never reused: an
/// `AUTO_INCREMENT` never hands out an id twice): they say so and do nothing.
pub fn unchanged_on_mysql(title: &str, changes: &[Change], generator: &Generator) -> Generated {
    let unchanged = |title: &str| render::header_mysql(title, changes, generator) + MYSQL_NOTHING;
    Generated {
        changes: Vec::new(),
        up: unchanged(title),
        down: unchanged(&format!("{title} (down: reverts up.mysql.sql)")),
    }
}

/// The body of a MySQL script with nothing to change: one statement, so the script is not empty.
pub const MYSQL_NOTHING: &str =
    "-- Nothing changes on MySQL: it stores the models this way already.\nSELECT 1;\n";

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
        notes: Vec::new(),
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

/// The SQL files of a migration folder, as one digest (`sha256:` and hex): each file's name and text,
/// line endings normalised so a checkout that converts them does not count as an edit.
pub fn files_digest(files: &[(&str, String)]) -> String {
    digest_of(files, |_| true)
}

/// [`files_digest`] of the SQLite and PostgreSQL files alone: what a folder `db create` wrote
/// before it generated MySQL's files is compared with.
pub fn files_digest_without_mysql(files: &[(&str, String)]) -> String {
    digest_of(files, |name| !name.ends_with(".mysql.sql"))
}

fn digest_of(files: &[(&str, String)], keep: impl Fn(&str) -> bool) -> String {
    let mut sql: Vec<&(&str, String)> = files
        .iter()
        .filter(|(name, _)| name.ends_with(".sql") && keep(name))
        .collect();
    sql.sort_by_key(|(name, _)| *name);
    let mut hash = Sha256::new();
    for (name, text) in sql {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(text.replace("\r\n", "\n").as_bytes());
        hash.update([0]);
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
