//! The sealed run: the operating system's sources of variation — clocks and
//! randomness — answer from the run's seed while a simulation runs on the thread.
//!
//! On Linux with glibc (x86_64, aarch64), this crate defines the C functions
//! `getrandom`, `getentropy`, `clock_gettime`, `gettimeofday` and `time` (and
//! `pthread_create`, `nanosleep`, `clock_nanosleep`, below), so that every
//! caller in the process reaches them instead of libc's: `std`'s `Instant::now` and
//! `SystemTime::now` (which call `clock_gettime`), `std`'s `HashMap` keys (`RandomState`
//! looks `getrandom` up with `dlsym`), the `getrandom` crate (likewise, and so `rand`'s
//! `thread_rng`/`rng()`, `OsRng`/`SysRng` and `uuid::Uuid::new_v4`), and any C code
//! linked in. Each one checks a thread-local flag (a load and a branch), and:
//! - on a thread running a simulation ([`crate::Runtime::run`], from the first poll to the
//!   end of the teardown), answers from the run:
//!   - randomness is the byte stream [`OS_STREAM`] of the run's seed (ChaCha8,
//!     [`crate::choice::seeded_rng`]), a stream of its own: drawing it moves neither a
//!     scheduling decision nor a [`crate::random`] value;
//!   - `CLOCK_REALTIME` (and its `_COARSE`, `_ALARM` and `CLOCK_TAI` variants),
//!     `gettimeofday` and `time` read [`EPOCH_UNIX_SECS`] ([`epoch`]) plus the run's
//!     virtual time ([`crate::time::now`]): `SystemTime::now()` is
//!     2024-01-01T00:00:00Z at the start of every run and advances with its virtual
//!     clock;
//!   - `CLOCK_MONOTONIC` (and `_RAW`, `_COARSE`, `CLOCK_BOOTTIME`, `_ALARM`) read
//!     [`MONOTONIC_START`] plus the virtual time: `std::time::Instant` is virtual too;
//!   - `CLOCK_PROCESS_CPUTIME_ID` and `CLOCK_THREAD_CPUTIME_ID` read the virtual time
//!     itself (CPU time would differ from run to run); other clock ids (another
//!     process's or thread's CPU clock) and invalid ones go to libc;
//! - between two `block_on`s of a session (a run that lasts over several `block_on`
//!   calls, as the tokio facade's `Runtime`), on the thread that drives it, the
//!   monotonic clocks read the session's virtual time, which stands still there
//!   (nothing runs between two `block_on`s), so that `std::time::Instant`s taken
//!   outside and inside its `block_on`s measure the same clock, as they do around a
//!   tokio runtime: `let t = Instant::now(); rt.block_on(sleep(d)); t.elapsed()` is
//!   `d`. It is the clock of the session that last started or ran a `block_on` on the
//!   thread, until that session ends ([`session_clock`] reads it). The wall clock
//!   (`SystemTime`), randomness and threads stay the real ones there. A timed wait on
//!   that thread outside `block_on` (`Condvar::wait_timeout`, `recv_timeout`) gives
//!   the kernel a deadline on that clock, which the kernel reads as the real one: it
//!   waits for the event, not for its timeout;
//! - everywhere else — outside a simulation, and on every thread that is not running
//!   one — calls libc's function, found with `dlsym(RTLD_NEXT, …)` once and cached
//!   (a raw system call if `dlsym` finds none).
//!
//! Threads and blocking calls, on the thread running a simulation:
//! - `pthread_create` (`std::thread::spawn`, `thread::scope`, any thread pool started
//!   there) is refused with `EPERM` unless the run allows OS threads
//!   ([`Runtime::set_allow_threads`](crate::Runtime::set_allow_threads), which
//!   `detsim`'s `Builder::allow_threads` and `DETSIM_ALLOW_THREADS=1` set): the refusal
//!   is noted with the task and the call site (the first frame outside `std` of a
//!   backtrace), and the run fails with [`RunError::Thread`](crate::RunError::Thread)
//!   whatever the program made of the error, so every run of the seed gets the same
//!   verdict. An allowed thread runs for real and outside the seed's control: its wakes
//!   are delivered when they arrive, so a run that depends on their timing may differ
//!   from run to run (the determinism check says so).
//! - inside [`virtual_sleeps`] (the tokio facade's `spawn_blocking` runs its closure
//!   there), `nanosleep` and `clock_nanosleep` (`std::thread::sleep`) return at once and
//!   move the clocks the closure reads by the time asked; the caller then spends that
//!   time on the virtual clock. Elsewhere sleeps are real.
//! - a poll that blocks the thread for longer than the watchdog's wall-clock limit
//!   ([`set_watchdog`], default [`DEFAULT_WATCHDOG`]) ends the process with a report
//!   naming the task (see `seal/watchdog.rs`).
//!
//! Invariants:
//! - an interposed clock or randomness function never panics, never allocates and
//!   never borrows the executor mutably: it may be called from anywhere, at any time,
//!   on any thread (from libc, from the allocator, before `main`); a refused
//!   `pthread_create` allocates to note its call site, inside `catch_unwind`;
//! - what a run reads from them is a function of its seed and of its virtual clock
//!   alone, so two runs of one seed read the same values in any process;
//! - the flag is set when a run enters the thread and cleared when it leaves
//!   (`enter`/`leave`, from `context::Enter`); the OS stream restarts at every run.
//!
//! The executable must make these symbols win over libc's: a definition in the
//! executable does for calls bound at link time (`std`'s `clock_gettime`), and the
//! linker exports a symbol that a linked shared library also defines, which `dlsym`
//! lookups (`std`'s and the `getrandom` crate's `getrandom`) then find first. The
//! interposed functions are referenced from `enter` so that the object defining them
//! is linked into every executable that runs a simulation. The tests check each path.
//!
//! Limits: code that makes the system calls itself (`rustix` with its `linux_raw`
//! backend, inline `syscall` instructions, a statically linked musl program), reads
//! `/dev/urandom`, or reads the vDSO directly is not reached. On other platforms
//! (macOS, Windows, musl, the BSDs) nothing is interposed: clocks and OS randomness
//! are the real ones there, OS threads start, blocking sleeps are real, and the
//! fresh-process check of every reported failure still says when a failure depends
//! on them; the watchdog (safe code, no interposition) runs everywhere.

use std::cell::{Cell, RefCell};
use std::time::{Duration, SystemTime};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::choice::{OS_STREAM, seeded_rng};
use crate::context;

mod watchdog;

pub(crate) use watchdog::{Beat, beat};
pub use watchdog::{DEFAULT_WATCHDOG, set_watchdog, watchdog};

/// Where `SystemTime::now()` stands at the start of every run: 2024-01-01T00:00:00Z, as
/// seconds since the Unix epoch.
pub const EPOCH_UNIX_SECS: u64 = 1_704_067_200;

/// `SystemTime::now()` at the start of every run: 2024-01-01T00:00:00Z
/// ([`EPOCH_UNIX_SECS`]).
pub fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_SECS)
}

/// The monotonic clocks (`CLOCK_MONOTONIC`, `CLOCK_BOOTTIME`, …) at the start of every
/// run: one million seconds (some 11.6 days, a machine's plausible uptime), so that
/// `Instant::now() - Duration::from_secs(3600)` works at the start of a run, as it does on
/// a real machine.
pub const MONOTONIC_START: Duration = Duration::from_secs(1_000_000);

/// Whether this build interposes the OS's clocks and randomness (Linux with glibc).
pub const INTERPOSES: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

thread_local! {
    /// Whether a simulation runs on this thread: read by every interposed call, so a
    /// `const` plain flag with no destructor (one thread-local load).
    static SEALED: Cell<bool> = const { Cell::new(false) };
    /// The seed of the run on this thread.
    static SEED: Cell<u64> = const { Cell::new(0) };
    /// The run's OS stream, made at its first draw.
    static OS_RNG: RefCell<Option<ChaCha8Rng>> = const { RefCell::new(None) };
    /// The virtual time last read, in nanoseconds since the start of the run: what a
    /// clock reads if the executor is busy (never seen in practice; see `virtual_nanos`).
    static LAST_NANOS: Cell<u64> = const { Cell::new(0) };
    /// Whether the run on this thread may start OS threads
    /// ([`Runtime::set_allow_threads`](crate::Runtime::set_allow_threads)).
    static ALLOW_THREADS: Cell<bool> = const { Cell::new(false) };
    /// The first OS thread the run tried to start and was refused.
    static REFUSED: RefCell<Option<RefusedThread>> = const { RefCell::new(None) };
    /// Inside [`virtual_sleeps`]: the real sleeps taken so far, in nanoseconds, which
    /// took no real time (`None`: sleeps are real).
    static BLOCKING_SLEPT: Cell<Option<u64>> = const { Cell::new(None) };
    /// The session whose clock the monotonic clocks read outside its `block_on`s, as
    /// (run epoch, virtual nanoseconds since its start): see [`show_session_clock`].
    static SESSION_CLOCK: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// Makes the monotonic clocks of this thread read session `epoch`'s virtual time,
/// `nanos` since its start, outside any run (see the module docs): called when a
/// session starts and after each of its `block_on`s.
pub(crate) fn show_session_clock(epoch: u64, nanos: u64) {
    SESSION_CLOCK.set(Some((epoch, nanos)));
}

/// Gives this thread's monotonic clocks back to libc outside runs, if they read session
/// `epoch`'s time: called when the session ends.
pub(crate) fn hide_session_clock(epoch: u64) {
    if SESSION_CLOCK.get().is_some_and(|(shown, _)| shown == epoch) {
        SESSION_CLOCK.set(None);
    }
}

/// Outside any run, the virtual time (since its start) of the session whose clock this
/// thread's monotonic clocks read (see the module docs); `None` inside a run, and when
/// no session's clock is shown.
pub fn session_clock() -> Option<Duration> {
    if is_sealed() {
        return None;
    }
    let (_, nanos) = SESSION_CLOCK.try_with(Cell::get).ok().flatten()?;
    Some(Duration::from_nanos(nanos))
}

/// What a monotonic clock reads outside any run on a thread that shows a session's
/// clock, as (seconds, nanoseconds); `None` for the other clocks and elsewhere.
fn session_monotonic(clock: i32) -> Option<(u64, u32)> {
    match clock {
        CLOCK_MONOTONIC
        | CLOCK_MONOTONIC_RAW
        | CLOCK_MONOTONIC_COARSE
        | CLOCK_BOOTTIME
        | CLOCK_BOOTTIME_ALARM => {}
        _ => return None,
    }
    let (_, nanos) = SESSION_CLOCK.try_with(Cell::get).ok().flatten()?;
    let time = MONOTONIC_START.saturating_add(Duration::from_nanos(nanos));
    Some((time.as_secs(), time.subsec_nanos()))
}

/// What `clock` reads on this thread when it is not libc's: inside a sealed run, the
/// run's clock; outside runs, a shown session's monotonic clock.
fn interposed_clock(clock: i32) -> Option<(u64, u32)> {
    match is_sealed() {
        true => virtual_clock(clock),
        false => session_monotonic(clock),
    }
}

/// An OS thread that a run tried to start, refused (see [`crate::RunError::Thread`]).
#[derive(Debug)]
pub(crate) struct RefusedThread {
    /// The task that started it.
    pub(crate) task: Option<crate::TaskInfo>,
    /// Where, as `file:line:column`: the first frame of the call outside `std`, found in
    /// a backtrace (`None` without debug info).
    pub(crate) site: Option<String>,
}

/// Seals the thread for a run of `seed`: clocks and randomness answer from the run.
pub(crate) fn enter(seed: u64) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    interpose::keep();
    SEED.set(seed);
    LAST_NANOS.set(0);
    let _ = OS_RNG.try_with(|rng| rng.borrow_mut().take());
    SEALED.set(crate::entropy::sealing());
}

/// Unseals the thread at the end of a run.
pub(crate) fn leave() {
    SEALED.set(false);
    ALLOW_THREADS.set(false);
    let _ = OS_RNG.try_with(|rng| rng.borrow_mut().take());
    let _ = REFUSED.try_with(|refused| refused.borrow_mut().take());
}

/// Lets the run on this thread start OS threads (or not, the default).
pub(crate) fn set_allow_threads(on: bool) {
    ALLOW_THREADS.set(on);
}

/// The OS thread this run was refused, if it tried to start one.
pub(crate) fn take_refused_thread() -> Option<RefusedThread> {
    REFUSED
        .try_with(|refused| refused.borrow_mut().take())
        .ok()
        .flatten()
}

/// Whether an OS thread may start on this thread now: not inside a run that forbids
/// them. A refusal is noted for the run's failure (the first one only).
fn may_start_thread() -> bool {
    if !is_sealed() || ALLOW_THREADS.get() {
        return true;
    }
    let first = REFUSED
        .try_with(|refused| refused.try_borrow().is_ok_and(|r| r.is_none()))
        .unwrap_or(false);
    if first {
        // Capturing and reading a backtrace allocates and may panic in theory; a panic
        // must not unwind into C.
        let refused = std::panic::catch_unwind(|| RefusedThread {
            task: context::try_current_task(),
            site: call_site(&std::backtrace::Backtrace::force_capture().to_string()),
        });
        if let Ok(refused) = refused {
            let _ = REFUSED.try_with(|slot| {
                if let Ok(mut slot) = slot.try_borrow_mut() {
                    *slot = Some(refused);
                }
            });
        }
    }
    false
}

/// The call site in a backtrace's text: the first frame's `at file:line:column`
/// that is neither in `std` (paths under `/rustc/`) nor in this module.
fn call_site(backtrace: &str) -> Option<String> {
    let mut in_seal = false;
    for line in backtrace.lines().map(str::trim_start) {
        match line.strip_prefix("at ") {
            Some(path) if !in_seal && !path.starts_with("/rustc/") => {
                return Some(path.to_owned());
            }
            Some(_) => {}
            None => {
                let function = line.split_once(": ").map_or(line, |(_, f)| f);
                in_seal = function.contains("detsim_runtime::seal::may_start_thread")
                    || function.contains("detsim_runtime::seal::interpose::")
                    || ["pthread_create", "std::", "core::", "alloc::", "<std::"]
                        .iter()
                        .any(|prefix| function.starts_with(prefix));
            }
        }
    }
    None
}

/// Runs `f` (a blocking closure, on the thread running a simulation) with real sleeps
/// taking no time: `std::thread::sleep` and every other `nanosleep`/`clock_nanosleep`
/// return at once, and the clocks `f` reads move on by what it slept. Returns `f`'s
/// output and the time it slept, which the caller then spends on the virtual clock
/// (the tokio facade's `spawn_blocking` sleeps it). Outside a run, or where nothing
/// is interposed ([`INTERPOSES`]), `f` sleeps for real and the time is zero.
pub fn virtual_sleeps<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    if !INTERPOSES || !is_sealed() {
        return (f(), Duration::ZERO);
    }
    /// Restores the outer setting, even if `f` panics.
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BLOCKING_SLEPT.set(self.0);
        }
    }
    let outer = BLOCKING_SLEPT.replace(Some(0));
    let restore = Restore(outer);
    let output = f();
    let slept = BLOCKING_SLEPT.get().unwrap_or(0);
    drop(restore);
    if let Some(outer) = outer {
        BLOCKING_SLEPT.set(Some(outer.saturating_add(slept)));
    }
    (output, Duration::from_nanos(slept))
}

/// Inside [`virtual_sleeps`]: takes a sleep of `nanos` on the virtual clock and
/// returns true; elsewhere false (the sleep is real).
fn sleep_virtually(nanos: u64) -> bool {
    match BLOCKING_SLEPT.try_with(Cell::get) {
        Ok(Some(slept)) if is_sealed() => {
            BLOCKING_SLEPT.set(Some(slept.saturating_add(nanos)));
            true
        }
        _ => false,
    }
}

/// Whether the calling thread is sealed (a simulation runs on it).
#[inline(always)]
pub(crate) fn is_sealed() -> bool {
    SEALED.try_with(Cell::get).unwrap_or(false)
}

/// Fills `out` from the run's OS stream. Returns false if the stream is busy (a draw
/// re-entered from inside a draw, which ChaCha never does).
fn fill_os_bytes(out: &mut [u8]) -> bool {
    OS_RNG
        .try_with(|rng| {
            let Ok(mut rng) = rng.try_borrow_mut() else {
                return false;
            };
            rng.get_or_insert_with(|| seeded_rng(SEED.get(), OS_STREAM))
                .fill_bytes(out);
            true
        })
        .unwrap_or(false)
}

/// The run's virtual time, in nanoseconds since its start.
fn virtual_nanos() -> u64 {
    let now = match context::try_now() {
        Some(now) => {
            let nanos = now.as_nanos();
            LAST_NANOS.set(nanos);
            nanos
        }
        // The executor is borrowed: only its own bookkeeping, which reads no clock.
        None => LAST_NANOS.get(),
    };
    // Inside a blocking closure, the sleeps it took.
    let slept = BLOCKING_SLEPT.try_with(Cell::get).ok().flatten();
    now.saturating_add(slept.unwrap_or(0))
}

/// What a clock reads in a sealed run, as (seconds, nanoseconds), or `None` for a clock
/// id left to libc.
fn virtual_clock(clock: i32) -> Option<(u64, u32)> {
    let base = match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_REALTIME_ALARM | CLOCK_TAI => {
            Duration::from_secs(EPOCH_UNIX_SECS)
        }
        CLOCK_MONOTONIC
        | CLOCK_MONOTONIC_RAW
        | CLOCK_MONOTONIC_COARSE
        | CLOCK_BOOTTIME
        | CLOCK_BOOTTIME_ALARM => MONOTONIC_START,
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => Duration::ZERO,
        _ => return None,
    };
    let time = base.saturating_add(Duration::from_nanos(virtual_nanos()));
    Some((time.as_secs(), time.subsec_nanos()))
}

// Linux's clock ids (`linux/time.h`), the same on every architecture.
const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
const CLOCK_MONOTONIC_RAW: i32 = 4;
const CLOCK_REALTIME_COARSE: i32 = 5;
const CLOCK_MONOTONIC_COARSE: i32 = 6;
const CLOCK_BOOTTIME: i32 = 7;
const CLOCK_REALTIME_ALARM: i32 = 8;
const CLOCK_BOOTTIME_ALARM: i32 = 9;
const CLOCK_TAI: i32 = 11;

/// The interposed C functions (Linux with glibc only).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod interpose;

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    //! Each interposed function, inside and outside a run, on the thread running it and
    //! on another. Helper threads are started outside any run.

    use std::collections::HashMap;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::mpsc;
    use std::time::{Duration, Instant, SystemTime};

    use rand::Rng;

    use super::{EPOCH_UNIX_SECS, MONOTONIC_START, epoch};
    use crate::Runtime;
    use crate::choice::{OS_STREAM, seeded_rng};
    use crate::time::sleep;

    const HOUR: Duration = Duration::from_secs(3600);

    /// The real wall clock, read with the system call (which nothing interposes).
    fn syscall_realtime() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a local `timespec`.
        let ret = unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_REALTIME, &mut ts) };
        assert_eq!(ret, 0);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// Whether `seen` (since the Unix epoch) is the real wall-clock time, give or take a
    /// minute (the clock is read twice, a few instructions apart).
    fn is_real_time(seen: Duration) -> bool {
        let real = syscall_realtime();
        real.abs_diff(seen) < Duration::from_secs(60)
            && real.abs_diff(Duration::from_secs(EPOCH_UNIX_SECS)) > Duration::from_secs(60)
    }

    fn clock(id: libc::clockid_t) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a local `timespec`.
        assert_eq!(unsafe { libc::clock_gettime(id, &mut ts) }, 0);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    fn gettimeofday() -> Duration {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let mut tz = [7 as libc::c_int; 2];
        // SAFETY: `tv` is a local `timeval`, `tz` two `int`s.
        let ret = unsafe { libc::gettimeofday(&mut tv, tz.as_mut_ptr().cast()) };
        assert_eq!(ret, 0);
        Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1_000)
    }

    fn time() -> Duration {
        let mut t: libc::time_t = 0;
        // SAFETY: `t` is a local `time_t`.
        let returned = unsafe { libc::time(&mut t) };
        assert_eq!(returned, t);
        Duration::from_secs(t as u64)
    }

    fn getrandom(len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        // SAFETY: `bytes` has `len` writable bytes.
        let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), len, 0) };
        assert_eq!(got, len as isize);
        bytes
    }

    fn getentropy(len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        // SAFETY: `bytes` has `len` writable bytes.
        assert_eq!(
            unsafe { libc::getentropy(bytes.as_mut_ptr().cast(), len) },
            0
        );
        bytes
    }

    /// `getrandom` as `std` and the `getrandom` crate find it: `dlsym(RTLD_DEFAULT, …)`.
    fn getrandom_by_dlsym(len: usize) -> Vec<u8> {
        type GetRandom = unsafe extern "C" fn(*mut libc::c_void, usize, libc::c_uint) -> isize;
        // SAFETY: a NUL-terminated name.
        let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"getrandom".as_ptr()) };
        assert!(!found.is_null());
        // SAFETY: `getrandom`'s address, of this signature.
        let getrandom = unsafe { std::mem::transmute::<*mut libc::c_void, GetRandom>(found) };
        let mut bytes = vec![0u8; len];
        // SAFETY: `bytes` has `len` writable bytes.
        assert_eq!(
            unsafe { getrandom(bytes.as_mut_ptr().cast(), len, 0) },
            len as isize
        );
        bytes
    }

    /// The first `len` bytes of seed `seed`'s OS stream.
    fn os_stream(seed: u64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        seeded_rng(seed, OS_STREAM).fill_bytes(&mut bytes);
        bytes
    }

    /// Everything the interposed functions answer, read on this thread.
    #[derive(Debug, PartialEq)]
    struct Readings {
        realtime: Duration,
        monotonic: Duration,
        gettimeofday: Duration,
        time: Duration,
        getrandom: Vec<u8>,
        getentropy: Vec<u8>,
        dlsym_getrandom: Vec<u8>,
    }

    fn read_all() -> Readings {
        Readings {
            realtime: clock(libc::CLOCK_REALTIME),
            monotonic: clock(libc::CLOCK_MONOTONIC),
            gettimeofday: gettimeofday(),
            time: time(),
            getrandom: getrandom(40),
            getentropy: getentropy(24),
            dlsym_getrandom: getrandom_by_dlsym(16),
        }
    }

    /// Asserts that `readings` come from the real clocks and the real OS randomness.
    fn assert_real(readings: &Readings) {
        assert!(is_real_time(readings.realtime), "{readings:?}");
        assert!(is_real_time(readings.gettimeofday), "{readings:?}");
        assert!(is_real_time(readings.time), "{readings:?}");
        assert_ne!(readings.monotonic, MONOTONIC_START, "{readings:?}");
        assert_ne!(readings.getrandom, os_stream(3, 40), "{readings:?}");
        let again = read_all();
        assert_ne!(readings.getrandom, again.getrandom);
        assert_ne!(readings.getentropy, again.getentropy);
        assert_ne!(readings.dlsym_getrandom, again.dlsym_getrandom);
    }

    #[test]
    fn a_run_reads_its_virtual_clock_and_its_seeds_os_stream() {
        let readings = Runtime::new(3).block_on(async {
            let start = read_all();
            sleep(HOUR).await;
            (start, read_all())
        });
        let (start, later) = readings;
        let epoch = Duration::from_secs(EPOCH_UNIX_SECS);
        assert_eq!(start.realtime, epoch);
        assert_eq!(start.gettimeofday, epoch);
        assert_eq!(start.time, epoch);
        assert_eq!(start.monotonic, MONOTONIC_START);
        assert_eq!(later.realtime, epoch + HOUR);
        assert_eq!(later.gettimeofday, epoch + HOUR);
        assert_eq!(later.time, epoch + HOUR);
        assert_eq!(later.monotonic, MONOTONIC_START + HOUR);
        // One stream, drawn in call order across the three functions.
        let stream = os_stream(3, 80);
        assert_eq!(start.getrandom, stream[..40]);
        assert_eq!(start.getentropy, stream[40..64]);
        assert_eq!(start.dlsym_getrandom, stream[64..80]);
        // The next run of the seed starts the stream again; another seed has another.
        let again = Runtime::new(3).block_on(async { read_all() });
        assert_eq!(again, start);
        let other = Runtime::new(4).block_on(async { read_all() });
        assert_eq!(other.getrandom, os_stream(4, 40));
    }

    #[test]
    fn outside_a_run_every_function_is_libcs() {
        assert_real(&read_all());
        Runtime::new(3).block_on(async {});
        assert_real(&read_all()); // and after one
    }

    #[test]
    fn another_thread_reads_the_real_clocks_while_a_run_is_on() {
        let (ask, asked) = mpsc::channel::<()>();
        let (answer, answers) = mpsc::channel();
        let helper = std::thread::spawn(move || {
            while asked.recv().is_ok() {
                answer.send(read_all()).unwrap();
            }
        });
        let from_helper = Runtime::new(3).block_on(async move {
            sleep(HOUR).await;
            ask.send(()).unwrap();
            answers.recv().unwrap()
        });
        helper.join().unwrap();
        assert_real(&from_helper);
    }

    #[test]
    fn a_run_on_another_thread_leaves_this_one_real() {
        let (started, wait_start) = mpsc::channel();
        let (finish, wait_finish) = mpsc::channel::<()>();
        let runner = std::thread::spawn(move || {
            Runtime::new(3).block_on(async move {
                started.send(()).unwrap();
                wait_finish.recv().unwrap();
                read_all()
            })
        });
        wait_start.recv().unwrap();
        let here = read_all();
        finish.send(()).unwrap();
        let there = runner.join().unwrap();
        assert_real(&here);
        assert_eq!(there.realtime, Duration::from_secs(EPOCH_UNIX_SECS));
        assert_eq!(there.getrandom, os_stream(3, 40));
    }

    #[test]
    fn std_clocks_and_hash_keys_follow_the_run() {
        // Each run on a fresh thread: `std` draws a thread's hash keys once.
        let run = |seed| {
            std::thread::spawn(move || {
                Runtime::new(seed).block_on(async {
                    let instant = Instant::now();
                    let system = SystemTime::now();
                    let hash = RandomState::new().hash_one("key");
                    let map: HashMap<u32, ()> = (0..32).map(|k| (k, ())).collect();
                    let order: Vec<u32> = map.into_keys().collect();
                    sleep(HOUR).await;
                    (instant.elapsed(), system, hash, order)
                })
            })
            .join()
            .unwrap()
        };
        let (elapsed, system, hash, order) = run(3);
        assert_eq!(elapsed, HOUR);
        assert_eq!(system, epoch());
        assert_eq!(run(3), (elapsed, system, hash, order.clone()));
        let (_, _, other_hash, other_order) = run(4);
        assert_ne!((hash, order), (other_hash, other_order));
    }

    #[test]
    fn edge_cases_answer_as_libc_does() {
        Runtime::new(3).block_on(async {
            let mut big = [0u8; 257];
            // SAFETY: `big` has 257 writable bytes.
            let ret = unsafe { libc::getentropy(big.as_mut_ptr().cast(), big.len()) };
            assert_eq!(ret, -1);
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::EIO)
            );
            // SAFETY: a zero-length request reads nothing at the pointer.
            let ret = unsafe { libc::getrandom(std::ptr::dangling_mut(), 0, 0) };
            assert_eq!(ret, 0);
            // SAFETY: `time` takes a null pointer.
            let t = unsafe { libc::time(std::ptr::null_mut()) };
            assert_eq!(t as u64, EPOCH_UNIX_SECS);
            // An invalid clock id is libc's error, not a time.
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a local `timespec`.
            let ret = unsafe { libc::clock_gettime(1_000, &mut ts) };
            assert_eq!(ret, -1);
            assert_eq!(clock(libc::CLOCK_PROCESS_CPUTIME_ID), Duration::ZERO);
            assert_eq!(clock(libc::CLOCK_BOOTTIME), MONOTONIC_START);
        });
    }

    #[test]
    fn an_os_thread_started_in_a_run_fails_it_naming_the_call_site() {
        let error = Runtime::new(1)
            .run(async {
                std::thread::spawn(|| ()).join().unwrap();
            })
            .unwrap_err();
        let crate::RunError::Thread { task, site } = &error else {
            panic!("{error}")
        };
        assert_eq!(task.as_ref().map(|t| t.id), Some(crate::task::Id::ROOT));
        let site = site.as_deref().unwrap_or_default();
        assert!(site.contains("seal.rs:"), "{site}");
        let message = error.message();
        assert!(
            message.contains("an OS thread was started inside the simulation"),
            "{message}"
        );
        assert!(message.contains("DETSIM_ALLOW_THREADS=1"), "{message}");
        // The same verdict when the program handles the refusal itself.
        let error = Runtime::new(1)
            .run(async {
                let started = std::thread::Builder::new().spawn(|| ());
                assert!(started.is_err());
            })
            .unwrap_err();
        assert!(matches!(error, crate::RunError::Thread { .. }), "{error}");
        // Allowed, the thread runs; and outside a run threads start as ever.
        let mut rt = Runtime::new(1);
        rt.set_allow_threads(true);
        let answer = rt.block_on(async { std::thread::spawn(|| 42).join().unwrap() });
        assert_eq!(answer, 42);
        assert_eq!(std::thread::spawn(|| 7).join().unwrap(), 7);
    }

    #[test]
    fn a_real_sleep_in_virtual_sleeps_moves_the_clock_not_the_thread() {
        let (elapsed, slept) = Runtime::new(1).block_on(async {
            let before = Instant::now();
            let (inner, slept) = super::virtual_sleeps(|| {
                let start = Instant::now();
                std::thread::sleep(Duration::from_secs(20));
                start.elapsed()
            });
            assert_eq!(inner, Duration::from_secs(20));
            // The closure's sleeps are spent; the run's clock has not moved yet.
            (before.elapsed(), slept)
        });
        assert_eq!(slept, Duration::from_secs(20));
        assert_eq!(elapsed, Duration::ZERO);
        // Outside a run, sleeps are real and not counted.
        let ((), slept) = super::virtual_sleeps(|| std::thread::sleep(Duration::from_millis(1)));
        assert_eq!(slept, Duration::ZERO);
    }

    #[test]
    fn between_a_sessions_block_ons_std_instant_reads_its_clock() {
        let mut rt = Runtime::new(3);
        rt.start_session();
        let start = Instant::now();
        assert_eq!(clock(libc::CLOCK_MONOTONIC), MONOTONIC_START);
        rt.session_block_on(async { sleep(HOUR).await }).unwrap();
        assert_eq!(
            start.elapsed(),
            HOUR,
            "the session's clock, outside its block_on"
        );
        // The wall clock stays the real one there.
        assert!(is_real_time(clock(libc::CLOCK_REALTIME)));
        // An absolute sleep on that clock takes its length in real time, not days.
        let deadline = MONOTONIC_START + HOUR + Duration::from_millis(1);
        let ts = libc::timespec {
            tv_sec: deadline.as_secs() as libc::time_t,
            tv_nsec: deadline.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `ts` is a local `timespec`; no remainder is asked for.
        let ret = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(ret, 0);
        assert!(rt.end_session().is_none());
        assert_real(&read_all());
    }

    #[test]
    fn call_site_skips_std_and_this_module() {
        let backtrace = "   0: pthread_create\n             at ./runtime/src/seal.rs:500:14\n   \
                         1: std::thread::lifecycle::spawn_unchecked\n             at \
                         /rustc/abc/library/std/src/thread/lifecycle.rs:137:26\n   2: my::code\n \
                         at ./src/lib.rs:9:49\n";
        assert_eq!(
            super::call_site(backtrace).as_deref(),
            Some("./src/lib.rs:9:49")
        );
        assert_eq!(
            super::call_site("   0: std::x\n at /rustc/a.rs:1:1\n"),
            None
        );
    }
}
