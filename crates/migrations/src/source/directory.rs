use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::{lineage, ordered, statements, FolderName, Metadata, Migration, Scripts, SourceError};

/// The files a migration folder may hold.
const KNOWN_FILES: [&str; 6] = [
    "up.sql",
    "down.sql",
    "metadata.toml",
    "up.postgres.sql",
    "down.postgres.sql",
    lineage::LINEAGE_FILE,
];

/// What [`scan`] found: the migrations in version order, and every path it read, so a build script can
/// ask to be rerun when any of them changes.
#[derive(Debug)]
pub struct Scan {
    pub migrations: Vec<Migration>,
    pub paths: Vec<PathBuf>,
}

/// Reads and validates every migration folder below `dir`. Hidden files (`.keep`, `.DS_Store`) and a
/// `README.md` beside the folders are ignored; anything else unexpected is an error naming it.
pub fn scan(dir: &Path) -> Result<Scan, SourceError> {
    let unreadable = |message: String| SourceError::Unreadable {
        path: dir.to_path_buf(),
        message,
    };
    if !dir.is_dir() {
        return Err(unreadable("not a directory".into()));
    }
    let mut folders: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut paths = vec![dir.to_path_buf()];
    let walker = WalkDir::new(dir)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| !entry.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|err| unreadable(err.to_string()))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_dir();
        match entry.depth() {
            1 if is_dir => {
                folders.entry(file).or_default();
            }
            1 if file == "README.md" || file == lineage::HEAD_FILE => {}
            1 => {
                return Err(SourceError::UnexpectedFile {
                    folder: dir.display().to_string(),
                    file,
                })
            }
            _ => {
                let folder = entry
                    .path()
                    .parent()
                    .and_then(Path::file_name)
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if is_dir || entry.depth() > 2 || !KNOWN_FILES.contains(&file.as_str()) {
                    let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
                    let top = relative
                        .iter()
                        .next()
                        .map(|c| c.to_string_lossy().into_owned());
                    return Err(SourceError::UnexpectedFile {
                        folder: top.unwrap_or(folder),
                        file: relative
                            .iter()
                            .skip(1)
                            .collect::<PathBuf>()
                            .display()
                            .to_string(),
                    });
                }
                let bytes = std::fs::read(entry.path())
                    .map_err(|err| unreadable(format!("{}: {err}", entry.path().display())))?;
                folders.entry(folder).or_default().insert(file, bytes);
                paths.push(entry.path().to_path_buf());
            }
        }
    }
    let migrations = folders
        .into_iter()
        .map(|(folder, files)| migration_from_files(&folder, files))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Scan {
        migrations: ordered(migrations)?,
        paths,
    })
}

/// Builds one migration from its folder's files, applying the format's rules.
pub fn migration_from_files(
    folder: &str,
    mut files: BTreeMap<String, Vec<u8>>,
) -> Result<Migration, SourceError> {
    let FolderName { version, name } = FolderName::parse(folder)?;
    let mut text = |file: &str| -> Result<Option<String>, SourceError> {
        files
            .remove(file)
            .map(|bytes| {
                String::from_utf8(bytes).map_err(|_| SourceError::NotUtf8 {
                    folder: folder.to_string(),
                    file: file.to_string(),
                })
            })
            .transpose()
    };
    let up = text("up.sql")?.ok_or_else(|| SourceError::MissingUp {
        folder: folder.to_string(),
    })?;
    let down = text("down.sql")?;
    let up_postgres = text("up.postgres.sql")?;
    let down_postgres = text("down.postgres.sql")?;
    let lineage = lineage::read(folder, text(lineage::LINEAGE_FILE)?)?;
    let metadata = match text("metadata.toml")? {
        Some(toml) => Metadata::parse(folder, &toml)?,
        None => Metadata::default(),
    };
    let not_empty = |file: &str, sql: &str| {
        if statements::split(sql).is_empty() {
            Err(SourceError::EmptyUp {
                folder: folder.to_string(),
                file: file.to_string(),
            })
        } else {
            Ok(())
        }
    };
    not_empty("up.sql", &up)?;
    let incomplete = |missing: &str| SourceError::IncompleteDialect {
        folder: folder.to_string(),
        missing: missing.to_string(),
    };
    let postgres = match (up_postgres, down_postgres) {
        (None, None) => None,
        (None, Some(_)) => return Err(incomplete("up.postgres.sql")),
        (Some(_), None) if down.is_some() => return Err(incomplete("down.postgres.sql")),
        (Some(up_postgres), down_postgres) => {
            not_empty("up.postgres.sql", &up_postgres)?;
            Some(Scripts::new(up_postgres, down_postgres))
        }
    };
    Ok(Migration::new(
        folder.to_string(),
        version,
        name,
        metadata.run_in_transaction,
        Scripts::new(up, down),
        postgres,
    )
    .with_lineage(lineage))
}
