// How the Newton kernel's threads exchange their chunks' values, through
// subgroup operations (`chunks_workgroup.wgsl` has the same functions through
// workgroup memory only). A lane's chunks are consecutive invocations of a
// subgroup: a run of min(S, subgroup size) chunks, so the prefix of the chunk
// maps is log2 of that many shuffles with no barrier, and the lanes whose S
// chunks span several subgroups compose the earlier runs' maps after one
// barrier. The roles come from the subgroup builtins, so the scan is right
// whatever the device's subgroup layout; a workgroup whose subgroups are not
// all full (which no device we know makes of these workgroups) takes the
// workgroup-memory functions instead (`subgroup_run` 0).

struct NewtonIds {
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) index: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(subgroup_invocation_id) invocation: u32,
    @builtin(subgroup_size) size: u32,
    @builtin(num_subgroups) subgroups: u32,
}

// Chunks of a lane per subgroup (0: the subgroups are not all full, and the
// workgroup-memory functions run), and whether this invocation is its
// subgroup's first.
var<private> subgroup_run: u32;
var<private> subgroup_leader: bool;

fn newton_place(ids: NewtonIds) -> Place {
    subgroup_leader = ids.invocation == 0u;
    if ids.size * ids.subgroups != THREADS {
        subgroup_run = 0u;
        return place_at(ids.group, ids.index);
    }
    subgroup_run = min(S, ids.size);
    let slot = ids.subgroup * ids.size + ids.invocation;
    let c = slot / S;
    let s = slot % S;
    let lane = ids.group.x * C + c;
    return Place(c, s, s * C + c, lane, ids.group.y, lane < settings.lanes);
}

fn shuffle_up_state(v: array<f32, K>, d: u32) -> array<f32, K> {
    var r: array<f32, K>;
    for (var i = 0u; i < K; i++) { r[i] = subgroupShuffleUp(v[i], d); }
    return r;
}

fn apply_map(m: ptr<function, array<f32, KK>>, o: ptr<function, array<f32, K>>, v: array<f32, K>) -> array<f32, K> {
    var result: array<f32, K>;
    for (var i = 0u; i < K; i++) {
        var acc = (*o)[i];
        for (var k = 0u; k < K; k++) { acc += (*m)[i * K + k] * v[k]; }
        result[i] = acc;
    }
    return result;
}

// The old trajectory's state entering this chunk: the end of the previous
// chunk, from the neighbouring invocation, or from `chunk_last` (published
// before a barrier) at the start of a run, or the segment's start.
fn entry_of_old(place: Place, last: array<f32, K>) -> array<f32, K> {
    let up = shuffle_up_state(last, 1u);
    if subgroup_run != 0u && place.s % subgroup_run > 0u { return up; }
    if place.s > 0u { return chunk_last[place.me - C]; }
    return segment_start[place.c];
}

// (m, o), this chunk's map, becomes the map from the segment's start to the end
// of this chunk; `before` the map from the segment's start to the start of
// this chunk's run (the identity for a lane's first run). Every thread of the
// workgroup calls it.
fn lane_prefix(place: Place, m: ptr<function, array<f32, KK>>, o: ptr<function, array<f32, K>>,
               before_m: ptr<function, array<f32, KK>>, before_o: ptr<function, array<f32, K>>) {
    for (var i = 0u; i < K; i++) {
        for (var k = 0u; k < K; k++) { (*before_m)[i * K + k] = select(0.0, 1.0, i == k); }
        (*before_o)[i] = 0.0;
    }
    if subgroup_run == 0u {
        chunk_map[place.me] = *m;
        chunk_offset[place.me] = *o;
        workgroupBarrier();
        for (var d = 1u; d < S; d = d << 1u) {
            scan_round(place.me, place.me - min(d, place.s) * C, place.s >= d, m, o);
        }
        return;
    }
    let position = place.s % subgroup_run;
    for (var d = 1u; d < subgroup_run; d = d << 1u) {
        var partner_m: array<f32, KK>;
        var partner_o: array<f32, K>;
        for (var i = 0u; i < KK; i++) { partner_m[i] = subgroupShuffleUp((*m)[i], d); }
        for (var i = 0u; i < K; i++) { partner_o[i] = subgroupShuffleUp((*o)[i], d); }
        if position >= d {
            affine_after(m, o, &partner_m, &partner_o);
            *m = partner_m;
            *o = partner_o;
        }
    }
    if S > subgroup_run {
        // Each run's last chunk publishes its run's map; a thread composes the
        // earlier runs of its lane, first to last, into `before`.
        if position == subgroup_run - 1u {
            chunk_map[place.me] = *m;
            chunk_offset[place.me] = *o;
        }
        workgroupBarrier();
        let run = place.s / subgroup_run;
        for (var r = 0u; r < run; r++) {
            let last = ((r + 1u) * subgroup_run - 1u) * C + place.c;
            var run_m = chunk_map[last];
            var run_o = chunk_offset[last];
            affine_after(&run_m, &run_o, before_m, before_o);
        }
        var whole_m = *before_m;
        var whole_o = *before_o;
        affine_after(m, o, &whole_m, &whole_o);
        *m = whole_m;
        *o = whole_o;
    }
}

// The new state entering this chunk: the end of the previous chunk from the
// neighbouring invocation, or `before` applied to the segment's start at the
// start of a run.
fn entry_of_new(place: Place, m: ptr<function, array<f32, KK>>, o: ptr<function, array<f32, K>>,
                before_m: ptr<function, array<f32, KK>>, before_o: ptr<function, array<f32, K>>,
                segment_entry: array<f32, K>) -> array<f32, K> {
    if subgroup_run == 0u {
        if place.s > 0u { return chunk_apply(place.me - C, segment_entry); }
        return segment_entry;
    }
    let up = shuffle_up_state(apply_map(m, o, segment_entry), 1u);
    if place.s % subgroup_run > 0u { return up; }
    return apply_map(before_m, before_o, segment_entry);
}

// The workgroup's largest update and excess, as ordered bits: each subgroup's
// largest, published by its first invocation.
fn publish_largest(update: u32, excess: u32) {
    let largest_update = subgroupMax(update);
    let largest_excess = subgroupMax(excess);
    if subgroup_leader {
        atomicMax(&update_bits, largest_update);
        atomicMax(&excess_bits, largest_excess);
    }
}
