//! How a migration run shows itself: a live line on a terminal, plain lines in a log.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use workhub_migrations::apply::BlockedNotice;
use workhub_migrations::plan::Direction;
use workhub_migrations::{Migration, Progress};

/// Prints each migration as it runs. On a terminal the running one shows as `[n/m] name ...` and is
/// replaced by its result; elsewhere each finished migration is one plain line.
#[derive(Debug)]
pub struct Report {
    terminal: bool,
}

impl Report {
    pub fn new() -> Self {
        Self {
            terminal: std::io::stdout().is_terminal(),
        }
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

fn verb(direction: Direction, done: bool) -> &'static str {
    match (direction, done) {
        (Direction::Up, false) => "applying",
        (Direction::Up, true) => "applied",
        (Direction::Down, false) => "reverting",
        (Direction::Down, true) => "reverted",
    }
}

pub fn millis(took: Duration) -> String {
    let ms = took.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

impl Progress for Report {
    fn waiting_for_lock(&mut self, holder: &str) {
        eprintln!("waiting for the migration lock, held by {holder} ...");
    }

    fn waiting_for_writer(&mut self, database: &str) {
        eprintln!(
            "waiting for another connection to finish writing to {database} (the running service, \
             or another tool) ..."
        );
    }

    fn blocked_notice(&self) -> Option<BlockedNotice> {
        let terminal = self.terminal;
        Some(Arc::new(move |folder: &str, blocker: &str| {
            if terminal {
                // End the live `[n/m] applying ...` line so the notice stands on its own.
                println!();
            }
            eprintln!(
                "{folder} is waiting for a lock held by {blocker} (for at most \
                 WORKHUB_LOCK_TIMEOUT) ..."
            );
        }))
    }

    fn started(&mut self, index: usize, total: usize, migration: &Migration, direction: Direction) {
        if self.terminal {
            let mut out = std::io::stdout().lock();
            let _ = write!(
                out,
                "\r\x1b[2K[{}/{total}] {} {} ...",
                index + 1,
                verb(direction, false),
                migration.folder()
            );
            let _ = out.flush();
        }
    }

    fn finished(
        &mut self,
        index: usize,
        total: usize,
        migration: &Migration,
        direction: Direction,
        took: Duration,
    ) {
        let line = format!(
            "[{}/{total}] {} {} ({})",
            index + 1,
            verb(direction, true),
            migration.folder(),
            millis(took)
        );
        if self.terminal {
            println!("\r\x1b[2K{line}");
        } else {
            println!("{line}");
        }
    }
}
