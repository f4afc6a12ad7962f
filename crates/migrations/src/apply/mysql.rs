//! MySQL and MariaDB, through diesel's MySQL backend (the `mysql` feature).
//!
//! Migrators exclude each other with a named user lock, `GET_LOCK`, on the migration connection: the
//! server releases it when that connection closes, so a migrator that dies (kill -9) never leaves it
//! held. Every command releases it itself (`RELEASE_LOCK`) on every path.
//!
//! MySQL commits each DDL statement implicitly, so a migration cannot roll back: every migration runs
//! statement by statement under a run record (see [`history::run`](crate::history::run)), and its
//! history rows are written, with the record deleted, in one transaction once its last statement
//! has run. What it sends around each statement is [`mysql_sql`](super::mysql_sql)'s, which the
//! offline script prints too.

use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::{Connection, MysqlConnection, QueryableByName, RunQueryDsl};

use super::backend::{batch, query_history, Backend, BeginError, RunRecord};
use super::mysql_sql::{self, lock_name, Tracker};
use super::url::scrub;
use super::DatabaseUrl;
use crate::history::{run, AppliedMigration, HistoryTables, InterruptedRun};
use crate::plan::Direction;
use crate::{DatabaseError, Dialect, MigrateError};

/// A MySQL or MariaDB database, on a connection of its own.
pub struct Mysql {
    conn: MysqlConnection,
    name: String,
    /// The user lock's name: one per database, whatever its history tables are called.
    lock_name: String,
    locked: bool,
    tables: HistoryTables,
    /// The migration running under the record.
    run: Tracker,
    /// The record the last migration's history rows wrote for the migration after it.
    next: Option<InterruptedRun>,
}

impl std::fmt::Debug for Mysql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mysql")
            .field("name", &self.name)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
}

impl Mysql {
    /// Connects to the database `url` names (a `mysql://` URL that names a database).
    pub fn open(url: &DatabaseUrl) -> Result<Self, MigrateError> {
        let conn = establish(url)?;
        let mut db = Self {
            conn,
            name: url.to_string(),
            lock_name: String::new(),
            locked: false,
            tables: HistoryTables::default(),
            run: Tracker::default(),
            next: None,
        };
        let database = db
            .current_database()
            .map_err(|cause| MigrateError::Connect {
                url: url.to_string(),
                cause,
            })?;
        let Some(database) = database else {
            return Err(MigrateError::BadUrl {
                url: url.to_string(),
                reason: "it names no database: add one, as in mysql://user@host:3306/DATABASE"
                    .into(),
            });
        };
        db.lock_name = lock_name(&database);
        Ok(db)
    }

    /// The same database with its history kept in `tables`.
    pub fn with_tables(mut self, tables: HistoryTables) -> Self {
        self.tables = tables;
        self
    }

    /// The connection, for reading the schema and for an application's own queries on it
    /// (workhub's `/health` asks it whether the database changed).
    pub fn connection(&mut self) -> &mut MysqlConnection {
        &mut self.conn
    }

    /// The database the connection reached (`None` when it names none).
    pub fn current_database(&mut self) -> Result<Option<String>, DatabaseError> {
        let row: Name =
            diesel::sql_query("SELECT DATABASE() AS name").get_result(&mut self.conn)?;
        Ok(row.name)
    }

    /// Who holds the migration lock: its connection id, user and host, and what it runs.
    fn holder(&mut self) -> Option<String> {
        #[derive(QueryableByName)]
        struct Holder {
            #[diesel(sql_type = BigInt)]
            id: i64,
            #[diesel(sql_type = Nullable<Text>)]
            who: Option<String>,
        }
        // Without the PROCESS privilege another user's connection is not in PROCESSLIST: it is
        // named by its id alone.
        let sql = "SELECT CAST(l.id AS SIGNED) AS id, CONCAT(p.USER, '@', p.HOST) AS who \
                   FROM (SELECT IS_USED_LOCK(?) AS id) l \
                   LEFT JOIN information_schema.PROCESSLIST p ON p.ID = l.id \
                   WHERE l.id IS NOT NULL";
        let rows: Vec<Holder> = diesel::sql_query(sql)
            .bind::<Text, _>(&self.lock_name)
            .load(&mut self.conn)
            .ok()?;
        let row = rows.into_iter().next()?;
        Some(match row.who {
            Some(who) => format!("connection {} ({who})", row.id),
            None => format!("connection {}", row.id),
        })
    }

    fn table_named(&mut self, table: &str) -> Result<bool, DatabaseError> {
        let (schema, name) = match table.split_once('.') {
            Some((schema, name)) => (Some(schema), name),
            None => (None, table),
        };
        let row: Number = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
        )
        .bind::<Nullable<Text>, _>(schema)
        .bind::<Text, _>(name)
        .get_result(&mut self.conn)?;
        Ok(row.n.unwrap_or(0) > 0)
    }
}

impl Backend for Mysql {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn history_tables(&self) -> &HistoryTables {
        &self.tables
    }

    fn wait_at_most(&mut self, timeout: Duration) {
        // A statement waiting on another session's metadata lock (an ALTER behind the service's
        // long transaction) gives up after `timeout`, as on the other backends.
        let seconds = timeout.as_secs().max(1);
        let _ = batch(
            &mut self.conn,
            &format!("SET SESSION lock_wait_timeout = {seconds}"),
        );
    }

    fn lock(
        &mut self,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<(), MigrateError> {
        let started = Instant::now();
        let mut told = false;
        let mut unnamed = 0;
        loop {
            let row: Number = diesel::sql_query("SELECT GET_LOCK(?, 0) AS n")
                .bind::<Text, _>(&self.lock_name)
                .get_result(&mut self.conn)
                .map_err(|err| MigrateError::Stopped {
                    doing: "taking the migration lock".into(),
                    cause: DatabaseError::Query(err),
                    undone: None,
                })?;
            if row.n == Some(1) {
                break;
            }
            let holder = match self.holder() {
                Some(holder) => {
                    unnamed = 0;
                    holder
                }
                // Released between the two queries: the next try takes it at once. Only if it
                // stays unnamed (a user without the PROCESS privilege sees no other user's
                // connections) is it "another connection".
                None if unnamed < 3 => {
                    unnamed += 1;
                    continue;
                }
                None => "another connection".to_string(),
            };
            if started.elapsed() >= timeout {
                return Err(MigrateError::LockTimeout {
                    holder,
                    waited: started.elapsed(),
                });
            }
            if !told {
                waiting(&holder);
                told = true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.locked = true;
        Ok(())
    }

    fn unlock(&mut self) {
        if !self.locked {
            return;
        }
        self.locked = false;
        // A transaction left open by a failure is ended first; RELEASE_LOCK is not transactional.
        let _ = batch(&mut self.conn, "ROLLBACK");
        let released = diesel::sql_query("SELECT RELEASE_LOCK(?) AS n")
            .bind::<Text, _>(&self.lock_name)
            .execute(&mut self.conn);
        if released.is_err() {
            // The connection is broken: the server drops the lock when it notices it closed.
            let _ = batch(&mut self.conn, "DO 0");
        }
    }

    fn execute(&mut self, sql: &str) -> Result<(), DatabaseError> {
        batch(&mut self.conn, sql)
    }

    fn begin(
        &mut self,
        _timeout: Duration,
        _waiting: &mut dyn FnMut(&str),
    ) -> Result<(), BeginError> {
        Ok(batch(&mut self.conn, "START TRANSACTION")?)
    }

    fn table_exists(&mut self, table: &str) -> Result<bool, DatabaseError> {
        self.table_named(table)
    }

    fn history_and_tables(&mut self) -> Result<(Vec<AppliedMigration>, bool), MigrateError> {
        let failed = |cause| MigrateError::Stopped {
            doing: "reading the migration history".into(),
            cause,
            undone: None,
        };
        let tables = self.tables.clone();
        if !self.table_named(tables.versions()).map_err(failed)? {
            return Ok((Vec::new(), false));
        }
        let companion = self.table_named(tables.companion()).map_err(failed)?;
        let runs = self.table_named(&tables.runs()).map_err(failed)?;
        Ok((self.load_history(companion)?, companion && runs))
    }

    fn load_history(
        &mut self,
        companion_exists: bool,
    ) -> Result<Vec<AppliedMigration>, MigrateError> {
        query_history(
            &mut self.conn,
            &self.tables,
            Dialect::Mysql,
            companion_exists,
        )
    }

    fn locks_without_writing(&self) -> bool {
        // A user lock lives in the server's memory.
        true
    }

    fn create_history(&self) -> String {
        format!(
            "{};\n{}",
            self.tables.create(),
            run::create(&self.tables.runs())
        )
    }

    fn run_record(&mut self) -> Option<&mut dyn RunRecord> {
        Some(self)
    }
}

impl RunRecord for Mysql {
    fn read(&mut self) -> Result<Option<InterruptedRun>, DatabaseError> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            version: String,
            #[diesel(sql_type = Text)]
            folder: String,
            #[diesel(sql_type = Text)]
            direction: String,
            #[diesel(sql_type = Integer)]
            statements: i32,
            #[diesel(sql_type = Integer)]
            done: i32,
            #[diesel(sql_type = Text)]
            done_checksum: String,
            #[diesel(sql_type = Nullable<Text>)]
            failed_statement: Option<String>,
            #[diesel(sql_type = Nullable<Text>)]
            error: Option<String>,
            #[diesel(sql_type = Nullable<Text>)]
            started_at: Option<String>,
        }
        let table = self.tables.runs();
        if !self.table_named(&table)? {
            return Ok(None);
        }
        let rows: Vec<Row> = diesel::sql_query(format!(
            "SELECT version, folder, direction, statements, done, done_checksum, \
             failed_statement, error, CAST(started_at AS CHAR) AS started_at \
             FROM {table} ORDER BY started_at, version"
        ))
        .load(&mut self.conn)?;
        Ok(rows.into_iter().next().map(|row| InterruptedRun {
            version: row.version,
            folder: row.folder,
            direction: if row.direction == "down" {
                Direction::Down
            } else {
                Direction::Up
            },
            statements: row.statements.max(0) as usize,
            done: row.done.max(0) as usize,
            done_checksum: row.done_checksum,
            by_script: row.failed_statement.is_none()
                && row.error.as_deref() == Some(run::BY_SCRIPT),
            failure: match (row.failed_statement, row.error) {
                (Some(statement), Some(error)) => Some((statement, error)),
                _ => None,
            },
            started_at: row.started_at,
        }))
    }

    fn start(&mut self, run: &InterruptedRun) -> Result<(), DatabaseError> {
        let written = self.next.take();
        self.run = Tracker::new(run.statements);
        if written.as_ref() == Some(run) {
            return Ok(());
        }
        batch(&mut self.conn, &mysql_sql::start(&self.tables.runs(), run))
    }

    fn statement(
        &mut self,
        version: &str,
        sql: &str,
        done: usize,
        done_checksum: &str,
    ) -> Result<(), DatabaseError> {
        let trip = self
            .run
            .statement(&self.tables.runs(), version, sql, done, done_checksum);
        let ran = batch(&mut self.conn, &trip.sql());
        if ran.is_err() && trip.begins {
            // The failed statement's own changes are undone by the server; the rest here.
            let _ = batch(&mut self.conn, "ROLLBACK");
        }
        ran
    }

    fn failed(&mut self, version: &str, statement: &str, error: &str) -> Result<(), DatabaseError> {
        diesel::sql_query(format!(
            "UPDATE {} SET failed_statement = ?, error = ? WHERE version = ?",
            self.tables.runs()
        ))
        .bind::<Text, _>(statement)
        .bind::<Text, _>(error)
        .bind::<Text, _>(version)
        .execute(&mut self.conn)?;
        if self.run.commits_records() {
            // With autocommit off the update would wait for a commit the failed run never makes;
            // the failed DDL statement committed what the migration had open before it.
            batch(&mut self.conn, "COMMIT")?;
        }
        Ok(())
    }

    fn finish(&self, version: &str) -> String {
        mysql_sql::finish(&self.tables.runs(), version)
    }

    fn record_done(
        &mut self,
        version: &str,
        history: &str,
        next: Option<&InterruptedRun>,
    ) -> Result<(), DatabaseError> {
        // One round trip; the transaction the last statement left open carries on.
        let sql = self.run.done(&self.tables.runs(), version, history, next);
        match batch(&mut self.conn, &sql) {
            Ok(()) => {
                self.next = next.cloned();
                Ok(())
            }
            Err(err) => {
                let _ = batch(&mut self.conn, "ROLLBACK");
                Err(err)
            }
        }
    }
}

impl Drop for Mysql {
    fn drop(&mut self) {
        self.unlock();
    }
}

/// A database created on a MySQL server for one test or command, dropped when this value goes.
pub struct TemporaryMysqlDatabase {
    admin: MysqlConnection,
    name: String,
    url: DatabaseUrl,
}

impl std::fmt::Debug for TemporaryMysqlDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryMysqlDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TemporaryMysqlDatabase {
    /// Creates a uniquely named database on the server `server` points at.
    pub fn create(server: &DatabaseUrl, purpose: &str) -> Result<Self, MigrateError> {
        let DatabaseUrl::Mysql(raw) = server else {
            unreachable!("TemporaryMysqlDatabase::create takes a mysql URL");
        };
        let mut admin = establish(server)?;
        let name = super::temporary_name(purpose);
        batch(&mut admin, &format!("CREATE DATABASE `{name}`")).map_err(|cause| {
            MigrateError::Database {
                doing: format!("creating the temporary database {name}"),
                cause,
            }
        })?;
        let url = DatabaseUrl::Mysql(with_database(raw, &name));
        Ok(Self { admin, name, url })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TemporaryMysqlDatabase {
    fn drop(&mut self) {
        let _ = batch(
            &mut self.admin,
            &format!("DROP DATABASE IF EXISTS `{}`", self.name),
        );
    }
}

/// `url` with its path (the database) replaced by `database`, keeping its parameters.
fn with_database(url: &str, database: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A connection to `url`, the driver's message kept with the URL's password removed.
fn establish(url: &DatabaseUrl) -> Result<MysqlConnection, MigrateError> {
    let DatabaseUrl::Mysql(raw) = url else {
        unreachable!("a MySQL connection takes a mysql URL");
    };
    MysqlConnection::establish(raw).map_err(|err| {
        let text = err.to_string();
        let message = scrub(text.trim(), url);
        let source = (message == text.trim()).then_some(err);
        MigrateError::Connect {
            url: url.to_string(),
            cause: DatabaseError::Connect { message, source },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{with_database, Mysql, Name, TemporaryMysqlDatabase};
    use crate::apply::mysql_sql::LOCK_NAME_SQL;
    use crate::testing::mysql_server;
    use diesel::RunQueryDsl;

    /// The offline script computes the lock's name on the server: the name a run takes, for a
    /// database whose name fits in it and for one too long for it.
    #[test]
    fn a_scripts_lock_is_the_one_a_run_takes() {
        let Some(server) = mysql_server("a_scripts_lock_is_the_one_a_run_takes") else {
            return;
        };
        for purpose in ["lock", "offline_lock_name_past_the_limit"] {
            let database = TemporaryMysqlDatabase::create(&server, purpose).unwrap();
            let mut db = Mysql::open(database.url()).unwrap();
            let row: Name = diesel::sql_query(format!("SELECT {LOCK_NAME_SQL} AS name"))
                .get_result(&mut db.conn)
                .unwrap();
            assert_eq!(
                row.name.as_deref(),
                Some(db.lock_name.as_str()),
                "{purpose}"
            );
            let plain = format!("workhub_migrate:{}", database.name());
            assert_eq!(db.lock_name == plain, purpose == "lock", "{}", db.lock_name);
        }
    }

    #[test]
    fn replaces_only_the_database() {
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/app?ssl_mode=disabled", "x"),
            "mysql://root@127.0.0.1:3306/x?ssl_mode=disabled"
        );
        assert_eq!(with_database("mysql://h", "x"), "mysql://h/x");
    }
}
