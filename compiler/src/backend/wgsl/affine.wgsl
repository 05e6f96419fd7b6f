// The algebra of every scan, forward and reverse: affine maps v -> M v + o of
// the K unknowns of a lane, composed and applied, and one round of
// the Hillis-Steele scan over the chunk maps of a workgroup, and where a thread
// sits. One definition for the Newton kernel's prefix over chunks and the
// backward kernel's suffix. A workgroup holds C lanes x S chunks; thread (s, c)
// is entry `s * C + c`. (Each kernel extends its chunk's map by one step inline:
// through a function, llvmpipe ran the GPU tests several times slower.)

// A lane's matrices (its Jacobians and their products) are block-diagonal with
// JB x JB blocks: JB = K (dense) or 1 (diagonal), set by the cell. Only the blocks
// are kept, row by row: entry (i, k), k in row i's block, at i * JB + k -
// block_start(i).
const KK: u32 = K * JB;
const THREADS: u32 = C * S;

// The first column of row i's block.
fn block_start(i: u32) -> u32 { return i / JB * JB; }

// Where a thread of a scan kernel sits: lane `c` of the workgroup's C lanes and
// chunk `s` of its S chunks (entry `me` of the chunk maps); lane `lane` of
// sequence `b`, which exists when `live`.
struct Place { c: u32, s: u32, me: u32, lane: u32, b: u32, live: bool }

fn place_of(group: vec3<u32>, local: vec3<u32>) -> Place {
    let lane = group.x * C + local.x;
    return Place(local.x, local.y, local.y * C + local.x, lane, group.y, lane < settings.lanes);
}

var<workgroup> chunk_map: array<array<f32, KK>, THREADS>;
var<workgroup> chunk_offset: array<array<f32, K>, THREADS>;

// (m, o) <- (outer_m, outer_o) after (m, o): M <- outer_M M, o <- outer_M o + outer_o.
fn affine_after(outer_m: ptr<function, array<f32, KK>>, outer_o: ptr<function, array<f32, K>>,
                m: ptr<function, array<f32, KK>>, o: ptr<function, array<f32, K>>) {
    var composed_m: array<f32, KK>;
    var composed_o: array<f32, K>;
    for (var i = 0u; i < K; i++) {
        let s = block_start(i);
        var acc = (*outer_o)[i];
        for (var k = 0u; k < JB; k++) {
            acc += (*outer_m)[i * JB + k] * (*o)[s + k];
            var sum = 0.0;
            for (var q = 0u; q < JB; q++) { sum += (*outer_m)[i * JB + q] * (*m)[(s + q) * JB + k]; }
            composed_m[i * JB + k] = sum;
        }
        composed_o[i] = acc;
    }
    *m = composed_m;
    *o = composed_o;
}

// The map of chunk entry `index` applied to v: M v + o.
fn chunk_apply(index: u32, v: array<f32, K>) -> array<f32, K> {
    var result: array<f32, K>;
    for (var i = 0u; i < K; i++) {
        let s = block_start(i);
        var acc = chunk_offset[index][i];
        for (var k = 0u; k < JB; k++) { acc += chunk_map[index][i * JB + k] * v[s + k]; }
        result[i] = acc;
    }
    return result;
}

// One round of the scan: a thread that `composes` puts its
// map (m, o) after its `partner` entry's, and publishes the result in entry `me`.
// Every thread of the workgroup calls it (it holds two barriers).
fn scan_round(me: u32, partner: u32, composes: bool, m: ptr<function, array<f32, KK>>, o: ptr<function, array<f32, K>>) {
    var partner_m: array<f32, KK>;
    var partner_o: array<f32, K>;
    if composes {
        partner_m = chunk_map[partner];
        partner_o = chunk_offset[partner];
    }
    workgroupBarrier();
    if composes {
        affine_after(m, o, &partner_m, &partner_o);
        *m = partner_m;
        *o = partner_o;
        chunk_map[me] = partner_m;
        chunk_offset[me] = partner_o;
    }
    workgroupBarrier();
}
