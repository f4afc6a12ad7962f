use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::{
    lineage, ordered, statements, Finding, FolderName, Metadata, Migration, Scripts, SourceError,
};

/// The files a migration folder may hold.
const KNOWN_FILES: [&str; 8] = [
    "up.sql",
    "down.sql",
    "metadata.toml",
    "up.postgres.sql",
    "down.postgres.sql",
    "up.mysql.sql",
    "down.mysql.sql",
    lineage::LINEAGE_FILE,
];

/// What [`scan`] found: the migrations in version order, every path it read (so a build script can ask
/// to be rerun when any of them changes), and the warnings about what diesel accepts but workhub would
/// not write.
#[derive(Debug)]
pub struct Scan {
    pub migrations: Vec<Migration>,
    pub paths: Vec<PathBuf>,
    pub findings: Vec<Finding>,
}

/// The folder `diesel setup` writes into every diesel project: its name is diesel's, not a mistake.
const DIESEL_SETUP_FOLDER: &str = "00000000000000_diesel_initial_setup";

/// Reads every migration folder below `dir` by diesel's rules: each folder is a migration and needs an
/// `up.sql`; hidden entries are skipped; files beside the folders, and files inside a folder that the
/// format does not know, are ignored, as diesel ignores them, with a finding for each.
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
    let mut findings = Vec::new();
    // diesel follows a symlinked migration folder; so does this.
    let walker = WalkDir::new(dir)
        .follow_links(true)
        .min_depth(1)
        .max_depth(2)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| !entry.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|err| unreadable(err.to_string()))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_dir();
        if entry.depth() == 1 {
            if is_dir {
                folders.entry(file).or_default();
            } else if file != lineage::HEAD_FILE && !file.to_ascii_lowercase().starts_with("readme")
            {
                findings.push(Finding::new(
                    file,
                    "not a folder, so not a migration: ignored (as diesel ignores it)",
                ));
            }
            continue;
        }
        let folder = entry
            .path()
            .parent()
            .and_then(Path::file_name)
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_dir || !KNOWN_FILES.contains(&file.as_str()) {
            let what = if is_dir { "folder" } else { "file" };
            findings.push(Finding::new(
                format!("{folder}/{file}"),
                format!(
                    "a {what} migrations do not use: ignored (a migration folder holds up.sql, \
                     down.sql, metadata.toml, up.postgres.sql, down.postgres.sql, up.mysql.sql, \
                     down.mysql.sql and lineage.toml)"
                ),
            ));
            continue;
        }
        let bytes = std::fs::read(entry.path())
            .map_err(|err| unreadable(format!("{}: {err}", entry.path().display())))?;
        folders.entry(folder).or_default().insert(file, bytes);
        paths.push(entry.path().to_path_buf());
    }
    let mut migrations = Vec::with_capacity(folders.len());
    for (folder, files) in folders {
        let (migration, folder_findings) = migration_from_files(&folder, files)?;
        migrations.push(migration);
        findings.extend(folder_findings);
    }
    findings.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Scan {
        migrations: ordered(migrations)?,
        paths,
        findings,
    })
}

/// Builds one migration from its folder's files, applying the format's rules; returns the warnings about
/// it beside it.
pub fn migration_from_files(
    folder: &str,
    mut files: BTreeMap<String, Vec<u8>>,
) -> Result<(Migration, Vec<Finding>), SourceError> {
    let FolderName { version, name } = FolderName::parse(folder)?;
    let mut findings = Vec::new();
    if folder != DIESEL_SETUP_FOLDER {
        if let Some(reason) = FolderName::convention_broken(folder) {
            findings.push(Finding::new(
                folder,
                format!(
                    "not named the way generated migrations are: {reason}; \
                     its version is diesel's, `{version}`"
                ),
            ));
        }
    }
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
    let up_mysql = text("up.mysql.sql")?;
    let down_mysql = text("down.mysql.sql")?;
    let lineage = lineage::read(folder, text(lineage::LINEAGE_FILE)?)?;
    let metadata = files
        .remove("metadata.toml")
        .map_or_else(Metadata::default, |bytes| Metadata::read(&bytes));
    findings.extend(
        metadata
            .findings
            .iter()
            .map(|message| Finding::new(folder, message.clone())),
    );
    // diesel loads a script of zero bytes and refuses it when it would run it (the plan refuses
    // it then too); one of comments alone it sends as it is, which SQLite runs as nothing and
    // PostgreSQL refuses as an empty query.
    let mut empty = |file: &str, sql: &str, up: bool| -> Result<(), SourceError> {
        if sql.is_empty() && up {
            findings.push(Finding::new(
                folder,
                format!(
                    "{file} is empty (zero bytes): diesel_cli refuses to run it, and so does \
                     workhub while it is pending"
                ),
            ));
        } else if sql.is_empty() {
            findings.push(Finding::new(
                folder,
                format!("{file} is empty (zero bytes): diesel_cli refuses to revert it"),
            ));
        } else if statements::split(sql, dialect_of(file)).is_empty() {
            findings.push(Finding::new(
                folder,
                format!(
                    "{file} holds no statement, so it runs nothing (diesel_cli on PostgreSQL \
                     fails on it: `Received an empty query`)"
                ),
            ));
        }
        Ok(())
    };
    empty("up.sql", &up, true)?;
    if let Some(down) = &down {
        empty("down.sql", down, false)?;
    }
    if let Some(up_postgres) = &up_postgres {
        empty("up.postgres.sql", up_postgres, true)?;
    }
    if let Some(down_postgres) = &down_postgres {
        empty("down.postgres.sql", down_postgres, false)?;
    }
    if let Some(up_mysql) = &up_mysql {
        empty("up.mysql.sql", up_mysql, true)?;
    }
    if let Some(down_mysql) = &down_mysql {
        empty("down.mysql.sql", down_mysql, false)?;
    }
    let incomplete = |missing: &str| SourceError::IncompleteDialect {
        folder: folder.to_string(),
        missing: missing.to_string(),
    };
    let postgres = match (up_postgres, down_postgres) {
        (None, None) => None,
        (None, Some(_)) => return Err(incomplete("up.postgres.sql")),
        (Some(_), None) if down.is_some() => return Err(incomplete("down.postgres.sql")),
        (Some(up_postgres), down_postgres) => Some(Scripts::new(up_postgres, down_postgres)),
    };
    let mysql = match (up_mysql, down_mysql) {
        (None, None) => None,
        (None, Some(_)) => return Err(incomplete("up.mysql.sql")),
        (Some(_), None) if down.is_some() => return Err(incomplete("down.mysql.sql")),
        (Some(up_mysql), down_mysql) => Some(Scripts::new(up_mysql, down_mysql)),
    };
    let migration = Migration::new(
        folder.to_string(),
        version,
        name,
        metadata.run_in_transaction,
        Scripts::new(up, down),
        postgres,
    )
    .with_mysql(mysql)
    .with_lineage(lineage);
    Ok((migration, findings))
}

/// The dialect a script file is read in: `*.postgres.sql` is PostgreSQL's, `*.mysql.sql` MySQL's;
/// `up.sql` / `down.sql` are read as SQLite reads them (the reading with fewer comment forms, so it
/// finds the most code).
fn dialect_of(file: &str) -> super::Dialect {
    if file.ends_with(".postgres.sql") {
        super::Dialect::Postgres
    } else if file.ends_with(".mysql.sql") {
        super::Dialect::Mysql
    } else {
        super::Dialect::Sqlite
    }
}
