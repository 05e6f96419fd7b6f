// A general matrix product with strided operands, for the backward pass:
//     C[i, j] = sum_k A[i, k] * B[k, j]     (or C[i, j] += ..., when `accumulate` is 1)
// with A[i, k] at a[a_offset + i * a_row + k * a_col], B[k, j] at
// b[b_offset + k * b_row + j * b_col] and C[i, j] at c[c_offset + i * c_row + j].
// Strides let one kernel take transposed operands and column ranges in place:
// the projection matrices' gradients dW = dP^T X (k over the B x T steps) and the
// inputs' dX += dP W. Each workgroup computes a 64 x 64 tile of C, each of its
// 256 threads a 4 x 4 block, from 16-deep slices of A and B staged in workgroup
// memory (loaded along whichever index is contiguous in memory), as vec4s of four
// rows or columns, so that the product runs in four vec4 registers. The z axis of
// the dispatch runs independent products of a grouped product (a block-diagonal
// matrix's blocks): group z shifts each operand by its group stride. `GemmSizes`
// is declared by the runtime interface (`interface.rs`).

@group(0) @binding(0) var<storage, read> sizes: GemmSizes;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const DEPTH: u32 = 16u;

// [DEPTH][TILE / 4] vec4s: element (kk, i) is a_tile[kk * 16 + i / 4][i % 4].
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>,
        @builtin(local_invocation_index) thread: u32) {
    let i0 = group.y * TILE;
    let j0 = group.x * TILE;
    let a_offset = sizes.a_offset + group.z * sizes.a_group;
    let b_offset = sizes.b_offset + group.z * sizes.b_group;
    let c_offset = sizes.c_offset + group.z * sizes.c_group;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
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
                value = a[a_offset + (i0 + i) * sizes.a_row + (k0 + kk) * sizes.a_col];
            }
            a_tile[kk * 16u + i / 4u][i % 4u] = value;
            // B: along j where j is contiguous, else along k.
            var j = index % TILE;
            kk = index / TILE;
            if sizes.b_col != 1u {
                kk = index % DEPTH;
                j = index / DEPTH;
            }
            value = 0.0;
            if j0 + j < sizes.n && k0 + kk < sizes.k {
                value = b[b_offset + (k0 + kk) * sizes.b_row + (j0 + j) * sizes.b_col];
            }
            b_tile[kk * 16u + j / 4u][j % 4u] = value;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < DEPTH; kk++) {
            let av = a_tile[kk * 16u + local.y];
            let bv = b_tile[kk * 16u + local.x];
            acc0 = fma(vec4<f32>(av.x), bv, acc0);
            acc1 = fma(vec4<f32>(av.y), bv, acc1);
            acc2 = fma(vec4<f32>(av.z), bv, acc2);
            acc3 = fma(vec4<f32>(av.w), bv, acc3);
        }
        workgroupBarrier();
    }
    let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + local.y * 4u + r;
        if i >= sizes.m { continue; }
        let v = rows[r];
        for (var q = 0u; q < 4u; q++) {
            let j = j0 + local.x * 4u + q;
            if j < sizes.n {
                let at = c_offset + i * sizes.c_row + j;
                var value = v[q];
                if sizes.accumulate == 1u { value += c[at]; }
                c[at] = value;
            }
        }
    }
}
