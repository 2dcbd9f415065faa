//! The watchdog: a poll that does not return within a wall-clock limit ends the
//! process with a report, rather than hanging the test forever.
//!
//! A poll that blocks the thread (a `std::sync::mpsc` receive, a `Mutex` held
//! elsewhere, a real sleep, real I/O, a thread join) cannot be ended by anything the
//! simulation does: its clock and its tasks stand still until the poll returns. One
//! watchdog thread per process (started by the first run while the limit is on) reads
//! each simulation thread's [`Beat`] every second, and when one poll has lasted the
//! limit, prints which task, of which seed, and its last detsim call, then exits with
//! status 101 (a blocked thread cannot be unwound). It also ends a thread that has
//! been blocked for the limit outside any `block_on` while tasks it spawned into a
//! session from outside wait for the session's next `block_on` (a facade
//! `Runtime::spawn`, then a wait for those tasks on a std channel): nothing runs them.
//!
//! Invariants:
//! - a poll costs two relaxed stores to its thread's beat (a counter made odd at the
//!   start of the poll and even at its end) plus one of the task's number: no system
//!   call, no lock, no contention (only the watchdog reads the line, once a second);
//! - the watchdog reads only atomics; nothing it does reaches back into a run, so a
//!   run's outcome never depends on it (it only ever ends the process).

use std::io::Write as _;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// The limit unless told otherwise: ten seconds of real time for one poll.
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(10);

/// The limit in milliseconds; 0: off.
static LIMIT_MS: AtomicU64 = AtomicU64::new(DEFAULT_WATCHDOG.as_millis() as u64);

/// Whether the watchdog thread runs.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Every simulation thread's beat (dead ones are dropped as the watchdog finds them).
static BEATS: Mutex<Vec<Weak<Beat>>> = Mutex::new(Vec::new());

/// Sets the wall-clock limit of one poll for the whole process (`None`: no watchdog).
/// `detsim` sets it from `DETSIM_WATCHDOG`; by default it is [`DEFAULT_WATCHDOG`].
pub fn set_watchdog(limit: Option<Duration>) {
    let ms = limit.map_or(0, |limit| (limit.as_millis() as u64).max(1));
    LIMIT_MS.store(ms, Ordering::Relaxed);
}

/// The current limit (`None`: off).
pub fn watchdog() -> Option<Duration> {
    match LIMIT_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// What one simulation thread tells the watchdog.
#[derive(Debug)]
pub(crate) struct Beat {
    /// Polls begun and ended on this thread: odd while a poll runs.
    polls: AtomicU64,
    /// The number of the task being polled (`t3`: 3).
    task: AtomicU64,
    /// The seed of the run.
    seed: AtomicU64,
    /// The polled task's last detsim wait site, when the run notes them (null: none).
    site: AtomicPtr<Location<'static>>,
    /// The thread's name, for the report.
    thread: String,
    /// Whether tasks spawned outside a session's `block_on` (a facade `Runtime::spawn`)
    /// wait for its next `block_on`: if the thread then blocks, nothing runs them.
    waiting: AtomicBool,
    /// The thread's CPU-time clock: a poll whose thread keeps using the CPU is busy,
    /// not blocked (`None`: not known, every long poll counts as blocked).
    cpu_clock: Option<libc::clockid_t>,
}

thread_local! {
    static BEAT: Arc<Beat> = register();
}

fn register() -> Arc<Beat> {
    let beat = Arc::new(Beat {
        polls: AtomicU64::new(0),
        task: AtomicU64::new(0),
        seed: AtomicU64::new(0),
        site: AtomicPtr::new(std::ptr::null_mut()),
        waiting: AtomicBool::new(false),
        thread: std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned(),
        cpu_clock: this_thread_cpu_clock(),
    });
    BEATS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::downgrade(&beat));
    beat
}

/// The calling thread's CPU-time clock.
fn this_thread_cpu_clock() -> Option<libc::clockid_t> {
    let mut id: libc::clockid_t = 0;
    // SAFETY: `pthread_self` names the calling thread, which is alive; `id` is a valid
    // place for the answer.
    let found = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
    (found == 0).then_some(id)
}

/// The CPU time a thread's clock reads, in nanoseconds (`None` if it cannot be read,
/// for one when its thread has ended).
fn cpu_nanos(clock: libc::clockid_t) -> Option<u64> {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid place for the answer; a clock of a thread that has
    // ended gives an error, not undefined behaviour. The watchdog's thread runs no
    // simulation, so the interposed `clock_gettime` passes this call to libc's.
    let read = unsafe { libc::clock_gettime(clock, &mut time) };
    (read == 0).then(|| time.tv_sec as u64 * 1_000_000_000 + time.tv_nsec as u64)
}

/// This thread's beat.
pub(crate) fn beat() -> Arc<Beat> {
    BEAT.with(Arc::clone)
}

impl Beat {
    /// A run of `seed` starts on this thread: starts the watchdog if it is on and not
    /// running yet. Called before the thread is sealed (the watchdog is an OS thread).
    pub(crate) fn run_starts(&self, seed: u64) {
        self.seed.store(seed, Ordering::Relaxed);
        if !STARTED.load(Ordering::Relaxed) && watchdog().is_some() {
            start();
        }
    }

    /// A poll of task number `task` begins; `site` is its last noted wait site.
    #[inline(always)]
    pub(crate) fn poll_begins(&self, task: u64, site: Option<&'static Location<'static>>) {
        self.task.store(task, Ordering::Relaxed);
        let site = site.map_or(std::ptr::null_mut(), |s| std::ptr::from_ref(s).cast_mut());
        self.site.store(site, Ordering::Relaxed);
        let polls = self.polls.load(Ordering::Relaxed);
        self.polls.store(polls + 1, Ordering::Relaxed);
    }

    /// The poll ends.
    #[inline(always)]
    pub(crate) fn poll_ends(&self) {
        let polls = self.polls.load(Ordering::Relaxed);
        self.polls.store(polls + 1, Ordering::Relaxed);
    }

    /// Tasks spawned outside a session's `block_on` wait for its next one (`true`), or
    /// a `block_on` runs them now, or the session ended (`false`).
    pub(crate) fn tasks_wait_for_block_on(&self, waiting: bool) {
        self.waiting.store(waiting, Ordering::Relaxed);
    }
}

/// Starts the watchdog thread, once per process.
fn start() {
    if STARTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let started = std::thread::Builder::new()
        .name("detsim-watchdog".to_owned())
        .spawn(watch);
    if started.is_err() {
        // Not now (a thread that may not start threads): the next run tries again.
        STARTED.store(false, Ordering::Relaxed);
    }
}

/// What the watchdog sees of a beat: its poll counter and its thread's CPU time.
type Look = (u64, Option<u64>);

/// What the watchdog remembers of one beat.
struct Seen {
    beat: Weak<Beat>,
    /// The poll counter and CPU time last seen.
    look: Look,
    /// Since when neither changed: the poll has neither returned nor used the CPU.
    still: Instant,
    /// Since when the poll counter has not changed while tasks waited for a
    /// `block_on` (busy or not: the waiting tasks run only in a `block_on`).
    waiting: Option<Instant>,
}

/// The watchdog's loop: once a second, every beat whose poll counter is odd and
/// unchanged since the last look has been in one poll since that look; it is blocked
/// if its thread used no CPU time since either (a long computation is busy, not
/// blocked). A beat whose tasks wait for a `block_on` while no poll runs for the limit,
/// busy or not, is a thread that waits outside `block_on` for what only a `block_on`
/// would run.
fn watch() {
    let mut seen: Vec<Seen> = Vec::new();
    loop {
        let limit = watchdog();
        let tick = limit.map_or(Duration::from_secs(1), |limit| {
            (limit / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
        });
        std::thread::sleep(tick);
        let Some(limit) = limit else { continue };
        let beats: Vec<Weak<Beat>> = {
            let mut beats = BEATS.lock().unwrap_or_else(PoisonError::into_inner);
            beats.retain(|beat| beat.strong_count() > 0);
            beats.clone()
        };
        let now = Instant::now();
        seen.retain(|s| s.beat.strong_count() > 0);
        for weak in beats {
            let Some(beat) = weak.upgrade() else { continue };
            let look = (
                beat.polls.load(Ordering::Relaxed),
                beat.cpu_clock.and_then(cpu_nanos),
            );
            let waiting = beat.waiting.load(Ordering::Relaxed);
            let Some(entry) = seen.iter_mut().find(|s| Weak::ptr_eq(&s.beat, &weak)) else {
                let waiting = waiting.then_some(now);
                seen.push(Seen {
                    beat: weak,
                    look,
                    still: now,
                    waiting,
                });
                continue;
            };
            let polled = entry.look.0 != look.0;
            if entry.look != look {
                entry.look = look;
                entry.still = now;
            } else if look.0 % 2 == 1 && now.duration_since(entry.still) >= limit {
                report(&beat, limit);
            }
            match (waiting && !polled, entry.waiting) {
                (false, _) => entry.waiting = waiting.then_some(now),
                (true, None) => entry.waiting = Some(now),
                (true, Some(since)) if look.0 % 2 == 0 && now.duration_since(since) >= limit => {
                    report_waiting(&beat, limit)
                }
                (true, Some(_)) => {}
            }
        }
    }
}

/// Prints what is blocked, and ends the process.
fn report(beat: &Beat, limit: Duration) -> ! {
    let task = beat.task.load(Ordering::Relaxed);
    let seed = beat.seed.load(Ordering::Relaxed);
    let site = beat.site.load(Ordering::Relaxed);
    // SAFETY: `site` is null or was stored from a `&'static Location<'static>` by
    // `poll_begins`: valid for the whole process.
    let site = unsafe { site.as_ref() };
    let last = match site {
        Some(site) => format!("its last detsim call before this poll: {site}"),
        None => "its last detsim call is not known (this run notes no wait sites: run the \
                 seed alone, with DETSIM_SEED, to see it)"
            .to_owned(),
    };
    // Written to the process's stderr itself: the watchdog thread may have inherited
    // libtest's capture of `eprintln!`, which nobody would print after the exit.
    let _ = writeln!(
        std::io::stderr(),
        "detsim watchdog: a poll of task t{task} (seed {seed:#x}, thread `{thread}`) has not \
         returned after {limit:?} of real time: the task is blocked outside detsim, in a call \
         that nothing in the simulation can end (a std channel or lock, real I/O, a real \
         sleep, a thread join); {last}. Await an async counterpart instead (detsim's, or \
         tokio's through the facade), or, if the poll is only slow, raise the limit with \
         DETSIM_WATCHDOG=<seconds> (DETSIM_WATCHDOG=off turns it off). Exiting.",
        thread = beat.thread,
    );
    std::process::exit(101)
}

/// Prints that a thread blocks while its runtime's tasks wait for a `block_on`, and
/// ends the process.
fn report_waiting(beat: &Beat, limit: Duration) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "detsim watchdog: thread `{thread}` has been busy or blocked for {limit:?} of real time outside \
         any block_on, while tasks it spawned into a runtime outside block_on (Runtime::spawn, \
         Handle::spawn) wait for the runtime's next block_on: in a simulation, tasks run only \
         inside block_on, on the thread that calls it (no worker thread runs them meanwhile), \
         so whatever the thread waits for (a std channel, a join, a lock) may never come. \
         Await the result inside block_on instead (for example rt.block_on(handle)), or raise \
         the limit with DETSIM_WATCHDOG=<seconds> if the thread is only slow. Exiting.",
        thread = beat.thread,
    );
    std::process::exit(101)
}
