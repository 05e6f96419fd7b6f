// A copy of quads of words, dst[i] = src[i] for every quad i of dst: both
// operands are bound as ranges of the same length (the runtime's exchange
// copies, `runtime/src/gpu/copy.rs`). One thread per quad; the grid is in rows
// of workgroups.

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = id.x + id.y * groups.x * 256u;
    if i < arrayLength(&dst) {
        dst[i] = src[i];
    }
}
