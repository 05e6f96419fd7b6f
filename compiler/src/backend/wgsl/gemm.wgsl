// A general matrix product with strided operands, for the backward pass:
//     C[i, j] = sum_k A[i, k] * B[k, j]     (or C[i, j] += ..., when `accumulate` is 1)
// with A[i, k] at a[a_offset + i * a_row + k * a_col], B[k, j] at
// b[b_offset + k * b_row + j * b_col] and C[i, j] at c[c_offset + i * c_row + j].
// Strides let one kernel take transposed operands and column ranges in place:
// the projection matrices' gradients dW = dP^T X (k over the B x T steps) and the
// inputs' dX += dP W. Each workgroup computes a 64 x 64 tile of C, each of its
// 256 threads a 4 x 4 block, from 16-deep slices of A and B staged in workgroup
// memory (loaded along whichever index is contiguous in memory).

struct Sizes {
    m: u32, n: u32, k: u32, accumulate: u32,
    a_offset: u32, a_row: u32, a_col: u32,
    b_offset: u32, b_row: u32, b_col: u32,
    c_offset: u32, c_row: u32,
}

@group(0) @binding(0) var<storage, read> sizes: Sizes;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const DEPTH: u32 = 16u;

// [DEPTH][TILE]: element (kk, i) at kk * TILE + i.
var<workgroup> a_tile: array<f32, 1024>;
var<workgroup> b_tile: array<f32, 1024>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>,
        @builtin(local_invocation_index) thread: u32) {
    let i0 = group.y * TILE;
    let j0 = group.x * TILE;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < sizes.k; k0 += DEPTH) {
        for (var l = 0u; l < 4u; l++) {
            let index = thread + l * 256u;
            // A: along k where k is contiguous, else along i.
            var i = index % TILE;
            var kk = index / TILE;
            if sizes.a_col == 1u {
                kk = index % DEPTH;
                i = index / DEPTH;
            }
            var value = 0.0;
            if i0 + i < sizes.m && k0 + kk < sizes.k {
                value = a[sizes.a_offset + (i0 + i) * sizes.a_row + (k0 + kk) * sizes.a_col];
            }
            a_tile[kk * TILE + i] = value;
            // B: along j where j is contiguous, else along k.
            var j = index % TILE;
            kk = index / TILE;
            if sizes.b_col != 1u {
                kk = index % DEPTH;
                j = index / DEPTH;
            }
            value = 0.0;
            if j0 + j < sizes.n && k0 + kk < sizes.k {
                value = b[sizes.b_offset + (k0 + kk) * sizes.b_row + (j0 + j) * sizes.b_col];
            }
            b_tile[kk * TILE + j] = value;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < DEPTH; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var r = 0u; r < 4u; r++) {
                av[r] = a_tile[kk * TILE + local.y * 4u + r];
                bv[r] = b_tile[kk * TILE + local.x * 4u + r];
            }
            for (var r = 0u; r < 4u; r++) {
                for (var q = 0u; q < 4u; q++) { acc[r * 4u + q] += av[r] * bv[q]; }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + local.y * 4u + r;
        for (var q = 0u; q < 4u; q++) {
            let j = j0 + local.x * 4u + q;
            if i < sizes.m && j < sizes.n {
                let at = sizes.c_offset + i * sizes.c_row + j;
                var value = acc[r * 4u + q];
                if sizes.accumulate == 1u { value += c[at]; }
                c[at] = value;
            }
        }
    }
}
