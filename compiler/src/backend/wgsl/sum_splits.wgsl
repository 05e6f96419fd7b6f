// Adds the partial products of a product whose depth was split (`gemm.wgsl`):
//     C[w] = sum over splits s of C[w + s c_split]    for every word w < c_split of C,
// C starting at c_offset. One thread per word, the grid in rows of workgroups.
// `GemmSizes` is declared before this text (`gemm.rs`).

@group(0) @binding(0) var<storage, read> sizes: GemmSizes;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let word = id.x + id.y * groups.x * 256u;
    if word >= sizes.c_split {
        return;
    }
    let at = sizes.c_offset + word;
    var sum = c[at];
    for (var s = 1u; s < sizes.splits; s++) {
        sum += c[at + s * sizes.c_split];
    }
    c[at] = sum;
}
