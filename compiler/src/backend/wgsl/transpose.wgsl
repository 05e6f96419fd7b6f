// A strided copy, used to transpose the projections' matrices before their
// product (`X W^T` then reads `W^T` along its rows, without transposing each
// staged slice):
//     C[i, j] = A[i, j]    for i < m, j < n, in each group z,
// with A[i, j] at a[a_offset + z a_group + i a_row + j a_col] and C[i, j] at
// c[c_offset + z c_group + i c_row + j]: with a_row = 1, C is A transposed.
// Each workgroup copies a 32 x 32 tile through workgroup memory, so that
// neighbouring threads read neighbouring words of A (along i when a_row = 1,
// else along j) and write neighbouring words of C.
// `GemmSizes` is declared before this text (`gemm.rs`).

@group(0) @binding(0) var<storage, read> sizes: GemmSizes;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

// One column of padding: reading a column of the tile touches every bank once.
var<workgroup> tile: array<array<f32, 33>, 32>;

@compute @workgroup_size(32, 8, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    let i0 = group.y * 32u;
    let j0 = group.x * 32u;
    let a_base = sizes.a_offset + group.z * sizes.a_group;
    let c_base = sizes.c_offset + group.z * sizes.c_group;
    let along_rows = sizes.a_row == 1u;
    for (var r = local.y; r < 32u; r += 8u) {
        var di = r;
        var dj = local.x;
        if along_rows {
            di = local.x;
            dj = r;
        }
        if i0 + di < sizes.m && j0 + dj < sizes.n {
            tile[di][dj] = a[a_base + (i0 + di) * sizes.a_row + (j0 + dj) * sizes.a_col];
        }
    }
    workgroupBarrier();
    for (var r = local.y; r < 32u; r += 8u) {
        if i0 + r < sizes.m && j0 + local.x < sizes.n {
            c[c_base + (i0 + r) * sizes.c_row + j0 + local.x] = tile[r][local.x];
        }
    }
}
