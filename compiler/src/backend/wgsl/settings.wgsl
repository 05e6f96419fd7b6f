// What every recurrence kernel binds first: the run's settings (read-only) and the
// per-workgroup statistics it writes.

// `first` and `last` bound the steps one dispatch of the sequential kernel walks.
struct Settings { batch: u32, steps: u32, lanes: u32, max_iterations: u32, atol: f32, rtol: f32, first: u32, last: u32 }

@group(0) @binding(0) var<storage, read> settings: Settings;
// Per workgroup: the most iterations of any segment, segments that fell back to the
// sequential method, and the largest final update (as f32 bits).
@group(0) @binding(1) var<storage, read_write> stats: array<u32>;
