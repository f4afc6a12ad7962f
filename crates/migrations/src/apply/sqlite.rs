use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::sql_types::Integer;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use super::backend::{batch, query_history, Backend};
use crate::history::fingerprint::Header;
use crate::history::AppliedMigration;
use crate::{Dialect, MigrateError};

/// How long SQLite waits on a write lock held by another connection (the running service, say).
const BUSY_TIMEOUT_MS: u32 = 30_000;
/// How long storing the head fingerprint, a cache, may wait on another writer.
const FINGERPRINT_BUSY_TIMEOUT_MS: u32 = 250;

/// A SQLite database file. SQLite has no advisory locks, so migrators exclude each other with a
/// [`FileLock`] on a sidecar file, which the OS releases when the process dies however it dies.
pub struct Sqlite {
    conn: SqliteConnection,
    path: PathBuf,
    lock: Option<FileLock>,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Self, MigrateError> {
        let shown = path.display().to_string();
        let connect = |message: String| MigrateError::Connect {
            url: shown.clone(),
            message,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                return Err(connect(format!(
                    "the directory {} does not exist",
                    parent.display()
                )));
            }
        }
        let mut conn = SqliteConnection::establish(&path.to_string_lossy())
            .map_err(|err| connect(err.to_string()))?;
        // diesel turns foreign keys on; migrations run with them off, as SQLite's table rebuild
        // requires (a generated rebuild checks them itself before it commits).
        batch(
            &mut conn,
            &format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = OFF;"),
        )
        .map_err(connect)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            lock: None,
        })
    }

    pub fn connection(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Backend for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn lock(
        &mut self,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<(), MigrateError> {
        if self.path.as_os_str() != ":memory:" {
            self.lock = Some(FileLock::acquire(&self.path, timeout, waiting)?);
        }
        Ok(())
    }

    fn unlock(&mut self) {
        self.lock = None;
    }

    fn execute(&mut self, sql: &str) -> Result<(), String> {
        batch(&mut self.conn, sql)
    }

    fn begin(&mut self) -> Result<(), String> {
        // IMMEDIATE takes the write lock up front, so a concurrent writer cannot deadlock the migration.
        batch(&mut self.conn, "BEGIN IMMEDIATE")
    }

    fn table_exists(&mut self, table: &str) -> Result<bool, String> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = Integer)]
            n: i32,
        }
        let sql = format!(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
        );
        let rows: Vec<Count> = diesel::sql_query(sql)
            .load(&mut self.conn)
            .map_err(|err| err.to_string())?;
        Ok(rows.first().is_some_and(|row| row.n > 0))
    }

    fn load_history(
        &mut self,
        companion_exists: bool,
    ) -> Result<Vec<AppliedMigration>, MigrateError> {
        query_history(&mut self.conn, companion_exists)
    }

    fn header(&mut self) -> Result<Option<Header>, String> {
        Ok(Some(Header {
            schema_cookie: schema_cookie(&mut self.conn)?,
            fingerprint: stored_fingerprint(&mut self.conn)?,
        }))
    }

    fn store_fingerprint(&mut self, fingerprint: &dyn Fn(i32) -> i32) -> Result<(), String> {
        batch(
            &mut self.conn,
            &format!("PRAGMA busy_timeout = {FINGERPRINT_BUSY_TIMEOUT_MS}"),
        )?;
        let stored = self.begin().and_then(|()| {
            let written = schema_cookie(&mut self.conn).and_then(|cookie| {
                batch(
                    &mut self.conn,
                    &format!("PRAGMA user_version = {}", fingerprint(cookie)),
                )
            });
            if let Err(message) = written.and_then(|()| batch(&mut self.conn, "COMMIT")) {
                let _ = batch(&mut self.conn, "ROLLBACK");
                return Err(message);
            }
            Ok(())
        });
        batch(
            &mut self.conn,
            &format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"),
        )?;
        stored
    }

    fn withdraw_fingerprint_sql(&self) -> Option<&'static str> {
        Some("PRAGMA user_version = 0")
    }
}

// Header pragmas: SQLite answers them from the file header, without parsing the schema.

fn schema_cookie(conn: &mut SqliteConnection) -> Result<i32, String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Integer)]
        schema_version: i32,
    }
    let row: Row = diesel::sql_query("PRAGMA schema_version")
        .get_result(conn)
        .map_err(|err| err.to_string())?;
    Ok(row.schema_version)
}

fn stored_fingerprint(conn: &mut SqliteConnection) -> Result<i32, String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Integer)]
        user_version: i32,
    }
    let row: Row = diesel::sql_query("PRAGMA user_version")
        .get_result(conn)
        .map_err(|err| err.to_string())?;
    Ok(row.user_version)
}

/// The exclusive OS lock on `<database>-migrate-lock` that migrators of one SQLite file share. The
/// file names its holder (pid and since when) for whoever waits; it is released on drop or death.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    pub fn acquire(
        database: &Path,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<Self, MigrateError> {
        let mut name = database.as_os_str().to_owned();
        name.push("-migrate-lock");
        let path = PathBuf::from(name);
        let failed = |err: std::io::Error| MigrateError::Database {
            doing: format!("opening the lock file {}", path.display()),
            message: err.to_string(),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(failed)?;
        let started = Instant::now();
        let mut told = false;
        let mut polls = 0u32;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    // The holder writes its name just after it takes the lock: a waiter that looks in
                    // between finds the file empty, so it waits a little for the name before saying
                    // "another process".
                    let holder = read_holder(&mut file);
                    polls += 1;
                    if started.elapsed() >= timeout {
                        return Err(MigrateError::LockTimeout {
                            holder: holder.unwrap_or_else(|| UNNAMED_HOLDER.to_string()),
                            waited: started.elapsed(),
                        });
                    }
                    if !told && (holder.is_some() || polls >= UNNAMED_HOLDER_POLLS) {
                        waiting(holder.as_deref().unwrap_or(UNNAMED_HOLDER));
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(TryLockError::Error(err)) => return Err(failed(err)),
            }
        }
        // Tell the next waiter who holds it; a failure here only loses that courtesy.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let _ = file.set_len(0).and_then(|()| {
            file.rewind()?;
            write!(file, "pid {} since unix time {since}", std::process::id())
        });
        Ok(Self { file })
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// How a lock holder that has not written its name is described.
const UNNAMED_HOLDER: &str = "another process";
/// How many polls (25 ms apart) a waiter gives the holder to write its name before it reports the
/// wait without one.
const UNNAMED_HOLDER_POLLS: u32 = 40;

/// The name the lock holder wrote in the lock file, if it has written one yet.
fn read_holder(file: &mut File) -> Option<String> {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}
