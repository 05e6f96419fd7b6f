// The matrix product of every projection and projection gradient:
//     C[i, j] = sum_k A[i, k] * B[k, j]     (or C[i, j] += ..., when `accumulate` is 1)
// with A[i, k] at a[a_offset + i * a_row + k * a_col], B[k, j] at
// b[b_offset + k * b_row + j * b_col] and C[i, j] at c[c_offset + i * c_row + j].
// Strides let one kernel take transposed operands and column ranges in place: the
// projections X W^T, the matrices' gradients dP^T X and the inputs' dP W.
//
// Each workgroup computes a 128 x 128 tile of C; each of its 256 threads an 8 x 8
// block of it, as 2 x 2 blocks of 4 x 4 (rows 4 ty.. and 64 + 4 ty.., columns 4 tx..
// and 64 + 4 tx..), held in sixteen vec4 registers, so that a subgroup's reads of
// the staged tiles are consecutive vec4s (no bank conflicts). The depth is walked
// in slices of DEPTH, staged in workgroup memory as [depth][128] (each operand
// transposed if need be) in two buffers: while the threads multiply one slice,
// they hold the next one's global loads in registers and then stage it in the
// other buffer, one barrier per slice. Each operand is loaded along whichever of
// its indices is contiguous in memory, so that neighbouring threads read
// neighbouring words.
//
// The z axis of the dispatch runs `groups x splits` products: group z / splits
// shifts each operand by its group stride (the blocks of a block-diagonal
// matrix), or by its stride times the group modulo the operand's cycle (the
// input's blocks, shared by several block-diagonal matrices); split z % splits
// takes depths [s k_split, (s + 1) k_split) and writes its partial product at
// c_offset + s c_split, to be summed by `sum_splits`.
// With depth segments (SEGMENT > 0, each segment's depth, a constant of the
// kernel: the depth runs through several products in turn, summing them), each
// slice of the depth lies inside one segment, and its operands are read shifted
// by the segment's strides (`for_slice`). Each slice's operands are `let`s, its
// segment found by a division by the constant (`segment_of`): H200,
// docs/measurements/h200-run93, operands kept in `var`s and moved at each
// segment's end made every product 2-3% slower, segmented or not; run 98, a
// float product was 1.3% faster than a u32 division by the segment read from
// `sizes` (5.274 -> 5.203 ms); run 101, the division by a constant 1.2% faster
// than the float product (5.203 -> 5.139 ms), the unsegmented kernels unchanged.
// `GemmSizes`, DEPTH, ROW, ABLATION, AHEAD, QUADS, EXACT, SEGMENT and each
// operand's layout (A_LAYOUT, B_LAYOUT: `GemmLayout`, fixed at compile time
// unless 0) are declared before this text (`gemm.rs`). With QUADS (aligned
// operands: every offset and non-unit stride a multiple of 4, C's too), a load
// whose four words lie inside the operand is one 16-byte read, and an exact
// kernel stores C in 16-byte writes. H200, docs/measurements/h200-run96,
// -run97: ParaGRU's multi-head projection 5.209 -> 5.110 ms at T = 8192 and
// 0.379 -> 0.350 at 512, its weight gradients 0.379 -> 0.355 at 512; the dense
// ParaGRU's input gradients 10.162 -> 10.238; the segmented input gradients
// 5.274 -> 5.327 with a segment read from `sizes`, but 5.140 -> 5.116 (and
// 0.334 -> 0.330 at T = 512) with the segment a constant (run 102).

@group(0) @binding(0) var<storage, read> sizes: GemmSizes;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
// The operands again, as quads of words (the same buffers: the 16-byte loads of
// QUADS kernels).
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;
// C as quads (the same buffer: the 16-byte stores of exact QUADS kernels).
@group(0) @binding(6) var<storage, read_write> c4: array<vec4<f32>>;

// ROW: vec4s per depth row of a staged tile, 32 or 33 (one of padding, which
// spreads a transposing store's words over the banks).
const TILE: u32 = 128u;
const STAGE: u32 = DEPTH * ROW;
// Each operand's slice is TILE x DEPTH words: per thread, LOADS vec4s.
const LOADS: u32 = DEPTH / 8u;

// Two stages of A, then two of B.
var<workgroup> tiles: array<vec4<f32>, 4u * STAGE>;

// One operand of the product as the tile loader sees it: element (f, d), f along
// C's rows (A) or columns (B) and d along the depth, is at
// offset + f * free + d * depth, for f < extent.
struct Operand {
    offset: u32,
    free: u32,
    depth: u32,
    extent: u32,
    // 0: A, 1: B.
    which: u32,
    // Words from one depth segment to the next.
    segment: u32,
}

// Whether an operand is loaded along its depth: fixed by its layout code (1:
// along the depth, 2: along C), or (0) when its depth stride is 1.
fn along_depth(operand: Operand) -> bool {
    let code = select(B_LAYOUT, A_LAYOUT, operand.which == 0u);
    if code == 0u {
        return operand.depth == 1u;
    }
    return code == 1u;
}

fn element(operand: Operand, index: u32) -> f32 {
    if operand.which == 0u {
        return a[index];
    }
    return b[index];
}

// Where this thread's load `l` of a slice lies: vec4 `l` of the thread covers four
// consecutive depths of one f (depth-contiguous operands) or four consecutive f
// of one depth (otherwise). Returned as (f, d) of its first element.
fn load_place(operand: Operand, thread: u32, l: u32) -> vec2<u32> {
    let q = thread + l * 256u;
    if along_depth(operand) {
        return vec2<u32>(q / (DEPTH / 4u), (q % (DEPTH / 4u)) * 4u);
    }
    return vec2<u32>((q % 32u) * 4u, q / 32u);
}

// Load `l` of this thread, from the slice at depth k0 of the tile at f0; zero
// outside the operand and past depth `k_end`.
fn load(operand: Operand, f0: u32, k0: u32, k_end: u32, thread: u32, l: u32) -> vec4<f32> {
    let place = load_place(operand, thread, l);
    if EXACT == 1u {
        // Every tile and slice lies inside the operands: no tests.
        let at = operand.offset + (f0 + place.x) * operand.free + (k0 + place.y) * operand.depth;
        if QUADS == 1u {
            if operand.which == 0u {
                return a4[at / 4u];
            }
            return b4[at / 4u];
        }
        var step = operand.free;
        if along_depth(operand) {
            step = operand.depth;
        }
        return vec4<f32>(element(operand, at), element(operand, at + step), element(operand, at + 2u * step),
                         element(operand, at + 3u * step));
    }
    if QUADS == 1u {
        let f = f0 + place.x;
        let d = k0 + place.y;
        var inside = f + 3u < operand.extent && d < k_end;
        if along_depth(operand) {
            inside = f < operand.extent && d + 3u < k_end;
        }
        if inside {
            let quad = (operand.offset + f * operand.free + d * operand.depth) / 4u;
            if operand.which == 0u {
                return a4[quad];
            }
            return b4[quad];
        }
    }
    var value = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        var f = f0 + place.x;
        var d = k0 + place.y;
        if along_depth(operand) {
            d += e;
        } else {
            f += e;
        }
        if f < operand.extent && d < k_end {
            value[e] = element(operand, operand.offset + f * operand.free + d * operand.depth);
        }
    }
    return value;
}

// Stages load `l` of this thread in the tile buffer starting at `base`.
fn stage(operand: Operand, base: u32, thread: u32, l: u32, value: vec4<f32>) {
    let place = load_place(operand, thread, l);
    if along_depth(operand) {
        for (var e = 0u; e < 4u; e++) {
            tiles[base + (place.y + e) * ROW + place.x / 4u][place.x % 4u] = value[e];
        }
    } else {
        tiles[base + place.y * ROW + place.x / 4u] = value;
    }
}

// Four columns j.. of row i of C (those inside it).
fn store4(base: u32, i: u32, j: u32, value: vec4<f32>) {
    if QUADS == 1u && EXACT == 1u {
        let quad = (base + i * sizes.c_row + j) / 4u;
        var v = value;
        if sizes.accumulate == 1u {
            v += c4[quad];
        }
        c4[quad] = v;
        return;
    }
    if i >= sizes.m && EXACT == 0u {
        return;
    }
    let at = base + i * sizes.c_row + j;
    for (var q = 0u; q < 4u; q++) {
        if j + q < sizes.n || EXACT == 1u {
            var v = value[q];
            if sizes.accumulate == 1u {
                v += c[at + q];
            }
            c[at + q] = v;
        }
    }
}

// How far an operand's offset moves from one depth segment to the next, so that
// the slice's depth d reads depth d % segment of segment d / segment. It may be
// negative: u32 arithmetic wraps, and each sum is in range.
fn segment_step(operand: Operand) -> u32 {
    return operand.segment - SEGMENT * operand.depth;
}

// The segment of the depth slice at k0: a division by a constant (a shift for
// a power of two).
fn segment_of(k0: u32) -> u32 {
    return k0 / max(SEGMENT, 1u);
}

// The operand as the depth slice at k0 reads it: with depth segments, shifted to
// segment k0 / segment.
fn for_slice(operand: Operand, k0: u32) -> Operand {
    if SEGMENT == 0u {
        return operand;
    }
    var shifted = operand;
    shifted.offset = operand.offset + segment_of(k0) * segment_step(operand);
    return shifted;
}

// An operand's group index for group `z`: `z`, or `z % cycle` where its
// group offsets repeat every `cycle` groups (0: never).
fn cycled(z: u32, cycle: u32) -> u32 {
    return select(z, z % max(cycle, 1u), cycle != 0u);
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>,
        @builtin(local_invocation_index) thread: u32) {
    let i0 = group.y * TILE;
    let j0 = group.x * TILE;
    let product = group.z / sizes.splits;
    let split = group.z % sizes.splits;
    let k_begin = split * sizes.k_split;
    let k_end = min(sizes.k, k_begin + sizes.k_split);
    let a_op = Operand(sizes.a_offset + cycled(product, sizes.a_cycle) * sizes.a_group, sizes.a_row, sizes.a_col,
                       sizes.m, 0u, sizes.a_segment);
    let b_op = Operand(sizes.b_offset + cycled(product, sizes.b_cycle) * sizes.b_group, sizes.b_col, sizes.b_row,
                       sizes.n, 1u, sizes.b_segment);
    let c_base = sizes.c_offset + product * sizes.c_group + split * sizes.c_split;
    let tx = local.x;
    let ty = local.y;
    // Every binding is used (they share one layout whatever QUADS is).
    _ = a4[0];
    _ = b4[0];
    _ = c4[0];

    var c0l = vec4<f32>(0.0);
    var c0h = vec4<f32>(0.0);
    var c1l = vec4<f32>(0.0);
    var c1h = vec4<f32>(0.0);
    var c2l = vec4<f32>(0.0);
    var c2h = vec4<f32>(0.0);
    var c3l = vec4<f32>(0.0);
    var c3h = vec4<f32>(0.0);
    var c4l = vec4<f32>(0.0);
    var c4h = vec4<f32>(0.0);
    var c5l = vec4<f32>(0.0);
    var c5h = vec4<f32>(0.0);
    var c6l = vec4<f32>(0.0);
    var c6h = vec4<f32>(0.0);
    var c7l = vec4<f32>(0.0);
    var c7h = vec4<f32>(0.0);

    // The first slice, staged in buffer 0.
    var a_next: array<vec4<f32>, LOADS>;
    var b_next: array<vec4<f32>, LOADS>;
    let a_first = for_slice(a_op, k_begin);
    let b_first = for_slice(b_op, k_begin);
    for (var l = 0u; l < LOADS; l++) {
        stage(a_op, 0u, thread, l, load(a_first, i0, k_begin, k_end, thread, l));
        stage(b_op, 2u * STAGE, thread, l, load(b_first, j0, k_begin, k_end, thread, l));
    }
    workgroupBarrier();

    var current = 0u;
    for (var k0 = k_begin; k0 < k_end; k0 += DEPTH) {
        // ABLATION (measurements only): 1 loads only the first slice, 2 multiplies none.
        let more = k0 + DEPTH < k_end && ABLATION != 1u;
        if more {
            let a_slice = for_slice(a_op, k0 + DEPTH);
            let b_slice = for_slice(b_op, k0 + DEPTH);
            for (var l = 0u; l < LOADS; l++) {
                a_next[l] = load(a_slice, i0, k0 + DEPTH, k_end, thread, l);
                b_next[l] = load(b_slice, j0, k0 + DEPTH, k_end, thread, l);
            }
        }
        let a_base = current * STAGE;
        let b_base = 2u * STAGE + current * STAGE;
        // AHEAD: each depth's fragments are read while the one before is multiplied
        // (fewer stalls on workgroup memory; 16 more registers).
        var next_a0 = tiles[a_base + ty];
        var next_a1 = tiles[a_base + 16u + ty];
        var next_b0 = tiles[b_base + tx];
        var next_b1 = tiles[b_base + 16u + tx];
        for (var d = 0u; d < DEPTH && ABLATION != 2u; d++) {
            var a0 = next_a0;
            var a1 = next_a1;
            var b0 = next_b0;
            var b1 = next_b1;
            if AHEAD == 0u {
                a0 = tiles[a_base + d * ROW + ty];
                a1 = tiles[a_base + d * ROW + 16u + ty];
                b0 = tiles[b_base + d * ROW + tx];
                b1 = tiles[b_base + d * ROW + 16u + tx];
            } else if d + 1u < DEPTH {
                let at = (d + 1u) * ROW;
                next_a0 = tiles[a_base + at + ty];
                next_a1 = tiles[a_base + at + 16u + ty];
                next_b0 = tiles[b_base + at + tx];
                next_b1 = tiles[b_base + at + 16u + tx];
            }
            c0l = fma(vec4<f32>(a0.x), b0, c0l);
            c0h = fma(vec4<f32>(a0.x), b1, c0h);
            c1l = fma(vec4<f32>(a0.y), b0, c1l);
            c1h = fma(vec4<f32>(a0.y), b1, c1h);
            c2l = fma(vec4<f32>(a0.z), b0, c2l);
            c2h = fma(vec4<f32>(a0.z), b1, c2h);
            c3l = fma(vec4<f32>(a0.w), b0, c3l);
            c3h = fma(vec4<f32>(a0.w), b1, c3h);
            c4l = fma(vec4<f32>(a1.x), b0, c4l);
            c4h = fma(vec4<f32>(a1.x), b1, c4h);
            c5l = fma(vec4<f32>(a1.y), b0, c5l);
            c5h = fma(vec4<f32>(a1.y), b1, c5h);
            c6l = fma(vec4<f32>(a1.z), b0, c6l);
            c6h = fma(vec4<f32>(a1.z), b1, c6h);
            c7l = fma(vec4<f32>(a1.w), b0, c7l);
            c7h = fma(vec4<f32>(a1.w), b1, c7h);
        }
        if more {
            current = 1u - current;
            for (var l = 0u; l < LOADS; l++) {
                stage(a_op, current * STAGE, thread, l, a_next[l]);
                stage(b_op, 2u * STAGE + current * STAGE, thread, l, b_next[l]);
            }
        }
        workgroupBarrier();
    }

    let i = i0 + ty * 4u;
    let j = j0 + tx * 4u;
    store4(c_base, i, j, c0l);
    store4(c_base, i, j + 64u, c0h);
    store4(c_base, i + 1u, j, c1l);
    store4(c_base, i + 1u, j + 64u, c1h);
    store4(c_base, i + 2u, j, c2l);
    store4(c_base, i + 2u, j + 64u, c2h);
    store4(c_base, i + 3u, j, c3l);
    store4(c_base, i + 3u, j + 64u, c3h);
    store4(c_base, i + 64u, j, c4l);
    store4(c_base, i + 64u, j + 64u, c4h);
    store4(c_base, i + 65u, j, c5l);
    store4(c_base, i + 65u, j + 64u, c5h);
    store4(c_base, i + 66u, j, c6l);
    store4(c_base, i + 66u, j + 64u, c6h);
    store4(c_base, i + 67u, j, c7l);
    store4(c_base, i + 67u, j + 64u, c7h);
}
