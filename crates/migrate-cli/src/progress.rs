//! How a migration run shows itself: a live line on a terminal, plain lines in a log.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use workhub_migrations::apply::BlockedNotice;
use workhub_migrations::plan::Direction;
use workhub_migrations::{Migration, Progress};

/// Prints each migration as it runs. On a terminal the running one shows as `[n/m] name ...`, with
/// the seconds it has run counted up once it has run for one, and is replaced by its result;
/// elsewhere each finished migration is one plain line.
#[derive(Debug)]
pub struct Report {
    terminal: bool,
    /// The thread counting up the running migration's seconds, and how to stop it.
    ticker: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Report {
    pub fn new() -> Self {
        Self {
            terminal: std::io::stdout().is_terminal(),
            ticker: None,
        }
    }

    fn stop_ticker(&mut self) {
        if let Some((stop, thread)) = self.ticker.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        self.stop_ticker();
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
            self.stop_ticker();
            let line = format!(
                "[{}/{total}] {} {} ...",
                index + 1,
                verb(direction, false),
                migration.folder()
            );
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[2K{line}");
            let _ = out.flush();
            drop(out);
            // A long migration is seen to be alive: its line counts the seconds it has run.
            let (stop, stopped) = mpsc::channel::<()>();
            let started = Instant::now();
            let thread = std::thread::spawn(move || loop {
                match stopped.recv_timeout(Duration::from_secs(1)) {
                    Err(RecvTimeoutError::Timeout) => {
                        let mut out = std::io::stdout().lock();
                        let seconds = started.elapsed().as_secs();
                        let _ = write!(out, "\r\x1b[2K{line} ({seconds} s)");
                        let _ = out.flush();
                    }
                    _ => return,
                }
            });
            self.ticker = Some((stop, thread));
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
        self.stop_ticker();
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
