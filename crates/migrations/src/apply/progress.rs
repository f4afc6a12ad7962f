use std::time::Duration;

use crate::plan::Direction;
use crate::Migration;

/// What a run reports as it goes, for a progress display or a log. Every method has a silent default.
pub trait Progress {
    /// Another process holds the migration lock; called once before waiting.
    fn waiting_for_lock(&mut self, _holder: &str) {}
    /// Another connection is writing to `database` (SQLite's write lock); called once before waiting.
    fn waiting_for_writer(&mut self, _database: &str) {}
    /// A statement of `migration` waits for a lock held by another session (`blocker`, as the
    /// database describes it); called once per statement before waiting on.
    fn waiting_for_session(&mut self, _migration: &Migration, _blocker: &str) {}
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
