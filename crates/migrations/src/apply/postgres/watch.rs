//! Watching the migration connection from outside: a statement that waits on a lock another session
//! holds cannot say so itself (its connection is busy waiting), so a thread with a second connection
//! asks the server (`pg_blocking_pids`) about any statement still running after a moment, and
//! announces the sessions it waits for. The migrating thread only marks when a statement starts and
//! ends, so a statement that does not wait costs two uncontended mutex operations.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

use super::{Session, SESSION_COLUMNS};
use crate::apply::backend::batch;
use crate::apply::progress::BlockedNotice;
use crate::apply::DatabaseUrl;

/// How often the watching thread looks at the running statement.
const POLL: Duration = Duration::from_millis(100);
/// How often a statement that waits for nobody (it is merely slow) is asked about again.
const RECHECK: Duration = Duration::from_secs(1);
/// How long dropping the watch waits for the thread to end, at most.
const FAREWELL: Duration = Duration::from_secs(5);

/// The migrating thread's side: marks statements, and learns whom a finished one waited for.
#[derive(Debug)]
pub(super) struct Watch {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    running: Option<Running>,
    started: u64,
    stop: bool,
    /// The watching thread has returned (and dropped its connection).
    done: bool,
}

#[derive(Debug)]
struct Running {
    number: u64,
    folder: String,
    since: Instant,
    checked: Option<Instant>,
    blocker: Option<String>,
}

impl Watch {
    /// Starts the watching thread for the connection with server pid `pid` on `url`: a statement
    /// still running after `patience` is asked about, and `notice` hears whom it waits for.
    pub(super) fn start(
        url: &DatabaseUrl,
        pid: i32,
        patience: Duration,
        notice: BlockedNotice,
    ) -> Option<Self> {
        let DatabaseUrl::Postgres(raw) = url else {
            return None;
        };
        let shared = Arc::new(Shared::default());
        let watcher = Watcher {
            shared: Arc::clone(&shared),
            url: raw.clone(),
            pid,
            patience,
            notice,
            conn: None,
            unavailable: false,
        };
        std::thread::Builder::new()
            .name("workhub-watch".into())
            .spawn(move || watcher.run())
            .ok()?;
        Some(Self { shared })
    }

    /// A statement of migration `folder` is about to run.
    pub(super) fn statement_started(&self, folder: &str) {
        let mut state = self.shared.lock();
        state.started += 1;
        state.running = Some(Running {
            number: state.started,
            folder: folder.to_string(),
            since: Instant::now(),
            checked: None,
            blocker: None,
        });
    }

    /// The statement ended; whom it was found waiting for, if anyone.
    pub(super) fn statement_ended(&self) -> Option<String> {
        self.shared.lock().running.take().and_then(|r| r.blocker)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Waited for (boundedly): a process that exits while the thread is still connecting or
        // querying tears libpq and OpenSSL down under it, which can crash the process on its way out.
        let mut state = self.shared.lock();
        state.stop = true;
        self.shared.wake.notify_all();
        let _ = self
            .shared
            .wake
            .wait_timeout_while(state, FAREWELL, |state| !state.done);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The watching thread's side.
struct Watcher {
    shared: Arc<Shared>,
    url: String,
    pid: i32,
    patience: Duration,
    notice: BlockedNotice,
    conn: Option<PgConnection>,
    unavailable: bool,
}

impl Watcher {
    fn run(mut self) {
        self.watch();
        // The connection goes before the watch's owner hears that the thread is done.
        self.conn = None;
        self.shared.lock().done = true;
        self.shared.wake.notify_all();
    }

    fn watch(&mut self) {
        let mut state = self.shared.lock();
        loop {
            if state.stop {
                return;
            }
            let due = state.running.as_mut().filter(|running| {
                running.blocker.is_none()
                    && running.since.elapsed() >= self.patience
                    && running.checked.is_none_or(|at| at.elapsed() >= RECHECK)
            });
            let Some(running) = due else {
                state = self
                    .shared
                    .wake
                    .wait_timeout(state, POLL)
                    .map_or_else(|poisoned| poisoned.into_inner().0, |(state, _)| state);
                continue;
            };
            running.checked = Some(Instant::now());
            let (number, folder) = (running.number, running.folder.clone());
            drop(state);
            let blocker = self.blockers();
            state = self.shared.lock();
            let Some(blocker) = blocker else { continue };
            if let Some(running) = state.running.as_mut().filter(|r| r.number == number) {
                running.blocker = Some(blocker.clone());
                drop(state);
                (self.notice)(&folder, &blocker);
                state = self.shared.lock();
            }
        }
    }

    /// The sessions the watched connection's statement waits for, described, or `None` when it waits
    /// for none or no second connection can be had (then waits go unexplained, never retried).
    fn blockers(&mut self) -> Option<String> {
        if self.conn.is_none() && !self.unavailable {
            self.conn = PgConnection::establish(&self.url)
                .ok()
                .and_then(|mut conn| {
                    batch(
                        &mut conn,
                        "SET application_name = 'workhub migrate watcher'",
                    )
                    .ok()?;
                    Some(conn)
                });
            self.unavailable = self.conn.is_none();
        }
        let conn = self.conn.as_mut()?;
        let sql = format!(
            "{SESSION_COLUMNS} FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids({})) \
             ORDER BY a.pid",
            self.pid
        );
        let rows = diesel::sql_query(sql).load::<Session>(conn).ok()?;
        (!rows.is_empty()).then(|| {
            rows.iter()
                .map(Session::describe)
                .collect::<Vec<_>>()
                .join(", and ")
        })
    }
}
