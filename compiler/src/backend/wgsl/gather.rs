//! Gathered sums (`gather.wgsl`): words of one buffer summed by lists of
//! indices into words of another. The runtime uses it where results are
//! assembled on the device rather than on the host: the parameters' gradients
//! from the backward kernels' per-thread accumulators, and a `scalar`
//! parameter's number repeated to the length the kernels read. And the quad
//! copy (`copy.wgsl`), words moved between two buffers by a kernel.

use super::interface::GatherSizes;

/// Threads per workgroup (`gather.wgsl`).
const THREADS: u64 = 256;

/// The kernel's text (entry point `main`; bindings: its sizes, the table, the
/// source, the destination).
pub fn gather_text() -> String {
    format!("{}{}", GatherSizes::wgsl(), include_str!("gather.wgsl"))
}

/// Threads per workgroup of the quad copy (`copy.wgsl`), each copying one quad.
pub const COPY_THREADS: u64 = 256;

/// The quad copy's text (entry point `main`; bindings: the source and the
/// destination, ranges of the same length in whole quads).
pub fn copy_text() -> &'static str {
    include_str!("copy.wgsl")
}

/// A planned gather: the table the kernel reads and the record that describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatherTable {
    /// `starts` (`targets + 1`), then `targets`, then the sources' indices.
    pub words: Vec<u32>,
    /// The record the kernel reads (without `accumulate`, which is per dispatch).
    pub sizes: GatherSizes,
}

impl GatherTable {
    /// The table of `lists`: each a target index with the source indices summed into it.
    pub fn new(lists: &[(u32, Vec<u32>)]) -> GatherTable {
        let targets = lists.len() as u32;
        let starts_at = 0u32;
        let targets_at = targets + 1;
        let sources_at = targets_at + targets;
        let mut words = Vec::with_capacity(sources_at as usize + lists.iter().map(|(_, s)| s.len()).sum::<usize>());
        let mut next = sources_at;
        for (_, sources) in lists {
            words.push(next);
            next += sources.len() as u32;
        }
        words.push(next);
        words.extend(lists.iter().map(|(target, _)| *target));
        for (_, sources) in lists {
            words.extend_from_slice(sources);
        }
        GatherTable { words, sizes: GatherSizes { targets, accumulate: 0, starts_at, targets_at } }
    }

    /// The workgroups of a dispatch (one thread per target, in rows of at most
    /// `max_per_dimension` workgroups).
    pub fn grid(&self, max_per_dimension: u32) -> [u32; 3] {
        super::grid_in_rows(u64::from(self.sizes.targets), THREADS, max_per_dimension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_starts_then_targets_then_sources() {
        let table = GatherTable::new(&[(7, vec![1, 2]), (3, vec![]), (5, vec![4])]);
        assert_eq!(table.words, vec![7, 9, 9, 10, 7, 3, 5, 1, 2, 4]);
        assert_eq!(table.sizes, GatherSizes { targets: 3, accumulate: 0, starts_at: 0, targets_at: 4 });
        assert_eq!(table.grid(65535), [1, 1, 1]);
    }

    #[test]
    fn the_kernel_validates() {
        super::super::validate("gather", &gather_text()).expect("valid");
        super::super::validate("copy", copy_text()).expect("valid");
    }
}
