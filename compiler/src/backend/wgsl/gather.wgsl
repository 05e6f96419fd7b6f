// Sums of gathered words, one thread per target j < sizes.targets:
//     dst[table[targets_at + j]] (+)= sum of src[table[k]]
//         for k in table[starts_at + j] .. table[starts_at + j + 1]
// (`accumulate`: added to what dst holds). The table is planned by the
// runtime: every index in it is below the length of the buffer it indexes, and
// no target appears twice. The grid is in rows of workgroups.
// `GatherSizes` is declared before this text (`gather.rs`).

@group(0) @binding(0) var<storage, read> sizes: GatherSizes;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let j = id.x + id.y * groups.x * 256u;
    if j >= sizes.targets {
        return;
    }
    var sum = 0.0;
    let end = table[sizes.starts_at + j + 1u];
    for (var k = table[sizes.starts_at + j]; k < end; k++) {
        sum += src[table[k]];
    }
    let at = table[sizes.targets_at + j];
    if sizes.accumulate != 0u {
        sum += dst[at];
    }
    dst[at] = sum;
}
