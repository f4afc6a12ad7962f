use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::sql_types::{Integer, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use super::backend::{batch, query_history, Backend, BeginError};
use super::handle::Handle;
use super::lock::{self, FileLock, Identity};
use crate::history::{AppliedMigration, HistoryTables};
use crate::{DatabaseError, Dialect, MigrateError};

/// How long a read may wait on another connection that is writing (the running service, say) before
/// it gives up; a command's [`Backend::wait_at_most`] replaces it with the lock timeout.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write waits silently for another writer before it says it is waiting.
const QUIET_WAIT: Duration = Duration::from_millis(200);

/// A SQLite database file. Migrators exclude each other with a [`FileLock`] on the file itself, which
/// the OS releases when the process dies however it dies.
///
/// [`open`](Sqlite::open) opens the file itself. A file that does not exist yet is not created by
/// opening it: until the first write or lock it reads as an empty database, so a command that
/// refuses, or only reads, leaves no file behind.
///
/// [`on`](Sqlite::on) migrates through a connection the application already has (one of its r2d2
/// pool's: `Sqlite::on(&mut pooled)`), and hands it back as it found it (see there).
pub struct Sqlite<'c> {
    conn: Handle<'c, SqliteConnection>,
    /// The file, or `:memory:` for a database no other connection can open (in-memory, temporary).
    path: PathBuf,
    /// Whether `conn` is the file itself rather than the empty stand-in for a file not created yet.
    on_file: bool,
    busy_timeout: Duration,
    lock: Option<FileLock>,
    /// The identity of the file `conn` opened, to notice a path that changed files.
    opened: Option<Identity>,
    tables: HistoryTables,
    /// What the engine changes of a lent connection, as it was lent: restored when this value goes.
    found: Option<Found>,
}

/// A lent connection's settings the engine changes while it migrates.
#[derive(Debug, Clone, Copy)]
struct Found {
    busy_timeout_ms: i32,
    foreign_keys: bool,
}

impl std::fmt::Debug for Sqlite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("path", &self.path)
            .field("on_file", &self.on_file)
            .field("lent", &self.conn.is_lent())
            .finish_non_exhaustive()
    }
}

impl Sqlite<'static> {
    pub fn open(path: &Path) -> Result<Self, MigrateError> {
        Self::open_file(path).map_err(|cause| MigrateError::Connect {
            url: path.display().to_string(),
            cause,
        })
    }

    fn open_file(path: &Path) -> Result<Self, DatabaseError> {
        let memory = path.as_os_str() == ":memory:";
        if !memory {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if !parent.is_dir() {
                    return Err(DatabaseError::MissingDirectory {
                        directory: parent.to_path_buf(),
                    });
                }
            }
        }
        let exists = |path: &Path| path.try_exists().map_err(DatabaseError::Io);
        let mut on_file = memory || exists(path)?;
        let before = (on_file && !memory).then(|| identity(path)).flatten();
        // An existing file is opened without SQLite's create flag: if it was deleted in between,
        // the open fails instead of creating an empty file.
        let conn = match on_file {
            true if memory => connect(path)?,
            true => match connect_existing(path) {
                Ok(conn) => conn,
                Err(_) if !exists(path)? => {
                    on_file = false;
                    connect(Path::new(":memory:"))?
                }
                Err(err) => return Err(err),
            },
            // Until the file exists, an empty in-memory database stands in for it.
            false => connect(Path::new(":memory:"))?,
        };
        let opened = (on_file && !memory).then(|| identity(path)).flatten();
        // The same file before and after the open, so the connection is on the file `opened` names.
        if on_file && !memory && before != opened {
            return Err(DatabaseError::Replaced);
        }
        Ok(Self {
            conn: Handle::Own(conn),
            path: path.to_path_buf(),
            on_file,
            busy_timeout: BUSY_TIMEOUT,
            lock: None,
            opened,
            tables: HistoryTables::DEFAULT,
            found: None,
        })
    }
}

impl<'c> Sqlite<'c> {
    /// Migrates through `conn`, a connection the application opened (or took from its pool), to the
    /// database it is on: the migration lock is taken on that file, found with `PRAGMA
    /// database_list`. An in-memory or temporary database is this connection's alone, so it takes no
    /// lock: no other process can reach it.
    ///
    /// While this value lives, `conn` runs with foreign keys off (SQLite's table rebuild needs them
    /// off; a generated rebuild checks them itself) and the engine's busy timeout. When it goes,
    /// `conn` is handed back as it was found: those two settings restored, the migration lock
    /// released, no transaction open (the engine ends every one it begins, and rolls back one a
    /// migration's own SQL left open). A connection with a transaction open is refused
    /// ([`MigrateError::InTransaction`]), as the engine's transactions would end it.
    pub fn on(conn: &'c mut SqliteConnection) -> Result<Self, MigrateError> {
        #[derive(QueryableByName)]
        struct Session {
            #[diesel(sql_type = Text)]
            file: String,
            #[diesel(sql_type = Integer)]
            foreign_keys: i32,
            #[diesel(sql_type = Integer)]
            busy_timeout: i32,
        }
        let failed = |cause| MigrateError::Database {
            doing: "reading the connection's database and settings".into(),
            cause,
        };
        let session: Session = diesel::sql_query(
            "SELECT (SELECT file FROM pragma_database_list WHERE name = 'main') AS file, \
             (SELECT foreign_keys FROM pragma_foreign_keys) AS foreign_keys, \
             (SELECT timeout FROM pragma_busy_timeout) AS busy_timeout",
        )
        .get_result(conn)
        .map_err(|err| failed(DatabaseError::Query(err)))?;
        let path = match session.file.as_str() {
            "" => PathBuf::from(":memory:"),
            file => PathBuf::from(file),
        };
        // BEGIN fails inside a transaction, and then the ROLLBACK after it does not run.
        if let Err(err) = batch(conn, "BEGIN; ROLLBACK") {
            return Err(if err.to_string().contains("within a transaction") {
                MigrateError::InTransaction {
                    database: path.display().to_string(),
                }
            } else {
                failed(err)
            });
        }
        let opened = (path.as_os_str() != ":memory:")
            .then(|| identity(&path))
            .flatten();
        let mut db = Self {
            conn: Handle::Lent(conn),
            path,
            on_file: true,
            busy_timeout: BUSY_TIMEOUT,
            lock: None,
            opened,
            tables: HistoryTables::DEFAULT,
            found: Some(Found {
                busy_timeout_ms: session.busy_timeout,
                foreign_keys: session.foreign_keys != 0,
            }),
        };
        migrating(&mut db.conn).map_err(failed)?;
        Ok(db)
    }

    /// The same database, its history kept in `tables`.
    pub fn with_history_tables(mut self, tables: HistoryTables) -> Self {
        self.tables = tables;
        self
    }

    /// Whether the database exists: a file, or `:memory:`.
    pub fn exists(&self) -> bool {
        self.on_file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection to the file, creating the file when it does not exist yet.
    pub fn connection(&mut self) -> Result<&mut SqliteConnection, MigrateError> {
        self.create().map_err(|cause| self.unreachable(cause))?;
        Ok(&mut *self.conn)
    }

    fn unreachable(&self, cause: DatabaseError) -> MigrateError {
        MigrateError::Connect {
            url: self.path.display().to_string(),
            cause,
        }
    }

    /// The connection to read the file through; `None` while the file does not exist (there is
    /// nothing to read, and nothing written through a stand-in would last).
    pub fn reading(&mut self) -> Option<&mut SqliteConnection> {
        self.on_file.then_some(&mut *self.conn)
    }

    /// Opens the file itself, creating it when it does not exist yet.
    fn create(&mut self) -> Result<(), DatabaseError> {
        if !self.on_file {
            // Only an opened database stands in for a file: a lent connection is on its file.
            self.conn = Handle::Own(connect(&self.path)?);
            self.on_file = true;
            self.opened = identity(&self.path);
            self.set_busy_timeout(self.busy_timeout)?;
        }
        Ok(())
    }

    fn set_busy_timeout(&mut self, timeout: Duration) -> Result<(), DatabaseError> {
        batch(
            &mut *self.conn,
            &format!(
                "PRAGMA busy_timeout = {}",
                timeout.as_millis().min(i32::MAX as u128)
            ),
        )
    }

    /// Keeps `lock` while this connection is on the file it locks: not if the path changed files
    /// meanwhile (then the lock is released again).
    fn keep(&mut self, lock: FileLock) -> Result<(), MigrateError> {
        if !lock.still_names(&self.path) || identity(&self.path) != self.opened {
            return Err(MigrateError::FileReplaced {
                path: self.path.clone(),
            });
        }
        self.lock = Some(lock);
        Ok(())
    }

    fn writable(&mut self) -> Result<&mut SqliteConnection, DatabaseError> {
        self.create()?;
        Ok(&mut *self.conn)
    }
}

impl Drop for Sqlite<'_> {
    fn drop(&mut self) {
        // The lock goes with `self.lock`; a lent connection is handed back as it was lent.
        let Some(found) = self.found else { return };
        // Only a migration's own BEGIN, in one run outside a transaction that then failed, can have
        // left one open (the engine ends its own); with none open this ROLLBACK fails harmlessly.
        let _ = batch(&mut *self.conn, "ROLLBACK");
        let _ = batch(
            &mut *self.conn,
            &format!(
                "PRAGMA foreign_keys = {}; PRAGMA busy_timeout = {};",
                if found.foreign_keys { "ON" } else { "OFF" },
                found.busy_timeout_ms
            ),
        );
    }
}

fn connect(path: &Path) -> Result<SqliteConnection, DatabaseError> {
    connect_to(&path.to_string_lossy())
}

/// Opens the existing file at `path`, never creating it: a `file:` URI with `mode=rw`.
fn connect_existing(path: &Path) -> Result<SqliteConnection, DatabaseError> {
    let text = path.to_string_lossy();
    // An empty authority before an absolute path, so a path starting `//` is not read as a host.
    let mut uri = String::from(if text.starts_with('/') {
        "file://"
    } else {
        "file:"
    });
    for c in text.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=rw");
    connect_to(&uri)
}

fn connect_to(target: &str) -> Result<SqliteConnection, DatabaseError> {
    // A file path holds no password: the driver's error is kept whole.
    let mut conn = SqliteConnection::establish(target).map_err(|err| DatabaseError::Connect {
        message: err.to_string(),
        source: Some(err),
    })?;
    migrating(&mut conn)?;
    Ok(conn)
}

/// Sets what a connection migrates with: the engine's busy timeout, and foreign keys off. diesel
/// turns them on; migrations run with them off, as SQLite's table rebuild requires (a generated
/// rebuild checks them itself before it commits).
fn migrating(conn: &mut SqliteConnection) -> Result<(), DatabaseError> {
    batch(
        conn,
        &format!(
            "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = OFF;",
            BUSY_TIMEOUT.as_millis()
        ),
    )
}

fn identity(path: &Path) -> Option<Identity> {
    lock::identity(path).ok()
}

impl Backend for Sqlite<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn wait_at_most(&mut self, timeout: Duration) {
        self.busy_timeout = timeout;
        let _ = self.set_busy_timeout(timeout);
    }

    fn lock(
        &mut self,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<(), MigrateError> {
        if self.path.as_os_str() != ":memory:" {
            // The lock is on the file itself, so the file must exist first.
            self.create().map_err(|cause| self.unreachable(cause))?;
            let lock = FileLock::acquire(&self.path, timeout, waiting)?;
            self.keep(lock)?;
        }
        Ok(())
    }

    fn lock_to_read(
        &mut self,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<(), MigrateError> {
        if self.path.as_os_str() != ":memory:" && self.on_file {
            let lock = FileLock::acquire_to_read(&self.path, timeout, waiting)?;
            self.keep(lock)?;
        }
        Ok(())
    }

    fn unlock(&mut self) {
        self.lock = None;
    }

    fn execute(&mut self, sql: &str) -> Result<(), DatabaseError> {
        batch(self.writable()?, sql)
    }

    fn begin(
        &mut self,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<(), BeginError> {
        // IMMEDIATE takes the write lock up front, so a concurrent writer cannot deadlock the
        // migration. Another connection that is writing makes it wait: quietly at first, then saying
        // so, never longer than `timeout` in all.
        self.writable()?;
        let started = Instant::now();
        self.set_busy_timeout(QUIET_WAIT.min(timeout))?;
        let mut result = batch(&mut *self.conn, "BEGIN IMMEDIATE");
        if result.as_ref().is_err_and(DatabaseError::is_busy) && started.elapsed() < timeout {
            waiting(&self.name());
            self.set_busy_timeout(timeout.saturating_sub(started.elapsed()))?;
            result = batch(&mut *self.conn, "BEGIN IMMEDIATE");
        }
        let restored = self.set_busy_timeout(self.busy_timeout);
        match result {
            Err(err) if err.is_busy() => Err(BeginError::Busy {
                waited: started.elapsed(),
            }),
            Err(err) => Err(BeginError::Failed(err)),
            Ok(()) => Ok(restored?),
        }
    }

    fn history_tables(&self) -> &HistoryTables {
        &self.tables
    }

    fn table_exists(&mut self, table: &str) -> Result<bool, DatabaseError> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = Integer)]
            n: i32,
        }
        let sql = format!(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
        );
        let rows: Vec<Count> = diesel::sql_query(sql)
            .load(&mut *self.conn)
            .map_err(|err| classify(&self.path, err))?;
        Ok(rows.first().is_some_and(|row| row.n > 0))
    }

    fn load_history(
        &mut self,
        companion_exists: bool,
    ) -> Result<Vec<AppliedMigration>, MigrateError> {
        query_history(
            &mut *self.conn,
            &self.tables,
            Dialect::Sqlite,
            companion_exists,
        )
    }

    fn clear_user_version(&mut self) -> Result<Option<&'static str>, DatabaseError> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Integer)]
            user_version: i32,
        }
        if !self.on_file {
            return Ok(None);
        }
        let row: Row = diesel::sql_query("PRAGMA user_version").get_result(&mut *self.conn)?;
        Ok((row.user_version != 0).then_some("PRAGMA user_version = 0"))
    }
}

/// A failed query on the file at `path`: SQLite's "file is not a database" names no file, so that
/// one becomes [`DatabaseError::NotADatabase`], naming it.
pub(crate) fn classify(path: &Path, err: diesel::result::Error) -> DatabaseError {
    if err.to_string().contains("file is not a database") {
        DatabaseError::NotADatabase {
            path: path.to_path_buf(),
            source: err,
        }
    } else {
        DatabaseError::Query(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_created_by_the_first_change_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let mut db = Sqlite::open(&path).unwrap();
        assert!(db.history().unwrap().is_empty());
        assert!(!db.table_exists("anything").unwrap());
        assert!(!path.exists(), "reading creates nothing");
        db.execute("CREATE TABLE a (id INTEGER)").unwrap();
        assert!(path.exists() && db.exists());
    }

    #[test]
    fn a_connection_for_writing_is_the_file_itself() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let mut db = Sqlite::open(&path).unwrap();
        assert!(db.reading().is_none(), "no file, nothing to read");
        db.connection()
            .unwrap()
            .batch_execute("CREATE TABLE kept (id INTEGER)")
            .unwrap();
        let mut again = Sqlite::open(&path).unwrap();
        assert!(
            again.table_exists("kept").unwrap(),
            "the write reached the file"
        );
        assert!(again.reading().is_some());
    }

    #[test]
    fn an_existing_file_is_opened_without_creating_one() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.db");
        assert!(connect_existing(&gone).is_err());
        assert!(!gone.exists(), "a vanished file is not re-created");
        // The URI form keeps names SQLite's URIs give a meaning to.
        let odd = dir.path().join("a%20b?c#d.db");
        Sqlite::open(&odd)
            .unwrap()
            .execute("CREATE TABLE a (id INTEGER)")
            .unwrap();
        let mut db = Sqlite::open(&odd).unwrap();
        assert!(db.exists() && db.table_exists("a").unwrap());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a%20b?c#d.db".to_string()]);
    }

    #[test]
    fn a_file_replaced_before_the_lock_is_taken_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        Sqlite::open(&path)
            .unwrap()
            .execute("CREATE TABLE a (id INTEGER)")
            .unwrap();
        let mut db = Sqlite::open(&path).unwrap();
        let restored = dir.path().join("restored.db");
        std::fs::write(&restored, b"").unwrap();
        std::fs::rename(&restored, &path).unwrap();
        let err = db.lock(Duration::ZERO, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("deleted or replaced"), "{err}");
        assert!(db.lock.is_none());
    }
}
