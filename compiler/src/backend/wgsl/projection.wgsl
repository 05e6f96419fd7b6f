// The hoisted input projections of every step at once: one matrix product
//     out[m, column + n] = sum_k x[offset + m K + k] * w[n, k]
// (m over the B x T steps, n over the rows of the stacked projection matrices, as
// PyTorch's Linear stores them: w is row-major [N, K]); out rows have `stride` words.
// Each workgroup computes a 128 x 128 tile of out; each of its 256 threads an 8 x 8
// block, from 8-wide slices of x and w staged in workgroup memory.

struct Sizes { m: u32, n: u32, k: u32, offset: u32, stride: u32, column: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> sizes: Sizes;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const TILE: u32 = 128u;
const DEPTH: u32 = 8u;
const MICRO: u32 = 8u;

var<workgroup> x_tile: array<f32, 1024>;   // [DEPTH][TILE], transposed
var<workgroup> w_tile: array<f32, 1024>;   // [DEPTH][TILE], transposed

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>,
        @builtin(local_invocation_index) thread: u32) {
    let m0 = group.y * TILE;
    let n0 = group.x * TILE;
    var acc: array<array<f32, 8>, 8>;
    for (var i = 0u; i < MICRO; i++) { for (var j = 0u; j < MICRO; j++) { acc[i][j] = 0.0; } }

    // Each thread loads 4 elements of each tile per step: row r = thread / 2,
    // depth d = (thread % 2) * 4 .. + 4.
    let load_row = thread / 2u;
    let load_depth = (thread % 2u) * 4u;
    for (var k0 = 0u; k0 < sizes.k; k0 += DEPTH) {
        for (var e = 0u; e < 4u; e++) {
            let kk = k0 + load_depth + e;
            let xm = m0 + load_row;
            let wn = n0 + load_row;
            var xv = 0.0;
            var wv = 0.0;
            if xm < sizes.m && kk < sizes.k { xv = x[sizes.offset + xm * sizes.k + kk]; }
            if wn < sizes.n && kk < sizes.k { wv = w[wn * sizes.k + kk]; }
            x_tile[(load_depth + e) * TILE + load_row] = xv;
            w_tile[(load_depth + e) * TILE + load_row] = wv;
        }
        workgroupBarrier();
        for (var d = 0u; d < DEPTH; d++) {
            var xr: array<f32, 8>;
            var wr: array<f32, 8>;
            for (var i = 0u; i < MICRO; i++) {
                xr[i] = x_tile[d * TILE + local.y + 16u * i];
                wr[i] = w_tile[d * TILE + local.x + 16u * i];
            }
            for (var i = 0u; i < MICRO; i++) {
                for (var j = 0u; j < MICRO; j++) { acc[i][j] = fma(xr[i], wr[j], acc[i][j]); }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < MICRO; i++) {
        let m = m0 + local.y + 16u * i;
        if m >= sizes.m { continue; }
        for (var j = 0u; j < MICRO; j++) {
            let n = n0 + local.x + 16u * j;
            if n < sizes.n { out[m * sizes.stride + sizes.column + n] = acc[i][j]; }
        }
    }
}
