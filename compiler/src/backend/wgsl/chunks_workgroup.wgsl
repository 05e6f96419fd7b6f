// How the Newton kernel's threads exchange their chunks' values, through
// workgroup memory only (a device without subgroup operations): the state
// ending the previous chunk, the prefix of the chunk maps of each lane
// (Hillis-Steele, log2 S rounds of two barriers), the state entering each
// chunk, and the workgroup's largest update. The same functions, through
// subgroup operations, are in `chunks_subgroup.wgsl`.

struct NewtonIds { @builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) index: u32 }

fn newton_place(ids: NewtonIds) -> Place {
    return place_at(ids.group, ids.index);
}

// The old trajectory's state entering this chunk: the one ending the previous
// chunk of the lane (published in `chunk_last` before a barrier), or the
// segment's start.
fn entry_of_old(place: Place, last: array<f32, K>) -> array<f32, K> {
    if place.s > 0u { return chunk_last[place.me - C]; }
    return segment_start[place.c];
}

// (m, o), this chunk's map, becomes the map from the segment's start to the end
// of this chunk; `before` the map from the segment's start to the start of the
// first chunk this thread composed with (the identity here: every chunk of the
// lane is composed in `chunk_map`, which holds the prefixes afterwards).
// Every thread of the workgroup calls it.
fn lane_prefix(place: Place, m: ptr<function, array<f32, KK>>, o: ptr<function, array<f32, K>>,
               before_m: ptr<function, array<f32, KK>>, before_o: ptr<function, array<f32, K>>) {
    chunk_map[place.me] = *m;
    chunk_offset[place.me] = *o;
    workgroupBarrier();
    // (Applying the earlier chunks' maps in turn to the segment's start instead,
    // one barrier in all, was 20-45% slower on an H200: docs/measurements/h200-run16.)
    for (var d = 1u; d < S; d = d << 1u) {
        scan_round(place.me, place.me - min(d, place.s) * C, place.s >= d, m, o);
    }
}

// The new state entering this chunk: the previous chunk's prefix applied to
// the segment's start.
fn entry_of_new(place: Place, m: ptr<function, array<f32, KK>>, o: ptr<function, array<f32, K>>,
                before_m: ptr<function, array<f32, KK>>, before_o: ptr<function, array<f32, K>>,
                segment_entry: array<f32, K>) -> array<f32, K> {
    if place.s > 0u { return chunk_apply(place.me - C, segment_entry); }
    return segment_entry;
}

// The workgroup's largest update and excess, as ordered bits.
fn publish_largest(update: u32, excess: u32) {
    atomicMax(&update_bits, update);
    atomicMax(&excess_bits, excess);
}
