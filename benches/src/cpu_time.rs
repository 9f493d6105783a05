//! Timing a benchmark's runs by the CPU time of its thread instead of the wall clock, for
//! figures on a shared machine: `STADTPULS_BENCH_CPU_TIME=1` (Linux,
//! `/proc/thread-self/schedstat`). Other processes' load then inflates a run only by what
//! it costs the thread's caches, not by the time the thread waited for a core.

use std::time::{Duration, Instant};

/// Whether `STADTPULS_BENCH_CPU_TIME=1` asks for CPU time.
pub fn wanted() -> bool {
    std::env::var_os("STADTPULS_BENCH_CPU_TIME").is_some_and(|v| v == "1")
}

/// The CPU time this thread has run, when the kernel tells it.
pub fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Times `iters` runs of `routine` on what `setup` makes for each (not timed): by the
/// thread's CPU time when `cpu` is set and readable, else by the wall clock. For
/// criterion's `iter_custom`.
pub fn timed<S, R>(
    cpu: bool,
    iters: u64,
    mut setup: impl FnMut() -> S,
    mut routine: impl FnMut(&mut S) -> R,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut input = setup();
        let (wall, before) = (Instant::now(), cpu.then(thread_cpu).flatten());
        let out = routine(&mut input);
        total += match (before, cpu.then(thread_cpu).flatten()) {
            (Some(before), Some(after)) => after.saturating_sub(before),
            _ => wall.elapsed(),
        };
        drop(std::hint::black_box((out, input)));
    }
    total
}
