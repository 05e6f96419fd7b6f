//! Threads: tasks spread over scoped threads, each thread with its own
//! workspace, and how a batch is cut into channel ranges.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rnnc_compiler::backend::clif::ChannelSplit;

use super::error::CpuError;

/// Runs `task(workspace, i)` for every `i < tasks` on up to `threads` threads,
/// each with a workspace made by `init`; the results in task order, or the first
/// error.
pub(crate) fn run_tasks<W, T>(
    tasks: usize,
    threads: usize,
    init: &(dyn Fn() -> Result<W, CpuError> + Sync),
    task: &(dyn Fn(&mut W, usize) -> Result<T, CpuError> + Sync),
) -> Result<Vec<T>, CpuError>
where
    T: Send,
{
    let workers = threads.clamp(1, tasks.max(1));
    if workers == 1 {
        let mut workspace = init()?;
        return (0..tasks).map(|i| task(&mut workspace, i)).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || -> Result<Vec<(usize, T)>, CpuError> {
        let mut workspace = init()?;
        let mut done = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= tasks {
                break;
            }
            match task(&mut workspace, i) {
                Ok(result) => done.push((i, result)),
                Err(error) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(error);
                }
            }
        }
        Ok(done)
    };
    let outcomes: Vec<Result<Vec<(usize, T)>, CpuError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|panic| Err(CpuError::Worker(panic_message(&panic)))))
            .collect()
    });
    let mut slots: Vec<Option<T>> = (0..tasks).map(|_| None).collect();
    for outcome in outcomes {
        for (i, result) in outcome? {
            slots[i] = Some(result);
        }
    }
    slots.into_iter().map(|slot| slot.ok_or_else(|| CpuError::Worker("a task was not run".to_owned()))).collect()
}

/// Runs `task(workspace, i)` for every `i < tasks` on up to `threads` threads,
/// each with a workspace made by `init`, and returns the workspaces (one per
/// thread, in thread order): for tasks that accumulate into their thread's
/// workspace. Worker `w` runs tasks `w, w + workers, ...` in increasing order,
/// so what each workspace accumulates, and in what order, depends only on
/// `tasks` and `threads`, never on scheduling: sums of the workspaces are
/// reproducible bit for bit run after run.
pub(crate) fn run_workers<W: Send>(
    tasks: usize,
    threads: usize,
    init: &(dyn Fn() -> Result<W, CpuError> + Sync),
    task: &(dyn Fn(&mut W, usize) -> Result<(), CpuError> + Sync),
) -> Result<Vec<W>, CpuError> {
    let workers = threads.clamp(1, tasks.max(1));
    let failed = AtomicBool::new(false);
    let work = |first: usize| -> Result<W, CpuError> {
        let mut workspace = init()?;
        for i in (first..tasks).step_by(workers) {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            if let Err(error) = task(&mut workspace, i) {
                failed.store(true, Ordering::Relaxed);
                return Err(error);
            }
        }
        Ok(workspace)
    };
    if workers == 1 {
        return Ok(vec![work(0)?]);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|w| scope.spawn(move || work(w))).collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|panic| Err(CpuError::Worker(panic_message(&panic)))))
            .collect()
    })
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic".to_owned()
    }
}

fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a.checked_div(x).map_or(0, |q| q * b)
}

/// The channel ranges each sequence is cut into so that `batch` sequences keep
/// `threads` threads busy: ranges start at multiples of the granule and of 4, and
/// are at least 4 channels long (or cover every channel). Without a split, one
/// range of every channel.
pub(crate) fn channel_ranges(
    split: Option<ChannelSplit>,
    channels: usize,
    batch: usize,
    threads: usize,
) -> Vec<(usize, usize)> {
    let Some(split) = split else { return vec![(0, channels)] };
    let step = lcm(split.granule.max(1), 4);
    let wanted = threads.div_ceil(batch.max(1));
    if wanted <= 1 || split.channels < 2 * step {
        return vec![(0, split.channels)];
    }
    let width = split.channels.div_ceil(wanted).div_ceil(step) * step;
    let mut ranges: Vec<(usize, usize)> =
        (0..split.channels).step_by(width).map(|start| (start, (start + width).min(split.channels))).collect();
    if ranges.len() > 1 && ranges.last().is_some_and(|&(a, b)| b - a < 4) {
        let (_, end) = ranges.pop().unwrap_or((0, 0));
        if let Some(last) = ranges.last_mut() {
            last.1 = end;
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_channel_in_aligned_pieces() {
        let split = Some(ChannelSplit { channels: 1024, granule: 1 });
        assert_eq!(channel_ranges(split, 1024, 1, 2), vec![(0, 512), (512, 1024)]);
        assert_eq!(channel_ranges(split, 1024, 8, 2), vec![(0, 1024)]);
        let odd = Some(ChannelSplit { channels: 10, granule: 1 });
        assert_eq!(channel_ranges(odd, 10, 1, 4), vec![(0, 4), (4, 10)]);
        let blocks = Some(ChannelSplit { channels: 48, granule: 6 });
        for range in channel_ranges(blocks, 48, 1, 3) {
            assert_eq!(range.0 % 12, 0);
        }
        assert_eq!(channel_ranges(None, 7, 1, 16), vec![(0, 7)]);
    }

    #[test]
    fn tasks_run_once_each_in_order() {
        let results = run_tasks(100, 3, &|| Ok(0usize), &|seen, i| {
            *seen += 1;
            Ok(i * 2)
        })
        .expect("no error");
        assert_eq!(results, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        let failed = run_tasks(10, 2, &|| Ok(()), &|_, i| {
            if i == 5 { Err(CpuError::Worker("five".into())) } else { Ok(i) }
        });
        assert!(failed.is_err());
    }
}
