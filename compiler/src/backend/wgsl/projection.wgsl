// The hoisted input projections of every step at once: one matrix product
//     out[m, column + n] = sum_k x[offset + m K + k] * w[n, k]
// (m over the B x T steps, n over the rows of the stacked projection matrices, as
// PyTorch's Linear stores them: w is row-major [N, K]); out rows have `stride` words.
// Each workgroup computes a 128 x 128 tile of out; each of its 256 threads an
// 8 x 8 block held in sixteen vec4 registers (rows ty*8.., columns tx*8..), from
// 8-deep slices of x and w staged in workgroup memory (stored transposed, as
// vec4s of four rows or columns). The block's arithmetic is written out (no
// loops over register arrays, which drivers may place in local memory).
// `ProjectionSizes` is declared by the runtime interface (`interface.rs`).

@group(0) @binding(0) var<storage, read> sizes: ProjectionSizes;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const TILE: u32 = 128u;
const DEPTH: u32 = 8u;

// [DEPTH][TILE / 4] vec4s: element (d, r) is x_tile[d * 32 + r / 4][r % 4].
var<workgroup> x_tile: array<vec4<f32>, 256>;
var<workgroup> w_tile: array<vec4<f32>, 256>;

fn store_row(m: u32, n: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if m >= sizes.m { return; }
    let base = m * sizes.stride + sizes.column;
    let values = array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
    for (var j = 0u; j < 8u; j++) {
        if n + j < sizes.n { out[base + n + j] = values[j]; }
    }
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>,
        @builtin(local_invocation_index) thread: u32) {
    let m0 = group.y * TILE;
    let n0 = group.x * TILE;
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    // Loading: thread t reads 4 consecutive depths of row t / 2 of each tile.
    let load_row = thread / 2u;
    let load_depth = (thread % 2u) * 4u;
    let xm = m0 + load_row;
    let wn = n0 + load_row;
    for (var k0 = 0u; k0 < sizes.k; k0 += DEPTH) {
        for (var e = 0u; e < 4u; e++) {
            let kk = k0 + load_depth + e;
            var xv = 0.0;
            var wv = 0.0;
            if xm < sizes.m && kk < sizes.k { xv = x[sizes.offset + xm * sizes.k + kk]; }
            if wn < sizes.n && kk < sizes.k { wv = w[wn * sizes.k + kk]; }
            let slot = (load_depth + e) * 32u + load_row / 4u;
            x_tile[slot][load_row % 4u] = xv;
            w_tile[slot][load_row % 4u] = wv;
        }
        workgroupBarrier();
        for (var d = 0u; d < DEPTH; d++) {
            let a0 = x_tile[d * 32u + local.y * 2u];
            let a1 = x_tile[d * 32u + local.y * 2u + 1u];
            let b0 = w_tile[d * 32u + local.x * 2u];
            let b1 = w_tile[d * 32u + local.x * 2u + 1u];
            c0a = fma(vec4<f32>(a0.x), b0, c0a);
            c0b = fma(vec4<f32>(a0.x), b1, c0b);
            c1a = fma(vec4<f32>(a0.y), b0, c1a);
            c1b = fma(vec4<f32>(a0.y), b1, c1b);
            c2a = fma(vec4<f32>(a0.z), b0, c2a);
            c2b = fma(vec4<f32>(a0.z), b1, c2b);
            c3a = fma(vec4<f32>(a0.w), b0, c3a);
            c3b = fma(vec4<f32>(a0.w), b1, c3b);
            c4a = fma(vec4<f32>(a1.x), b0, c4a);
            c4b = fma(vec4<f32>(a1.x), b1, c4b);
            c5a = fma(vec4<f32>(a1.y), b0, c5a);
            c5b = fma(vec4<f32>(a1.y), b1, c5b);
            c6a = fma(vec4<f32>(a1.z), b0, c6a);
            c6b = fma(vec4<f32>(a1.z), b1, c6b);
            c7a = fma(vec4<f32>(a1.w), b0, c7a);
            c7b = fma(vec4<f32>(a1.w), b1, c7b);
        }
        workgroupBarrier();
    }
    let m = m0 + local.y * 8u;
    let n = n0 + local.x * 8u;
    store_row(m + 0u, n, c0a, c0b);
    store_row(m + 1u, n, c1a, c1b);
    store_row(m + 2u, n, c2a, c2b);
    store_row(m + 3u, n, c3a, c3b);
    store_row(m + 4u, n, c4a, c4b);
    store_row(m + 5u, n, c5a, c5b);
    store_row(m + 6u, n, c6a, c6b);
    store_row(m + 7u, n, c7a, c7b);
}
