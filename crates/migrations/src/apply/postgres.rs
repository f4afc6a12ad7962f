mod watch;

use std::time::{Duration, Instant};

use diesel::sql_types::{Bool, Integer, Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

use super::backend::{batch, query_history, Backend, BeginError};
use super::handle::Handle;
use super::progress::BlockedNotice;
use super::url::scrub;
use super::DatabaseUrl;
use crate::history::{AppliedMigration, HistoryTables};
use crate::{DatabaseError, Dialect, MigrateError};
use watch::Watch;

/// The advisory lock key workhub migrators take unless told another: the bytes of "workhubm" as an
/// i64.
pub const DEFAULT_LOCK_KEY: i64 = 0x776f_726b_6875_626d;

/// A PostgreSQL database. Migrators exclude each other with a session-level advisory lock on the
/// migration connection itself, so it dies with the connection.
///
/// [`open`](Postgres::open) connects to a URL. [`on`](Postgres::on) migrates through a connection the
/// application already has (one of its r2d2 pool's: `Postgres::on(&mut pooled)`), and hands it back
/// as it found it (see there).
pub struct Postgres<'c> {
    conn: Handle<'c, PgConnection>,
    /// The URL connected to; `None` for a lent connection, which then has no lock-wait watcher.
    url: Option<DatabaseUrl>,
    /// How messages name the database: the URL without its password, or a lent connection's
    /// database name.
    name: String,
    locked: bool,
    /// Whether the lock's query found both history tables. They are never dropped, so what it saw
    /// still holds once the lock is held, and the history is read without asking again.
    tables_seen: bool,
    /// How long a statement may wait on another session's lock (`lock_timeout`).
    timeout: Duration,
    /// The `lock_timeout` this session has, once set.
    lock_timeout_set: Option<Duration>,
    /// A migration's SQL ran outside a transaction, where a `SET` of its own outlives it: the
    /// settings are set again before the next statement.
    unsettled: bool,
    /// The migration connection's server pid, for asking from outside what it waits for; read with
    /// the lock.
    pid: Option<i32>,
    /// Whether server notices are kept out of the output.
    quiet: bool,
    /// The thread that names the sessions a waiting statement waits for, once a run asked for it.
    watch: Option<Watch>,
    /// Whether the watcher saw the last statement wait for another session.
    blocked: bool,
    tables: HistoryTables,
    /// The advisory lock key migrators of this database's history share.
    lock_key: i64,
    /// What the engine changes of a lent connection, as it was lent: restored when it is done.
    found: Option<Found>,
}

/// A lent connection's session settings the engine changes while it migrates.
#[derive(Debug, Clone)]
struct Found {
    lock_timeout: String,
    client_min_messages: String,
    application_name: String,
}

impl std::fmt::Debug for Postgres<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("locked", &self.locked)
            .field("lent", &self.conn.is_lent())
            .finish_non_exhaustive()
    }
}

impl Postgres<'static> {
    /// Connects. The session's settings (quiet notices, the lock timeout) are sent with its first
    /// statement of workhub's: in the lock's own query when a command takes the lock.
    pub fn open(url: &DatabaseUrl) -> Result<Self, MigrateError> {
        let conn = Handle::Own(establish(url)?);
        Ok(Self::new(conn, Some(url.clone()), url.to_string(), None))
    }
}

impl<'c> Postgres<'c> {
    /// Migrates through `conn`, a connection the application opened (or took from its pool). The
    /// migration lock is the same session-level advisory lock [`open`](Postgres::open) takes, on
    /// `conn`'s session, released at the end of every command.
    ///
    /// With no URL, nothing watches a statement that waits on another session's lock (no second
    /// connection is opened): such a wait is not announced and its error does not name the session
    /// it waited for, but the lock timeout still bounds it, as it bounds every wait.
    ///
    /// While this value lives, `conn`'s session runs with the engine's `lock_timeout`,
    /// `client_min_messages` and, while it holds the migration lock, `application_name`. When it
    /// goes, `conn` is handed back as it was found: those settings restored, the advisory lock
    /// released, no transaction open (the engine ends every one it begins, and rolls back one a
    /// migration's own SQL left open). A connection with a transaction open is refused
    /// ([`MigrateError::InTransaction`]), as the engine's transactions would end it.
    pub fn on(conn: &'c mut PgConnection) -> Result<Self, MigrateError> {
        #[derive(QueryableByName)]
        struct Session {
            #[diesel(sql_type = Text)]
            lock_timeout: String,
            #[diesel(sql_type = Text)]
            client_min_messages: String,
            #[diesel(sql_type = Text)]
            application_name: String,
            #[diesel(sql_type = Text)]
            database: String,
            #[diesel(sql_type = Nullable<Text>)]
            transaction: Option<String>,
        }
        let failed = |err| MigrateError::Database {
            doing: "reading the connection's session settings".into(),
            cause: DatabaseError::Query(err),
        };
        let session: Session = diesel::sql_query(format!(
            "SELECT current_setting('lock_timeout') AS lock_timeout, \
             current_setting('client_min_messages') AS client_min_messages, \
             current_setting('application_name') AS application_name, \
             current_database()::text AS database, {TRANSACTION_ID} AS transaction"
        ))
        .get_result(conn)
        .map_err(failed)?;
        let name = format!("PostgreSQL database {}", session.database);
        // A transaction of its own for each statement, unless one is open.
        if session.transaction.is_some()
            && session.transaction == transaction_id(conn).map_err(failed)?
        {
            return Err(MigrateError::InTransaction { database: name });
        }
        let found = Found {
            lock_timeout: session.lock_timeout,
            client_min_messages: session.client_min_messages,
            application_name: session.application_name,
        };
        Ok(Self::new(Handle::Lent(conn), None, name, Some(found)))
    }

    fn new(
        conn: Handle<'c, PgConnection>,
        url: Option<DatabaseUrl>,
        name: String,
        found: Option<Found>,
    ) -> Self {
        Self {
            conn,
            url,
            name,
            locked: false,
            tables_seen: false,
            timeout: Duration::from_secs(60),
            lock_timeout_set: None,
            unsettled: false,
            quiet: false,
            pid: None,
            watch: None,
            blocked: false,
            tables: HistoryTables::DEFAULT,
            lock_key: DEFAULT_LOCK_KEY,
            found,
        }
    }

    /// Restores `application_name` as it was before the lock named this session: the session's
    /// default, or a lent connection's own.
    fn unname(&mut self) -> Result<(), DatabaseError> {
        match &self.found {
            None => batch(&mut *self.conn, "RESET application_name"),
            Some(found) => restore(
                &mut self.conn,
                "SELECT set_config('application_name', $1, false)",
                &[found.application_name.as_str()],
            ),
        }
    }

    /// Restores a lent connection's session settings, once the lock is released (which ends a
    /// failed transaction a migration's own SQL left).
    fn hand_back(&mut self) {
        let Some(found) = self.found.clone() else {
            return;
        };
        if self.lock_timeout_set.is_none() && !self.quiet {
            return;
        }
        let sql = "SELECT set_config('lock_timeout', $1, false), \
                   set_config('client_min_messages', $2, false)";
        let values = [
            found.lock_timeout.as_str(),
            found.client_min_messages.as_str(),
        ];
        if restore(&mut self.conn, sql, &values).is_err() {
            let _ = batch(&mut *self.conn, "ROLLBACK");
            let _ = restore(&mut self.conn, sql, &values);
        }
    }

    /// The `set_config` calls this session still needs, as one select list: server notices ("table
    /// does not exist, skipping") kept out of the output, and the lock timeout.
    fn pending_settings(&self) -> Vec<String> {
        let mut settings = Vec::new();
        if !self.quiet || self.unsettled {
            settings.push("set_config('client_min_messages', 'warning', false)".to_string());
        }
        if self.lock_timeout_set != Some(self.timeout) || self.unsettled {
            // 0 would mean no limit to PostgreSQL, so at least 1 ms.
            let ms = self.timeout.as_millis().clamp(1, i32::MAX as u128);
            settings.push(format!("set_config('lock_timeout', '{ms}', false)"));
        }
        settings
    }

    /// Records that the settings [`pending_settings`](Self::pending_settings) listed took effect.
    fn settled(&mut self) {
        self.quiet = true;
        self.lock_timeout_set = Some(self.timeout);
        self.unsettled = false;
    }

    /// The server's pid of this session, asked for.
    fn backend_pid(&mut self) -> Option<i32> {
        #[derive(QueryableByName)]
        struct Pid {
            #[diesel(sql_type = Integer)]
            pid: i32,
        }
        let rows: Vec<Pid> = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .load(&mut *self.conn)
            .ok()?;
        self.pid = rows.first().map(|row| row.pid);
        self.pid
    }

    /// Sends the pending settings on their own, before a statement that is not the lock's.
    fn settle(&mut self) -> Result<(), DatabaseError> {
        let settings = self.pending_settings();
        if settings.is_empty() {
            return Ok(());
        }
        batch(&mut *self.conn, &format!("SELECT {}", settings.join(", ")))?;
        self.settled();
        Ok(())
    }

    /// The same database, its history kept in `tables`.
    pub fn with_history_tables(mut self, tables: HistoryTables) -> Self {
        self.tables = tables;
        self
    }

    /// The same database, locked with advisory lock `key` instead of [`DEFAULT_LOCK_KEY`]: every
    /// migrator of one history must use the same key, and histories that may run at the same time
    /// different ones.
    pub fn with_lock_key(mut self, key: i64) -> Self {
        self.lock_key = key;
        self
    }

    pub fn connection(&mut self) -> &mut PgConnection {
        // Best effort: a failure here shows again at the caller's own first statement.
        let _ = self.settle();
        &mut self.conn
    }

    /// The name of the database this connection reached.
    pub fn current_database(&mut self) -> Result<String, MigrateError> {
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let rows: Vec<Name> = diesel::sql_query("SELECT current_database()::text AS name")
            .load(self.connection())
            .map_err(|err| MigrateError::Database {
                doing: "asking which database this is".into(),
                cause: DatabaseError::Query(err),
            })?;
        Ok(rows
            .into_iter()
            .next()
            .map(|row| row.name)
            .unwrap_or_default())
    }

    /// Who holds the migration lock, as a waiter should read it: the server backend, what it is doing,
    /// whether the workhub process behind it is still alive, and how to end it. `None` when no
    /// session of this database holds it (any more), or none this user may see.
    fn holder(&mut self) -> Option<String> {
        // Advisory locks are per database: another database's migrator holds its own.
        let sql = format!(
            "{SESSION_COLUMNS} FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted \
             AND l.classid = {} AND l.objid = {} AND l.objsubid = 1 \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (self.lock_key >> 32) as u32,
            self.lock_key as u32
        );
        diesel::sql_query(sql)
            .load::<Session>(&mut *self.conn)
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .map(|row| row.describe())
    }
}

/// What a waiter reads about another session: `pg_stat_activity`'s pid, application name, state and
/// when it entered it.
const SESSION_COLUMNS: &str = "SELECT a.pid, a.application_name AS name, a.state, \
     CAST(date_trunc('second', COALESCE(a.state_change, a.backend_start)) AS TEXT) AS since";

#[derive(QueryableByName)]
struct Session {
    #[diesel(sql_type = Integer)]
    pid: i32,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    state: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    since: Option<String>,
}

impl Session {
    /// The session as a waiter should read it: the server backend, what it is doing, whether the
    /// workhub process behind it is still alive, and how to end it.
    fn describe(&self) -> String {
        let name = self
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or("no application_name");
        let mut text = format!(
            "server pid {} ({name}; {} since {})",
            self.pid,
            self.state.as_deref().unwrap_or("state unknown"),
            self.since.as_deref().unwrap_or("unknown")
        );
        // Only a guess: another pid namespace (a container) or a reused pid can mislead it.
        if let Some(client) = ClientName::parse(name) {
            if client.host == this_host() {
                if std::path::Path::new(&format!("/proc/{}", client.pid)).exists() {
                    text.push_str(&format!(
                        "; its workhub process {} appears to be running",
                        client.pid
                    ));
                } else {
                    text.push_str(&format!(
                        "; its workhub process {} on this host appears gone (no such pid here), but \
                         the server backend still holds the lock{}",
                        client.pid,
                        if self.state.as_deref() == Some("active") {
                            " and runs a statement"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        text.push_str(&format!(
            "; if it is stuck, end it with SELECT pg_terminate_backend({})",
            self.pid
        ));
        text
    }
}

/// What a workhub migrator writes into its session's `application_name` while it holds the lock:
/// `workhub migrate pid <os pid>@<host>`, within PostgreSQL's 63 bytes.
#[derive(Debug, PartialEq, Eq)]
struct ClientName {
    pid: u32,
    host: String,
}

impl ClientName {
    const PREFIX: &'static str = "workhub migrate pid ";

    fn ours() -> String {
        let name = format!("{}{}@{}", Self::PREFIX, std::process::id(), this_host());
        name.chars().take(63).collect()
    }

    fn parse(name: &str) -> Option<Self> {
        let (pid, host) = name.strip_prefix(Self::PREFIX)?.split_once('@')?;
        Some(Self {
            pid: pid.parse().ok()?,
            host: host.to_string(),
        })
    }
}

/// This machine's host name, as the kernel knows it (truncated to what fits an application_name).
fn this_host() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let room = 63 - ClientName::PREFIX.len() - 11;
    if host.is_empty() {
        "unknown".to_string()
    } else {
        host.chars().take(room).collect()
    }
}

impl Backend for Postgres<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn history_tables(&self) -> &HistoryTables {
        &self.tables
    }

    fn wait_at_most(&mut self, timeout: Duration) {
        // A statement waiting on a lock another session holds (the service's long transaction, say)
        // gives up after `timeout`; sent with the session's next statement of workhub's.
        self.timeout = timeout;
    }

    fn lock(
        &mut self,
        timeout: Duration,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<(), MigrateError> {
        #[derive(QueryableByName)]
        struct Locked {
            #[diesel(sql_type = Bool)]
            locked: bool,
            #[diesel(sql_type = Integer)]
            pid: i32,
            #[diesel(sql_type = Bool)]
            tables: bool,
        }
        // Named before the lock is taken (the subquery runs first), so no waiter ever sees the holder
        // without its name; the session's pending settings ride along, and the question whether
        // the history tables exist (a yes cannot go stale; a no is asked again under the lock).
        let mut settings = self.pending_settings();
        settings.insert(
            0,
            format!(
                "set_config('application_name', '{}', false)",
                ClientName::ours().replace('\'', "''")
            ),
        );
        let try_lock = format!(
            "SELECT pg_try_advisory_lock({}) AS locked, pg_backend_pid() AS pid, \
             to_regclass('{}') IS NOT NULL AND to_regclass('{}') IS NOT NULL AS tables \
             FROM (SELECT {}) AS named",
            self.lock_key,
            self.tables.versions(),
            self.tables.companion(),
            settings.join(", ")
        );
        let started = Instant::now();
        let mut told = false;
        let mut unnamed = 0;
        loop {
            let rows: Vec<Locked> =
                diesel::sql_query(&try_lock)
                    .load(&mut *self.conn)
                    .map_err(|err| MigrateError::Stopped {
                        doing: "taking the migration lock".into(),
                        cause: DatabaseError::Query(err),
                        undone: None,
                    })?;
            self.settled();
            if let Some(row) = rows.first() {
                self.pid = Some(row.pid);
                if row.locked {
                    self.tables_seen = row.tables;
                    break;
                }
            }
            let holder = match self.holder() {
                Some(holder) => {
                    unnamed = 0;
                    holder
                }
                // The holder released the lock between the two queries: try again at once. Only
                // if it stays unnamed (its session is hidden from this user) is it "another session".
                None if unnamed < 3 => {
                    unnamed += 1;
                    continue;
                }
                None => "another session".to_string(),
            };
            if started.elapsed() >= timeout {
                let _ = self.unname();
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
        self.tables_seen = false;
        if !self.locked {
            return;
        }
        self.locked = false;
        let unlock = format!("SELECT pg_advisory_unlock({})", self.lock_key);
        if self.found.is_none() {
            let _ = batch(
                &mut *self.conn,
                &format!("{unlock}; RESET application_name"),
            );
            return;
        }
        // A lent connection outlives this value, and so would a lock left on it: a failed
        // transaction (a migration's own BEGIN, outside the engine's) runs nothing, so it is ended
        // first.
        if batch(&mut *self.conn, &unlock).is_err() {
            let _ = batch(&mut *self.conn, "ROLLBACK");
            let _ = batch(&mut *self.conn, &unlock);
        }
        let _ = self.unname();
    }

    fn execute(&mut self, sql: &str) -> Result<(), DatabaseError> {
        self.settle()?;
        batch(&mut *self.conn, sql)
    }

    fn runs_scripts_whole(&self) -> bool {
        true
    }

    fn statement_was_blocked(&self) -> bool {
        self.blocked
    }

    fn script_ran_outside_transaction(&mut self) {
        self.unsettled = true;
    }

    fn watch_waits(&mut self, notice: BlockedNotice) {
        if self.watch.is_none() {
            let Some(pid) = self.pid.or_else(|| self.backend_pid()) else {
                return;
            };
            // A lent connection comes without a URL to open the watcher's own connection with.
            let Some(url) = &self.url else { return };
            let patience = (self.timeout / 2).min(Duration::from_secs(1));
            self.watch = Watch::start(url, pid, patience, notice);
        }
    }

    fn execute_statement(&mut self, folder: &str, sql: &str) -> Result<(), DatabaseError> {
        self.settle()?;
        let Some(watch) = &self.watch else {
            self.blocked = false;
            return batch(&mut *self.conn, sql);
        };
        watch.statement_started(folder);
        let outcome = batch(&mut *self.conn, sql);
        let blocker = watch.statement_ended();
        self.blocked = blocker.is_some();
        match (outcome, blocker) {
            (Err(err), Some(blocker)) => Err(DatabaseError::Blocked {
                blocker,
                source: Box::new(err),
            }),
            (outcome, _) => outcome,
        }
    }

    fn begin(
        &mut self,
        _timeout: Duration,
        _waiting: &mut dyn FnMut(&str),
    ) -> Result<(), BeginError> {
        // PostgreSQL writers wait on row and table locks statement by statement, not at BEGIN.
        self.settle()?;
        Ok(batch(&mut *self.conn, "BEGIN")?)
    }

    fn table_exists(&mut self, table: &str) -> Result<bool, DatabaseError> {
        #[derive(QueryableByName)]
        struct Exists {
            #[diesel(sql_type = Bool)]
            exists: bool,
        }
        self.settle()?;
        let sql = format!("SELECT to_regclass('{table}') IS NOT NULL AS exists");
        let rows: Vec<Exists> = diesel::sql_query(sql).load(&mut *self.conn)?;
        Ok(rows.first().is_some_and(|row| row.exists))
    }

    fn load_history(
        &mut self,
        companion_exists: bool,
    ) -> Result<Vec<AppliedMigration>, MigrateError> {
        query_history(
            &mut *self.conn,
            &self.tables,
            Dialect::Postgres,
            companion_exists,
        )
    }

    fn locks_without_writing(&self) -> bool {
        // A session-level advisory lock lives in the server's memory.
        true
    }

    fn history_and_tables(&mut self) -> Result<(Vec<AppliedMigration>, bool), MigrateError> {
        #[derive(QueryableByName)]
        struct Tables {
            #[diesel(sql_type = Bool)]
            diesel: bool,
            #[diesel(sql_type = Bool)]
            companion: bool,
        }
        if self.locked && self.tables_seen {
            return Ok((self.load_history(true)?, true));
        }
        // Both tables asked about in one round trip (the default asks twice), with the session's
        // pending settings when no lock query took them.
        let settings = self.pending_settings();
        let mut sql = format!(
            "SELECT to_regclass('{}') IS NOT NULL AS diesel, \
             to_regclass('{}') IS NOT NULL AS companion",
            self.tables.versions(),
            self.tables.companion()
        );
        if !settings.is_empty() {
            sql.push_str(&format!(
                " FROM (SELECT {}) AS settings",
                settings.join(", ")
            ));
        }
        let tables: Vec<Tables> = diesel::sql_query(sql)
            .load(&mut *self.conn)
            .map_err(|err| MigrateError::Stopped {
                doing: "reading the migration history".into(),
                cause: DatabaseError::Query(err),
                undone: None,
            })?;
        self.settled();
        match tables.first() {
            Some(tables) if tables.diesel => {
                Ok((self.load_history(tables.companion)?, tables.companion))
            }
            _ => Ok((Vec::new(), false)),
        }
    }
}

impl Drop for Postgres<'_> {
    fn drop(&mut self) {
        self.unlock();
        self.hand_back();
    }
}

/// Runs `sql`, a `SELECT` of `set_config` calls, with `values` bound to its parameters in order.
fn restore(conn: &mut PgConnection, sql: &str, values: &[&str]) -> Result<(), DatabaseError> {
    let mut query = diesel::sql_query(sql).into_boxed();
    for value in values {
        query = query.bind::<Text, _>(*value);
    }
    query.execute(conn).map(drop).map_err(DatabaseError::Query)
}

/// The virtual transaction id of the statement's transaction, as a subquery: every transaction
/// holds a lock on its own, so two statements that see the same one ran in one transaction.
const TRANSACTION_ID: &str = "(SELECT virtualtransaction FROM pg_locks \
     WHERE locktype = 'virtualxid' AND pid = pg_backend_pid() LIMIT 1)";

fn transaction_id(conn: &mut PgConnection) -> diesel::QueryResult<Option<String>> {
    #[derive(QueryableByName)]
    struct Current {
        #[diesel(sql_type = Nullable<Text>)]
        transaction: Option<String>,
    }
    let sql = format!("SELECT {TRANSACTION_ID} AS transaction");
    Ok(diesel::sql_query(sql)
        .get_result::<Current>(conn)?
        .transaction)
}

/// A database created on a PostgreSQL server for one command or test (a scratch database that
/// migrations are replayed into), and dropped again when this value goes away.
pub struct TemporaryDatabase {
    admin: PgConnection,
    name: String,
    url: DatabaseUrl,
}

impl std::fmt::Debug for TemporaryDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TemporaryDatabase {
    /// Creates a uniquely named database on the server `server` points at (any database of it).
    pub fn create(server: &DatabaseUrl, purpose: &str) -> Result<Self, MigrateError> {
        let DatabaseUrl::Postgres(raw) = server else {
            unreachable!("TemporaryDatabase::create takes a postgres URL");
        };
        let mut admin = establish(server)?;
        let name = super::temporary_name(purpose);
        batch(&mut admin, &format!("CREATE DATABASE \"{name}\"")).map_err(|cause| {
            MigrateError::Database {
                doing: format!("creating the temporary database {name} (the user needs CREATEDB)"),
                cause,
            }
        })?;
        let url = DatabaseUrl::Postgres(with_database(raw, &name));
        Ok(Self { admin, name, url })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TemporaryDatabase {
    fn drop(&mut self) {
        let _ = batch(
            &mut self.admin,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
    }
}

/// A connection to `url`. The driver's message is kept with the URL's password removed; the
/// driver's error itself is the source only when its text held no password.
fn establish(url: &DatabaseUrl) -> Result<PgConnection, MigrateError> {
    let DatabaseUrl::Postgres(raw) = url else {
        unreachable!("a PostgreSQL connection takes a postgres URL");
    };
    PgConnection::establish(raw).map_err(|err| {
        let text = err.to_string();
        let message = scrub(text.trim(), url);
        let source = (message == text.trim()).then_some(err);
        MigrateError::Connect {
            url: url.to_string(),
            cause: DatabaseError::Connect { message, source },
        }
    })
}

/// `url` with its database name replaced by `database`, keeping user, host, port and parameters (a
/// `dbname=` parameter, which libpq would prefer to the path, is dropped).
fn with_database(url: &str, database: &str) -> String {
    let url = &without_dbname(url);
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let path_start = rest.find('/').map(|i| scheme_end + i);
    let query_start = url[scheme_end..].find('?').map(|i| scheme_end + i);
    match (path_start, query_start) {
        (Some(p), Some(q)) if p < q => format!("{}/{database}{}", &url[..p], &url[q..]),
        (Some(p), None) => format!("{}/{database}", &url[..p]),
        (_, Some(q)) => format!("{}/{database}{}", &url[..q], &url[q..]),
        (None, None) => format!("{url}/{database}"),
    }
}

fn without_dbname(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with("dbname="))
        .collect();
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::{with_database, ClientName};

    #[test]
    fn the_client_name_round_trips_and_fits() {
        let ours = ClientName::ours();
        assert!(ours.len() <= 63, "{ours}");
        let parsed = ClientName::parse(&ours).unwrap();
        assert_eq!(parsed.pid, std::process::id());
        assert_eq!(ClientName::parse("psql"), None);
    }

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h/app", "x"), "postgres://h/x");
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("postgres://h?user=u", "x"),
            "postgres://h/x?user=u"
        );
        assert_eq!(
            with_database("postgres://h/app?dbname=app&user=u", "x"),
            "postgres://h/x?user=u"
        );
        assert_eq!(
            with_database("postgresql://?dbname=app", "x"),
            "postgresql:///x"
        );
    }
}
