//! The schemas replays have built, kept by the fingerprint of exactly what was replayed, so that one
//! history state is replayed once: by this process (always), and across runs when the application
//! names a directory ([`keep_in`]).
//!
//! A kept schema is reused only when everything it depends on is the same: the dialect, the target,
//! every migration given (folder, version, name, whether it runs in a transaction, its lineage, and
//! the exact text of the SQL the dialect runs), and the code that replayed and read it back (this
//! crate's and workhub-schema's sources, the workspace's Cargo.lock and .cargo/config.toml, digested
//! by the build script).
//!
//! A replay on a server (PostgreSQL) is kept under a fingerprint that also holds what the server is:
//! its version, the settings DDL depends on, and what a fresh database of it already holds (the
//! objects its template gives and the extensions it offers), read from the scratch database the
//! replay would run in. A server changed in any of those replays again.
//!
//! Beside each schema a SQLite replay built, the directory keeps the replayed database itself (a few of
//! the newest): a history that grew by a migration or two since is then built by applying only the
//! new ones to a copy of it, which is exactly what replaying the whole history would have built.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use workhub_schema::Schema;

use crate::plan::Target;
use crate::{Dialect, Migration};

/// The kept schemas beyond which the oldest files are removed: one per history state recently
/// checked, enough for a few branches.
const KEPT_FILES: usize = 32;

/// The kept databases beyond which the oldest are removed: each holds a whole schema.
const KEPT_DATABASES: usize = 4;

/// What a file of the directory names itself as, so that a file of another format is never read.
const FORMAT: &str = "workhub-migrations replayed schema, format 1";

/// The directory kept schemas are written to, when the application named one.
static DIRECTORY: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The last schema built in this process, with its fingerprint.
static LAST: Mutex<Option<(String, Schema)>> = Mutex::new(None);

/// Keeps replayed schemas in `dir` from now on (created when first written), or in this process
/// alone with `None`, the default. What this process kept so far is forgotten, so the next schema
/// asked for is read from `dir` or replayed.
pub fn keep_in(dir: Option<PathBuf>) {
    *DIRECTORY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = dir;
    *LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
}

/// The fingerprint of replaying `migrations` up to `target` on `dialect` with this build's code.
pub fn fingerprint(migrations: &[Migration], target: &Target, dialect: Dialect) -> String {
    digest(migrations, target, dialect, None)
}

/// The fingerprint of replaying `migrations` up to `target` into a fresh database of a server
/// described by `server`: everything about the server and its fresh databases that can change what
/// a replay builds (its version, what a new database holds, the settings DDL depends on).
pub fn fingerprint_on(
    migrations: &[Migration],
    target: &Target,
    dialect: Dialect,
    server: &str,
) -> String {
    digest(migrations, target, dialect, Some(server))
}

fn digest(
    migrations: &[Migration],
    target: &Target,
    dialect: Dialect,
    server: Option<&str>,
) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(FORMAT.as_bytes());
    if let Some(server) = server {
        field(server.as_bytes());
    }
    field(env!("WORKHUB_MIGRATIONS_CODE_DIGEST").as_bytes());
    field(format!("{dialect:?}").as_bytes());
    field(format!("{target:?}").as_bytes());
    field(&(migrations.len() as u64).to_le_bytes());
    for migration in migrations {
        field(migration.folder().as_bytes());
        field(migration.version().as_bytes());
        field(migration.name().as_bytes());
        field(&[u8::from(migration.run_in_transaction())]);
        field(format!("{:?}", migration.lineage()).as_bytes());
        // The text itself, not its checksum: the checksum normalises line endings, which a string
        // literal in the SQL would keep.
        field(migration.scripts(dialect).up().as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The schema kept under `fingerprint`: this process's last one, else the directory's file.
pub fn get(fingerprint: &str) -> Option<Schema> {
    if let Some((key, schema)) = LAST
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .as_ref()
    {
        if key == fingerprint {
            return Some(schema.clone());
        }
    }
    let dir = directory()?;
    let path = file(&dir, fingerprint);
    let text = std::fs::read(&path).ok()?;
    let kept: Kept = serde_json::from_slice(&text).ok()?;
    // The name is the fingerprint, and so is the content: a file copied or renamed is not reused.
    if kept.format != FORMAT || kept.fingerprint != fingerprint {
        return None;
    }
    remember(fingerprint, &kept.schema);
    // Read now, so pruned last.
    if let Ok(file) = std::fs::File::options().append(true).open(&path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
    Some(kept.schema)
}

/// Keeps `schema` under `fingerprint`. Writing is best effort: a directory that cannot be written
/// only means the next run replays again.
pub fn put(fingerprint: &str, schema: &Schema) {
    remember(fingerprint, schema);
    let Some(dir) = directory() else { return };
    let kept = Kept {
        format: FORMAT.to_string(),
        fingerprint: fingerprint.to_string(),
        schema: schema.clone(),
    };
    let Ok(text) = serde_json::to_vec(&kept) else {
        return;
    };
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    // Written aside and renamed into place: a reader never sees half a file, and two writers of
    // one fingerprint write the same content.
    let partial = dir.join(format!(".{fingerprint}.{}.partial", std::process::id()));
    if std::fs::write(&partial, text).is_err()
        || std::fs::rename(&partial, file(&dir, fingerprint)).is_err()
    {
        let _ = std::fs::remove_file(&partial);
        return;
    }
    prune(&dir, ".json", KEPT_FILES);
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    format: String,
    fingerprint: String,
    schema: Schema,
}

fn remember(fingerprint: &str, schema: &Schema) {
    *LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
        Some((fingerprint.to_string(), schema.clone()));
}

fn directory() -> Option<PathBuf> {
    DIRECTORY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn file(dir: &Path, fingerprint: &str) -> PathBuf {
    dir.join(format!("{fingerprint}.json"))
}

/// Removes the oldest files of `dir` whose names end in `suffix` beyond the newest `keep`.
fn prune(dir: &Path, suffix: &str, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut kept: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(suffix))
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .collect();
    if kept.len() <= keep {
        return;
    }
    kept.sort();
    for (_, path) in &kept[..kept.len() - keep] {
        let _ = std::fs::remove_file(path);
    }
}

/// The database a SQLite replay of exactly what `fingerprint` names built, kept by [`keep_database`].
pub fn database(fingerprint: &str) -> Option<PathBuf> {
    let path = directory()?.join(format!("{fingerprint}.db"));
    path.is_file().then_some(path)
}

/// A fresh directory inside the kept directory to build a database in (on the same file system, so
/// [`keep_database`] renames it into place), or `None` when nothing is kept across runs.
pub fn workspace() -> Option<PathBuf> {
    let dir = directory()?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let work = dir.join(format!(".replay-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&work).ok()?;
    Some(work)
}

/// Keeps the closed database file `built` as what a replay of `fingerprint` builds (moved, best
/// effort), and removes the oldest kept databases beyond [`KEPT_DATABASES`].
pub fn keep_database(fingerprint: &str, built: &Path) {
    let Some(dir) = directory() else { return };
    if std::fs::rename(built, dir.join(format!("{fingerprint}.db"))).is_err() {
        let _ = std::fs::remove_file(built);
        return;
    }
    prune(&dir, ".db", KEPT_DATABASES);
}
