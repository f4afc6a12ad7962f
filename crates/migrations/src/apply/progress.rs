use std::sync::Arc;
use std::time::Duration;

use crate::plan::Direction;
use crate::Migration;

/// Announces, from a thread watching the run, that a statement of migration `folder` (the first
/// argument) waits for a lock held by another session (the second, as the database describes it).
/// Called at most once per statement.
pub type BlockedNotice = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// What a run reports as it goes, for a progress display or a log. Every method has a silent default.
pub trait Progress {
    /// Another process holds the migration lock; called once before waiting.
    fn waiting_for_lock(&mut self, _holder: &str) {}
    /// Another connection is writing to `database` (SQLite's write lock); called once before waiting.
    fn waiting_for_writer(&mut self, _database: &str) {}
    /// Where a statement's wait for a lock another session holds is announced while the wait blocks
    /// the run; `None` leaves such waits unannounced (they still end at the lock timeout).
    fn blocked_notice(&self) -> Option<BlockedNotice> {
        None
    }
    /// Migration `index` (0-based) of `total` is about to run.
    fn started(
        &mut self,
        _index: usize,
        _total: usize,
        _migration: &Migration,
        _direction: Direction,
    ) {
    }
    /// It ran and its history row is committed.
    fn finished(
        &mut self,
        _index: usize,
        _total: usize,
        _migration: &Migration,
        _direction: Direction,
        _took: Duration,
    ) {
    }
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {}
