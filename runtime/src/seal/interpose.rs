//! The interposed C functions (`getrandom`, `getentropy`, `clock_gettime`,
//! `gettimeofday`, `time`) and the real ones they fall back to, found with
//! `dlsym(RTLD_NEXT, …)`: the unsafe half of [`super`], each block with its `// SAFETY:`
//! comment. Linux with glibc only.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{c_int, c_long, c_uint, c_void, clockid_t, size_t, ssize_t, time_t, timespec, timeval};

use super::{
    fill_os_bytes, interposed_clock, is_sealed, may_start_thread, sleep_virtually, virtual_clock,
};

/// References every interposed function (from `enter`), so that the object
/// defining them is linked into any executable that runs a simulation.
#[inline(never)]
pub(super) fn keep() {
    std::hint::black_box([
        getrandom as *const (),
        getentropy as *const (),
        clock_gettime as *const (),
        gettimeofday as *const (),
        time as *const (),
        pthread_create as *const (),
        nanosleep as *const (),
        clock_nanosleep as *const (),
    ]);
}

/// A libc function found with `dlsym(RTLD_NEXT, name)` at its first call, cached
/// (0: not looked up yet; 1: not found).
struct Real {
    name: &'static CStr,
    address: AtomicUsize,
}

const NOT_FOUND: usize = 1;

impl Real {
    const fn new(name: &'static CStr) -> Real {
        Real {
            name,
            address: AtomicUsize::new(0),
        }
    }

    /// The function's address, or `None` if libc has none.
    fn address(&self) -> Option<usize> {
        let mut address = self.address.load(Ordering::Relaxed);
        if address == 0 {
            // SAFETY: `dlsym` takes any handle and a NUL-terminated name, which a
            // `&CStr` is; it returns a pointer or null and has no other effect. Two
            // threads racing here store the same answer.
            let found = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) };
            address = if found.is_null() {
                NOT_FOUND
            } else {
                found as usize
            };
            self.address.store(address, Ordering::Relaxed);
        }
        (address != NOT_FOUND).then_some(address)
    }
}

static REAL_GETRANDOM: Real = Real::new(c"getrandom");
static REAL_GETENTROPY: Real = Real::new(c"getentropy");
static REAL_CLOCK_GETTIME: Real = Real::new(c"clock_gettime");
static REAL_GETTIMEOFDAY: Real = Real::new(c"gettimeofday");
static REAL_TIME: Real = Real::new(c"time");
static REAL_PTHREAD_CREATE: Real = Real::new(c"pthread_create");
static REAL_NANOSLEEP: Real = Real::new(c"nanosleep");
static REAL_CLOCK_NANOSLEEP: Real = Real::new(c"clock_nanosleep");

/// Fills `len` bytes at `buf` from the run's OS stream. Returns false if the stream
/// was busy (then nothing was written).
///
/// # Safety
/// `buf` must be valid for writes of `len` bytes.
unsafe fn fill_raw(buf: *mut c_void, len: usize) -> bool {
    let mut block = [0u8; 64];
    let mut written = 0;
    while written < len {
        let n = (len - written).min(block.len());
        if !fill_os_bytes(&mut block[..n]) {
            return false;
        }
        // SAFETY: the caller promises `len` writable bytes at `buf`, and
        // `written + n <= len`; `block` is a local array, so the two do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(block.as_ptr(), buf.cast::<u8>().add(written), n) };
        written += n;
    }
    true
}

fn set_errno(value: c_int) {
    // SAFETY: `__errno_location` returns the calling thread's `errno`, always valid.
    unsafe { *libc::__errno_location() = value };
}

/// `getrandom(2)`: in a sealed run, `len` bytes of the run's OS stream (whatever the
/// flags: the stream never blocks).
///
/// # Safety
/// As libc's: `buf` is valid for writes of `len` bytes.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn getrandom(buf: *mut c_void, len: size_t, flags: c_uint) -> ssize_t {
    crate::entropy::note_os_randomness();
    // At most what one call of the kernel's returns (33554431 bytes), so the count
    // fits the result.
    let len = len.min(0x01ff_ffff);
    // SAFETY: the caller's contract is ours; `fill_raw` writes at most `len` bytes.
    if is_sealed() && (len == 0 || unsafe { fill_raw(buf, len) }) {
        return len as ssize_t;
    }
    type GetRandom = unsafe extern "C" fn(*mut c_void, size_t, c_uint) -> ssize_t;
    match REAL_GETRANDOM.address() {
        // SAFETY: the address is libc's `getrandom`, of this signature; the
        // caller's contract is passed on unchanged.
        Some(real) => unsafe { std::mem::transmute::<usize, GetRandom>(real)(buf, len, flags) },
        // SAFETY: the system call of the same contract.
        None => unsafe { libc::syscall(libc::SYS_getrandom, buf, len, flags) as ssize_t },
    }
}

/// `getentropy(3)`: in a sealed run, `len` (at most 256) bytes of the run's OS
/// stream.
///
/// # Safety
/// As libc's: `buf` is valid for writes of `len` bytes.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn getentropy(buf: *mut c_void, len: size_t) -> c_int {
    crate::entropy::note_os_randomness();
    if is_sealed() {
        if len > 256 {
            set_errno(libc::EIO);
            return -1;
        }
        // SAFETY: the caller's contract is ours.
        if len == 0 || unsafe { fill_raw(buf, len) } {
            return 0;
        }
    }
    type GetEntropy = unsafe extern "C" fn(*mut c_void, size_t) -> c_int;
    match REAL_GETENTROPY.address() {
        // SAFETY: the address is libc's `getentropy`, of this signature.
        Some(real) => unsafe { std::mem::transmute::<usize, GetEntropy>(real)(buf, len) },
        None => {
            // SAFETY: the caller's contract, passed on to the system call (which
            // may return fewer bytes than asked for `len` > 256: refused above).
            let got = unsafe { libc::syscall(libc::SYS_getrandom, buf, len, 0) };
            match got == len as c_long {
                true => 0,
                false => -1,
            }
        }
    }
}

/// Calls libc's `clock_gettime` (or the system call).
///
/// # Safety
/// As `clock_gettime`'s.
unsafe fn real_clock_gettime(clock: clockid_t, tp: *mut timespec) -> c_int {
    type ClockGettime = unsafe extern "C" fn(clockid_t, *mut timespec) -> c_int;
    match REAL_CLOCK_GETTIME.address() {
        // SAFETY: the address is libc's `clock_gettime`, of this signature.
        Some(real) => unsafe { std::mem::transmute::<usize, ClockGettime>(real)(clock, tp) },
        // SAFETY: the system call of the same contract.
        None => unsafe { libc::syscall(libc::SYS_clock_gettime, clock, tp) as c_int },
    }
}

/// `clock_gettime(2)`: in a sealed run, the run's virtual time on the clocks the
/// module docs list.
///
/// # Safety
/// As libc's: `tp` is valid for a write of a `timespec`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn clock_gettime(clock: clockid_t, tp: *mut timespec) -> c_int {
    if let Some((secs, nanos)) = interposed_clock(clock) {
        if tp.is_null() {
            set_errno(libc::EFAULT);
            return -1;
        }
        // SAFETY: `tp` is not null, and the caller promises it points to a
        // `timespec`; the fields are plain integers.
        unsafe {
            (*tp).tv_sec = secs as time_t;
            (*tp).tv_nsec = c_long::from(nanos as i32);
        }
        return 0;
    }
    // SAFETY: the caller's contract, passed on.
    unsafe { real_clock_gettime(clock, tp) }
}

/// `gettimeofday(2)`: in a sealed run, the run's virtual wall-clock time, and a
/// zero time zone (UTC) if one is asked for.
///
/// # Safety
/// As libc's: `tv` is null or valid for a write of a `timeval`, `tz` null or valid
/// for a write of a `struct timezone` (two `int`s).
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn gettimeofday(tv: *mut timeval, tz: *mut c_void) -> c_int {
    if is_sealed()
        && let Some((secs, nanos)) = virtual_clock(super::CLOCK_REALTIME)
    {
        if !tv.is_null() {
            // SAFETY: `tv` is not null, and the caller promises a `timeval` there.
            unsafe {
                (*tv).tv_sec = secs as time_t;
                (*tv).tv_usec = libc::suseconds_t::from(nanos as i32 / 1_000);
            }
        }
        if !tz.is_null() {
            // SAFETY: the caller promises a `struct timezone` (two `int`s) at `tz`.
            unsafe { tz.cast::<[c_int; 2]>().write([0, 0]) };
        }
        return 0;
    }
    type GetTimeOfDay = unsafe extern "C" fn(*mut timeval, *mut c_void) -> c_int;
    match REAL_GETTIMEOFDAY.address() {
        // SAFETY: the address is libc's `gettimeofday`, of this signature.
        Some(real) => unsafe { std::mem::transmute::<usize, GetTimeOfDay>(real)(tv, tz) },
        // SAFETY: the system call of the same contract.
        None => unsafe { libc::syscall(libc::SYS_gettimeofday, tv, tz) as c_int },
    }
}

/// `time(2)`: in a sealed run, the run's virtual wall-clock seconds.
///
/// # Safety
/// As libc's: `t` is null or valid for a write of a `time_t`.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn time(t: *mut time_t) -> time_t {
    let seconds = match is_sealed() {
        true => virtual_clock(super::CLOCK_REALTIME).map(|(secs, _)| secs as time_t),
        false => None,
    };
    let seconds = match seconds {
        Some(seconds) => seconds,
        None => match REAL_TIME.address() {
            // SAFETY: the address is libc's `time`, of this signature; a null
            // argument asks it to write nothing.
            Some(real) => unsafe {
                type Time = unsafe extern "C" fn(*mut time_t) -> time_t;
                std::mem::transmute::<usize, Time>(real)(std::ptr::null_mut())
            },
            None => {
                let mut now = MaybeUninit::<timespec>::zeroed();
                // SAFETY: `now` is a local `timespec`.
                unsafe { real_clock_gettime(libc::CLOCK_REALTIME, now.as_mut_ptr()) };
                // SAFETY: zeroed, then possibly written by the kernel: initialised.
                unsafe { now.assume_init() }.tv_sec
            }
        },
    };
    if !t.is_null() {
        // SAFETY: `t` is not null, and the caller promises a `time_t` there.
        unsafe { t.write(seconds) };
    }
    seconds
}

/// `pthread_create(3)`: refused with `EPERM` on a thread running a simulation that
/// does not allow OS threads (the refusal is noted, and fails the run with
/// [`crate::RunError::Thread`]); libc's everywhere else.
///
/// # Safety
/// As libc's.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
) -> c_int {
    if !may_start_thread() {
        return libc::EPERM;
    }
    type PthreadCreate = unsafe extern "C" fn(
        *mut libc::pthread_t,
        *const libc::pthread_attr_t,
        extern "C" fn(*mut c_void) -> *mut c_void,
        *mut c_void,
    ) -> c_int;
    match REAL_PTHREAD_CREATE.address() {
        // SAFETY: the address is libc's `pthread_create`, of this signature; the
        // caller's contract is passed on unchanged.
        Some(real) => unsafe {
            std::mem::transmute::<usize, PthreadCreate>(real)(thread, attr, start, arg)
        },
        None => libc::EAGAIN,
    }
}

/// The nanoseconds a `timespec` asks for (0 if negative).
///
/// # Safety
/// `ts` is null or points to a `timespec`.
unsafe fn nanos_of(ts: *const timespec) -> Option<u64> {
    // SAFETY: the caller's contract.
    let ts = unsafe { ts.as_ref() }?;
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// `nanosleep(2)`: inside [`super::virtual_sleeps`], a sleep on the virtual clock
/// that returns at once; libc's everywhere else.
///
/// # Safety
/// As libc's.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    // SAFETY: the caller promises a `timespec` at `req`.
    if let Some(nanos) = unsafe { nanos_of(req) }
        && sleep_virtually(nanos)
    {
        return 0;
    }
    type NanoSleep = unsafe extern "C" fn(*const timespec, *mut timespec) -> c_int;
    match REAL_NANOSLEEP.address() {
        // SAFETY: the address is libc's `nanosleep`, of this signature.
        Some(real) => unsafe { std::mem::transmute::<usize, NanoSleep>(real)(req, rem) },
        // SAFETY: the system call of the same contract.
        None => unsafe { libc::syscall(libc::SYS_nanosleep, req, rem) as c_int },
    }
}

/// `clock_nanosleep(2)`: inside [`super::virtual_sleeps`], a sleep on the virtual
/// clock (an absolute deadline is measured against the virtual clock) that returns
/// at once; libc's everywhere else.
///
/// # Safety
/// As libc's.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    // SAFETY: the caller promises a `timespec` at `req`.
    if let Some(asked) = unsafe { nanos_of(req) } {
        let nanos = match flags & libc::TIMER_ABSTIME {
            0 => Some(asked),
            _ => interposed_clock(clock).map(|(secs, nanos)| {
                let now = secs.saturating_mul(1_000_000_000) + u64::from(nanos);
                asked.saturating_sub(now)
            }),
        };
        if let Some(nanos) = nanos
            && sleep_virtually(nanos)
        {
            return 0;
        }
        // A deadline on a session's clock outside its runs (see `super`): slept for as
        // long, for real.
        if flags & libc::TIMER_ABSTIME != 0
            && !is_sealed()
            && let Some(nanos) = nanos
        {
            let relative = timespec {
                tv_sec: (nanos / 1_000_000_000) as time_t,
                tv_nsec: (nanos % 1_000_000_000) as c_long,
            };
            // SAFETY: `relative` is a local `timespec`; `rem` is the caller's, which a
            // relative sleep may write, as the caller allowed.
            return match unsafe { nanosleep(&relative, rem) } {
                0 => 0,
                // `clock_nanosleep` returns the error number that `nanosleep` puts in
                // `errno`.
                // SAFETY: `__errno_location` returns the calling thread's `errno`.
                _ => unsafe { *libc::__errno_location() },
            };
        }
    }
    type ClockNanoSleep =
        unsafe extern "C" fn(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;
    match REAL_CLOCK_NANOSLEEP.address() {
        // SAFETY: the address is libc's `clock_nanosleep`, of this signature.
        Some(real) => unsafe {
            std::mem::transmute::<usize, ClockNanoSleep>(real)(clock, flags, req, rem)
        },
        None => libc::ENOSYS,
    }
}
