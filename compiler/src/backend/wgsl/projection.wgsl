// The hoisted input projections of every step at once: one matrix product
//     out[m, column + n] = sum_k x[offset + m K + k] * w[n, k]
// (m over the B x T steps, n over the rows of the stacked projection matrices, as
// PyTorch's Linear stores them: w is row-major [N, K]); out rows have `stride` words.
// Each workgroup computes a 64 x 64 tile of out; each of its 256 threads a 4 x 4
// block held in four vec4 registers, from 16-deep slices of x and w staged in
// workgroup memory (stored transposed, as vec4s of four rows or columns).
// `ProjectionSizes` is declared by the runtime interface (`interface.rs`).

@group(0) @binding(0) var<storage, read> sizes: ProjectionSizes;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const TILE: u32 = 64u;
const DEPTH: u32 = 16u;

// [DEPTH][TILE / 4] vec4s: element (d, r) is x_tile[d * 16 + r / 4][r % 4].
var<workgroup> x_tile: array<vec4<f32>, 256>;
var<workgroup> w_tile: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>,
        @builtin(local_invocation_index) thread: u32) {
    let m0 = group.y * TILE;
    let n0 = group.x * TILE;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    // Loading: thread t reads 4 consecutive depths of row t / 4 of each tile.
    let load_row = thread / 4u;
    let load_depth = (thread % 4u) * 4u;
    let xm = m0 + load_row;
    let wn = n0 + load_row;
    for (var k0 = 0u; k0 < sizes.k; k0 += DEPTH) {
        for (var e = 0u; e < 4u; e++) {
            let kk = k0 + load_depth + e;
            var xv = 0.0;
            var wv = 0.0;
            if xm < sizes.m && kk < sizes.k { xv = x[sizes.offset + xm * sizes.k + kk]; }
            if wn < sizes.n && kk < sizes.k { wv = w[wn * sizes.k + kk]; }
            let slot = (load_depth + e) * 16u + load_row / 4u;
            x_tile[slot][load_row % 4u] = xv;
            w_tile[slot][load_row % 4u] = wv;
        }
        workgroupBarrier();
        for (var d = 0u; d < DEPTH; d++) {
            let a = x_tile[d * 16u + local.y];
            let b = w_tile[d * 16u + local.x];
            acc0 = fma(vec4<f32>(a.x), b, acc0);
            acc1 = fma(vec4<f32>(a.y), b, acc1);
            acc2 = fma(vec4<f32>(a.z), b, acc2);
            acc3 = fma(vec4<f32>(a.w), b, acc3);
        }
        workgroupBarrier();
    }
    let n = n0 + local.x * 4u;
    let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + local.y * 4u + i;
        if m >= sizes.m { continue; }
        let base = m * sizes.stride + sizes.column;
        let v = rows[i];
        if n < sizes.n { out[base + n] = v.x; }
        if n + 1u < sizes.n { out[base + n + 1u] = v.y; }
        if n + 2u < sizes.n { out[base + n + 2u] = v.z; }
        if n + 3u < sizes.n { out[base + n + 3u] = v.w; }
    }
}
