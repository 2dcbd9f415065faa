//! Timing and printing: the median of a few repetitions, measured with `Instant`.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `work` once to warm up, then `reps` times, and gives the median wall time.
pub(crate) fn median_time<T>(reps: usize, mut work: impl FnMut() -> T) -> Duration {
    black_box(work());
    let mut times: Vec<Duration> = (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            black_box(work());
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

/// Like [`median_time`], but measures the CPU time of the calling thread
/// ([`thread_cpu_time`]) where it can be read: on a machine shared with other work, the
/// wall time of a single-threaded run includes the time it waited for a core, its CPU
/// time much less so. Falls back to the wall clock elsewhere.
pub(crate) fn median_cpu_time<T>(reps: usize, mut work: impl FnMut() -> T) -> Duration {
    if thread_cpu_time().is_none() {
        return median_time(reps, work);
    }
    black_box(work());
    let mut times: Vec<Duration> = (0..reps.max(1))
        .map(|_| {
            let start = thread_cpu_time().expect("the thread CPU clock was readable");
            black_box(work());
            thread_cpu_time().expect("the thread CPU clock was readable") - start
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

/// CPU time of the calling thread so far (`CLOCK_THREAD_CPUTIME_ID`, nanoseconds, read
/// through rustix's safe wrapper; `None` off Unix).
#[cfg(unix)]
pub(crate) fn thread_cpu_time() -> Option<Duration> {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Some(Duration::new(
        u64::try_from(time.tv_sec).ok()?,
        u32::try_from(time.tv_nsec).ok()?,
    ))
}

/// CPU time of this process, all threads together (`CLOCK_PROCESS_CPUTIME_ID`, read
/// through rustix's safe wrapper; `None` off Unix).
#[cfg(unix)]
pub(crate) fn process_cpu_time() -> Option<Duration> {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Some(Duration::new(
        u64::try_from(time.tv_sec).ok()?,
        u32::try_from(time.tv_nsec).ok()?,
    ))
}

/// CPU time of this process: not measured off Unix.
#[cfg(not(unix))]
pub(crate) fn process_cpu_time() -> Option<Duration> {
    None
}

/// CPU time of the calling thread: not measured off Unix.
#[cfg(not(unix))]
pub(crate) fn thread_cpu_time() -> Option<Duration> {
    None
}

/// What [`median_cpu_time`] measures, for the sections' headings.
pub(crate) fn clock_name() -> &'static str {
    match thread_cpu_time() {
        Some(_) => "thread CPU time",
        None => "wall time",
    }
}

/// CPU time (user + system) of this process so far, all threads together, from
/// `/proc/self/stat` (Linux; `None` elsewhere). Its resolution is a clock tick, taken
/// to be 1/100 s (Linux's USER_HZ).
pub(crate) fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let total = ticks(11)? + ticks(12)?;
    Some(Duration::from_millis(total * 10))
}

/// The median of some counts (the upper one of the middle two for an even number).
pub(crate) fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// The median of some figures (the upper one of the middle two for an even number).
pub(crate) fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The geometric mean of positive values.
pub(crate) fn geometric_mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let log_sum: f64 = values.iter().map(|v| v.ln()).sum();
    (log_sum / values.len() as f64).exp()
}

/// Nanoseconds per item of a run of `items` items.
pub(crate) fn ns_per(time: Duration, items: u64) -> f64 {
    time.as_nanos() as f64 / items as f64
}

/// Items per second of a run of `items` items.
pub(crate) fn per_second(time: Duration, items: u64) -> f64 {
    items as f64 / time.as_secs_f64()
}

/// A duration, readably: `812 µs`, `3.41 ms`, `1.20 s`.
pub(crate) fn show(time: Duration) -> String {
    let secs = time.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.1} µs", secs * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_means() {
        assert_eq!(median(&mut [5, 1, 3]), 3);
        assert_eq!(median(&mut [4, 1, 3, 2]), 3);
        assert!((geometric_mean(&[1.0, 100.0]) - 10.0).abs() < 1e-9);
        assert_eq!(show(Duration::from_micros(1500)), "1.50 ms");
        if cfg!(target_os = "linux") {
            assert!(cpu_time().is_some(), "/proc/self/stat parses");
            assert!(
                thread_cpu_time().is_some(),
                "/proc/thread-self/schedstat parses"
            );
        }
    }
}
