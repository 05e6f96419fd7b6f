// What every recurrence kernel binds first: the run's settings (read-only).

// `first` and `last` bound the steps one dispatch of the sequential kernel walks;
// `save_states` (0 or 1) asks the forward kernels to keep every state for a backward pass.
struct Settings { batch: u32, steps: u32, lanes: u32, max_iterations: u32, atol: f32, rtol: f32, first: u32, last: u32, save_states: u32 }

@group(0) @binding(0) var<storage, read> settings: Settings;
