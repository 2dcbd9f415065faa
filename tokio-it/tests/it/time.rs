//! `tokio::time`: sleeps, deadlines, timeouts, intervals and their missed-tick
//! behaviours, `Instant`, and the test-util clock (`pause`, `advance`).

use std::time::Duration;

use tokio::time::{
    self, Instant, MissedTickBehavior, interval, interval_at, sleep, sleep_until, timeout,
    timeout_at,
};

const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn sleep_and_sleep_until_move_the_clock_exactly() {
    let start = Instant::now();
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
    let deadline = Instant::now() + 250 * MS;
    sleep_until(deadline).await;
    assert_eq!(Instant::now(), deadline);
    // A deadline in the past completes at once.
    sleep_until(start).await;
    assert_eq!(Instant::now(), deadline);
}

#[tokio::test(start_paused = true)]
async fn sleep_reset_and_is_elapsed() {
    let start = Instant::now();
    let sleep = sleep(Duration::from_secs(10));
    tokio::pin!(sleep);
    assert!(!sleep.is_elapsed());
    sleep.as_mut().reset(start + Duration::from_secs(2));
    assert_eq!(sleep.deadline(), start + Duration::from_secs(2));
    (&mut sleep).await;
    assert!(sleep.is_elapsed());
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn timeout_and_timeout_at() {
    let slow = timeout(MS * 10, sleep(MS * 20)).await;
    let error = slow.unwrap_err();
    assert_eq!(error.to_string(), "deadline has elapsed");
    let io: std::io::Error = error.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(timeout(MS * 10, async { 5 }).await.unwrap(), 5);
    let deadline = Instant::now() + MS * 3;
    assert!(timeout_at(deadline, sleep(MS * 4)).await.is_err());
    assert_eq!(Instant::now(), deadline);
    // A duration too long for the clock means "no timeout".
    assert_eq!(timeout(Duration::MAX, async { 1 }).await.unwrap(), 1);
    let mut t = timeout(MS, async { 2 });
    let _: &mut _ = t.get_mut();
    let _: &_ = t.get_ref();
    assert_eq!(t.into_inner().await, 2);
}

#[tokio::test(start_paused = true)]
async fn interval_ticks_on_schedule() {
    let start = Instant::now();
    let mut ticker = interval(MS * 10);
    assert_eq!(ticker.period(), MS * 10);
    assert_eq!(ticker.missed_tick_behavior(), MissedTickBehavior::Burst);
    // The first tick is immediate.
    assert_eq!(ticker.tick().await, start);
    assert_eq!(ticker.tick().await, start + MS * 10);
    assert_eq!(ticker.tick().await, start + MS * 20);
    assert_eq!(Instant::now(), start + MS * 20);

    let mut later = interval_at(start + MS * 100, MS * 5);
    assert_eq!(later.tick().await, start + MS * 100);
    later.reset();
    assert_eq!(later.tick().await, start + MS * 105);
    later.reset_after(MS * 2);
    assert_eq!(later.tick().await, start + MS * 107);
    later.reset_at(start + MS * 200);
    assert_eq!(later.tick().await, start + MS * 200);
    later.reset_immediately();
    assert_eq!(later.tick().await, start + MS * 200);
}

/// Ticks at 0, then the task is busy until 35 ms: ticks due at 10, 20, 30 were missed.
async fn ticks_after_a_stall(behavior: MissedTickBehavior) -> Vec<Duration> {
    let start = Instant::now();
    let mut ticker = interval(MS * 10);
    ticker.set_missed_tick_behavior(behavior);
    ticker.tick().await;
    sleep(MS * 35).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        ticker.tick().await;
        seen.push(Instant::now() - start);
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn missed_ticks_burst_catches_up_then_keeps_the_schedule() {
    let seen = ticks_after_a_stall(MissedTickBehavior::Burst).await;
    assert_eq!(seen, [MS * 35, MS * 35, MS * 35, MS * 40]);
}

#[tokio::test(start_paused = true)]
async fn missed_ticks_delay_shifts_the_schedule() {
    let seen = ticks_after_a_stall(MissedTickBehavior::Delay).await;
    assert_eq!(seen, [MS * 35, MS * 45, MS * 55, MS * 65]);
}

#[tokio::test(start_paused = true)]
async fn missed_ticks_skip_to_the_next_multiple() {
    let seen = ticks_after_a_stall(MissedTickBehavior::Skip).await;
    assert_eq!(seen, [MS * 35, MS * 40, MS * 50, MS * 60]);
}

#[test]
#[should_panic(expected = "`period` must be non-zero.")]
fn a_zero_period_panics() {
    let start = std::time::Instant::now();
    let _ = interval_at(Instant::from_std(start), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn instant_arithmetic_and_std_round_trip() {
    let now = Instant::now();
    let earlier = now - Duration::from_secs(60);
    assert_eq!(now - earlier, Duration::from_secs(60));
    assert_eq!(earlier.duration_since(now), Duration::ZERO);
    assert_eq!(earlier.checked_duration_since(now), None);
    assert_eq!(now.checked_add(MS), Some(now + MS));
    let std = now.into_std();
    assert_eq!(Instant::from_std(std), now);
    let std_later: std::time::Instant = (now + MS * 7).into();
    assert_eq!(std_later - std, MS * 7);
}

/// Outside a runtime, `Instant::now` is the real clock (libraries read it in
/// constructors that plain `#[test]`s call).
#[test]
fn instant_now_outside_a_runtime_reads_the_real_clock() {
    let first = Instant::now();
    let second = Instant::now();
    assert!(second >= first);
    assert!(first.elapsed() >= second - first);
    assert_eq!(Instant::from_std(first.into_std()), first);
}

/// Simulated on Linux, `std::time::Instant` is the run's virtual clock too, and the
/// two map onto each other exactly.
#[cfg(all(detsim, target_os = "linux", target_env = "gnu"))]
#[tokio::test]
async fn std_instant_is_the_same_virtual_clock() {
    let start = (Instant::now(), std::time::Instant::now());
    sleep(MS * 250).await;
    assert_eq!(start.0.elapsed(), MS * 250);
    assert_eq!(start.1.elapsed(), MS * 250);
    assert_eq!(start.0.into_std(), start.1);
    assert_eq!(Instant::from_std(start.1), start.0);
    assert_eq!(Instant::now().into_std(), std::time::Instant::now());
}

/// The test-util clock: `pause` is accepted, `advance` fires due timers.
#[tokio::test]
async fn pause_and_advance() {
    time::pause();
    let start = Instant::now();
    let sleeper = tokio::spawn(async {
        sleep(Duration::from_secs(5)).await;
        Instant::now()
    });
    time::advance(Duration::from_secs(6)).await;
    // tokio sees the clock after the whole advance, detsim at the sleeper's deadline.
    let woke = sleeper.await.unwrap();
    assert!(woke >= start + Duration::from_secs(5), "{woke:?}");
    assert!(Instant::now() >= start + Duration::from_secs(6));
    time::resume();
}

/// Interval arithmetic saturates, as tokio's: a period of `Duration::MAX` means "never
/// again", also after `reset()`, rather than an overflow panic.
#[tokio::test(start_paused = true)]
async fn an_interval_of_duration_max_saturates() {
    let mut interval = tokio::time::interval(Duration::MAX);
    interval.tick().await; // the first tick is immediate
    interval.reset();
    interval.reset_after(Duration::MAX);
    let next = tokio::time::timeout(Duration::from_secs(3600), interval.tick()).await;
    assert!(next.is_err(), "no second tick within an hour");
}

/// A real sleep in a blocking closure takes its time: on tokio's blocking pool for
/// real, simulated on the virtual clock (and at once in real time).
#[tokio::test]
async fn a_blocking_sleep_longer_than_its_timeout_elapses() {
    let slow = tokio::task::spawn_blocking(|| {
        std::thread::sleep(MS * 20);
        42
    });
    assert!(timeout(MS * 5, slow).await.is_err());
    let start = Instant::now();
    let value = tokio::task::spawn_blocking(|| {
        std::thread::sleep(MS * 20);
        42
    })
    .await
    .unwrap();
    assert_eq!(value, 42);
    assert!(start.elapsed() >= MS * 20);
}

/// tokio's paused clock: a sleep is not elapsed before its first poll, even with its
/// deadline now.
#[tokio::test(start_paused = true)]
async fn a_sleep_until_now_is_not_elapsed_before_its_first_poll() {
    let sleep = sleep_until(Instant::now());
    tokio::pin!(sleep);
    assert!(!sleep.is_elapsed());
    sleep.as_mut().await;
    assert!(sleep.is_elapsed());
}

#[tokio::test]
#[should_panic(expected = "time is already frozen")]
async fn pausing_twice_panics() {
    time::pause();
    time::pause();
}

#[tokio::test]
#[should_panic(expected = "time is not frozen")]
async fn advancing_an_unpaused_clock_panics() {
    time::advance(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "time is not frozen")]
async fn resuming_twice_panics() {
    time::resume();
    time::resume();
}

#[test]
#[should_panic(expected = "timers are disabled")]
fn a_timer_on_a_runtime_without_time_panics() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        drop(timeout(
            Duration::from_millis(5),
            std::future::pending::<()>(),
        ));
    });
}

#[tokio::test]
async fn pause_and_resume_let_time_move_as_on_tokios_clock() {
    let start = Instant::now();
    time::pause();
    time::advance(Duration::from_secs(10)).await;
    let advanced = Instant::now();
    // Time moved before the pause, as real time does on tokio's running clock.
    assert!(advanced - start > Duration::from_secs(10));
    assert!(advanced - start < Duration::from_secs(11));
    time::resume();
    assert!(advanced < Instant::now());
    time::pause();
    // Once paused, timers end at their deadlines on tokio's clock (tokio rounds a
    // deadline up to its timer's millisecond; detsim keeps it exact).
    let paused = Instant::now();
    time::sleep(Duration::from_secs(1)).await;
    let slept = paused.elapsed();
    assert!(
        slept >= Duration::from_secs(1) && slept < Duration::from_secs(1) + 2 * MS,
        "{slept:?}"
    );
    let deadline = Instant::now() + 5 * MS;
    time::sleep_until(deadline).await;
    if cfg!(detsim) {
        assert_eq!(slept, Duration::from_secs(1));
        assert_eq!(Instant::now(), deadline);
    }
}

#[test]
fn instants_taken_around_block_on_measure_the_runtimes_clock() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let std_start = std::time::Instant::now();
    let tokio_start = Instant::now();
    let d = 50 * MS;
    rt.block_on(async move { sleep(d).await });
    rt.block_on(async move {
        tokio::spawn(sleep(d)).await.unwrap();
    });
    assert!(std_start.elapsed() >= 2 * d);
    assert!(tokio_start.elapsed() >= 2 * d);
    if cfg!(detsim) {
        // The runtime's clock stands still outside its block_ons.
        assert_eq!(std_start.elapsed(), 2 * d);
        assert_eq!(tokio_start.elapsed(), 2 * d);
    }
}

/// tokio's paused clock stands still while a blocking task sleeps for real: a timeout
/// shorter than the sleep does not fire.
#[tokio::test(start_paused = true)]
async fn a_blocking_sleep_does_not_move_a_paused_clock() {
    let start = Instant::now();
    let value = timeout(
        MS,
        tokio::task::spawn_blocking(|| {
            std::thread::sleep(MS * 20);
            42
        }),
    )
    .await
    .expect("the paused clock stood still")
    .unwrap();
    assert_eq!(value, 42);
    assert_eq!(start.elapsed(), Duration::ZERO);
}
