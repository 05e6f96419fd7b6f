// Newton's method over the sequence, fused: the template every diagonal or
// block-diagonal cell's forward kernel is made of. The cell supplies (before this
// text): the constants K (unknowns per lane), C (lanes per workgroup), S (chunks per
// segment) and N (steps per chunk), the type `Pre` (its hoisted values at one step),
// and the functions `load_pre`, `load_init`, `step`, `step_jacobian` and `store`.
//
// A workgroup owns C lanes (K unknowns each) of one sequence. The sequence is cut
// into segments of S * N steps, solved one after another, each starting from the
// last state of the one before. One dispatch solves the segments of the window
// `first..last` (whole segments), starting from the state in `init` and leaving its
// last state there: the runtime cuts long sequences into several windows, as
// software rasterisers cap the loop iterations of one invocation (llvmpipe: 65535
// in all) and long kernels may hit watchdogs. Within a segment, thread (s, c) holds N steps of
// lane c in registers. The initial guess chains each chunk's steps from the
// segment's start, then (GUESS_SWEEPS) again from the previous chunk's last
// guess. A Newton iteration linearises every step at the current
// trajectory, h_t ~ f_t + J_t (h_{t-1} - h_{t-1}^old), and solves that linear
// recurrence exactly: each thread composes its chunk's affine maps, a parallel
// prefix over the S chunks of each lane carries the state across them, and each
// thread applies its maps from the state entering its chunk. Iterations stop when
// |h_new - h_old| <= atol + rtol |h_new| for every element of the workgroup's
// segment (excess = |dh| - rtol |h| is non-negative-clamped, so atomicMax on its
// bits is an ordered maximum); a non-finite or twice-growing update restarts the
// segment from its guess with damped Newton (each step's Jacobian scaled by
// 1 / (1 + lambda), by the runtime's `SegmentIteration::decide` rules, mirrored
// below; skipped while the scale is 1), and the iteration cap (plain or damped)
// sends the segment to the sequential method instead (exact, and reported).
// For a cell the plan proved linear in its states (LINEAR = 1), the linear
// recurrence of the first iteration is the cell itself, so that iteration is the
// exact solution from any trajectory: the guess is the segment's start state,
// unstepped, and the kernel stops after the iteration, with no test and no
// fallback (the `scan` method; the report's update is not measured).

// `chunk_map`, `chunk_offset` and the scan's rounds are in `affine.wgsl`.
var<workgroup> chunk_last: array<array<f32, K>, THREADS>;
var<workgroup> segment_start: array<array<f32, K>, C>;
var<workgroup> update_bits: atomic<u32>;
var<workgroup> excess_bits: atomic<u32>;
var<workgroup> decided_update: f32;
var<workgroup> decided_excess: f32;

fn identity_step(prev: array<f32, K>, f: ptr<function, array<f32, K>>, jac: ptr<function, array<f32, KK>>) {
    for (var i = 0u; i < K; i++) {
        (*f)[i] = prev[i];
        for (var j = 0u; j < JB; j++) { (*jac)[i * JB + j] = select(0.0, 1.0, i == block_start(i) + j); }
    }
}

fn linearise(lane: u32, t: u32, pre: Pre, prev: array<f32, K>, f: ptr<function, array<f32, K>>, jac: ptr<function, array<f32, KK>>) {
    if t < settings.steps && lane < settings.lanes {
        step_jacobian(lane, pre, prev, f, jac);
    } else {
        identity_step(prev, f, jac);
    }
}

@compute @workgroup_size(C, S, 1)
fn newton(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    touch_bindings();
    let place = place_of(group, local);
    if place.live { load_lane_params(place.lane); }
    var pre: array<Pre, N>;
    var h: array<array<f32, K>, N>;
    // Each step's linearisation, kept from composing to applying when it fits
    // in registers (CACHED = N), else computed again (CACHED = 1).
    var lin_f: array<array<f32, K>, CACHED>;
    var lin_jac: array<array<f32, KK>, CACHED>;
    var most_iterations = 0u;
    var fallbacks = 0u;
    var damped_iterations = 0u;
    var last_update = 0.0;
    if place.s == 0u {
        var start: array<f32, K>;
        if place.live { start = load_init(place.b, place.lane); }
        segment_start[place.c] = start;
    }
    workgroupBarrier();
    for (var t0 = settings.first; t0 < settings.last; t0 += S * N) {
        let first = t0 + place.s * N;
        // The initial guess: every step from the segment's start state, or
        // each chunk's steps chained from it (CHAINED_GUESS).
        let start = segment_start[place.c];
        // Every step's raw values are loaded before any is hoisted and stepped,
        // so the loads overlap (4-7% on an H200: docs/measurements/h200-run19).
        var raw: array<Raw, N>;
        for (var j = 0u; j < N; j++) {
            let t = first + j;
            if place.live && t < settings.steps { raw[j] = load_raw(place.b, t, place.lane); }
        }
        // With CHAINED_GUESS (`NewtonKnobs::chained`), each chunk's steps one
        // after another from the segment's start state (fewer iterations on
        // long segments: docs/measurements/h200-run64). A linear cell's scan is
        // exact from any trajectory: its guess is the start state, unstepped.
        var guess_prev = start;
        for (var j = 0u; j < N; j++) {
            let t = first + j;
            if place.live && t < settings.steps {
                pre[j] = hoist(raw[j], place.lane);
                h[j] = guess_prev;
                if LINEAR == 0u { h[j] = step(place.lane, pre[j], guess_prev); }
            } else {
                h[j] = guess_prev;
            }
            if CHAINED_GUESS == 1u { guess_prev = h[j]; }
        }
        // GUESS_SWEEPS > 1 (`NewtonKnobs::sweeps`, 2 by default): more sweeps
        // of the guess, each chunk chained again from the previous chunk's
        // last guess (fewer iterations: docs/measurements/h200-run107).
        for (var sweep = 1u; sweep < GUESS_SWEEPS && LINEAR == 0u; sweep++) {
            chunk_last[place.me] = h[N - 1u];
            workgroupBarrier();
            var sweep_prev = start;
            if place.s > 0u { sweep_prev = chunk_last[place.me - C]; }
            workgroupBarrier();
            for (var j = 0u; j < N; j++) {
                let t = first + j;
                if place.live && t < settings.steps { h[j] = step(place.lane, pre[j], sweep_prev); } else { h[j] = sweep_prev; }
                sweep_prev = h[j];
            }
        }
        var iterations = 0u;
        var fell_back = false;
        var entry_new: array<f32, K>;
        var previous_update = 3.4e38;
        var growth = 0u;
        // Damped Newton (runtime/src/solve.rs: `Damping` and
        // `SegmentIteration::decide`, mirrored here): whether the iterations are
        // damped, `lambda`, the Jacobians' scale (1 for plain Newton), and the
        // damped iterations taken.
        var damping = false;
        var lambda = 0.0;
        var scale = 1.0;
        var damped = 0u;
        loop {
            if place.me == 0u {
                atomicStore(&update_bits, 0u);
                atomicStore(&excess_bits, 0u);
            }
            chunk_last[place.me] = h[N - 1u];
            workgroupBarrier();
            var entry_old = segment_start[place.c];
            if place.s > 0u { entry_old = chunk_last[place.me - C]; }
            // Compose this chunk's affine maps h -> J (h - h_old) + f (inline, as in
            // the reverse scan: through a function llvmpipe runs the tests several
            // times slower).
            var map: array<f32, KK>;
            var offset: array<f32, K>;
            for (var i = 0u; i < K; i++) { map[i * JB + i - block_start(i)] = 1.0; }
            var prev = entry_old;
            for (var j = 0u; j < N; j++) {
                var f: array<f32, K>;
                var jac: array<f32, KK>;
                linearise(place.lane, first + j, pre[j], prev, &f, &jac);
                if scale != 1.0 {
                    for (var i = 0u; i < KK; i++) { jac[i] *= scale; }
                }
                if CACHED == N {
                    lin_f[min(j, CACHED - 1u)] = f;
                    lin_jac[min(j, CACHED - 1u)] = jac;
                }
                var next_map: array<f32, KK>;
                var next_offset: array<f32, K>;
                for (var i = 0u; i < K; i++) {
                    let s = block_start(i);
                    var o = f[i];
                    for (var k = 0u; k < JB; k++) { o += jac[i * JB + k] * (offset[s + k] - prev[s + k]); }
                    next_offset[i] = o;
                    for (var k = 0u; k < JB; k++) {
                        var m = 0.0;
                        for (var q = 0u; q < JB; q++) { m += jac[i * JB + q] * map[(s + q) * JB + k]; }
                        next_map[i * JB + k] = m;
                    }
                }
                map = next_map;
                offset = next_offset;
                prev = h[j];
            }
            chunk_map[place.me] = map;
            chunk_offset[place.me] = offset;
            workgroupBarrier();
            // Prefix-compose the chunk maps of each lane (Hillis-Steele, log2 S rounds):
            // afterwards chunk (s, c) holds the map from the segment's start to the
            // end of chunk s. (Applying the earlier chunks' maps in turn to the
            // segment's start instead, one barrier in all, was 20-45% slower on an
            // H200: docs/measurements/h200-run16.)
            for (var d = 1u; d < S; d = d << 1u) {
                scan_round(place.me, place.me - min(d, place.s) * C, place.s >= d, &map, &offset);
            }
            // The new state entering this chunk: the previous chunk's prefix map
            // applied to the segment's start.
            let segment_entry = segment_start[place.c];
            entry_new = segment_entry;
            if place.s > 0u { entry_new = chunk_apply(place.me - C, segment_entry); }
            // Apply the maps from the carried state.
            var new_prev = entry_new;
            var old_prev = entry_old;
            var update = 0.0;
            var excess = 0.0;
            var finite_values = true;
            for (var j = 0u; j < N; j++) {
                var f: array<f32, K>;
                var jac: array<f32, KK>;
                if CACHED == N {
                    f = lin_f[min(j, CACHED - 1u)];
                    jac = lin_jac[min(j, CACHED - 1u)];
                } else {
                    linearise(place.lane, first + j, pre[j], old_prev, &f, &jac);
                    if scale != 1.0 {
                        for (var i = 0u; i < KK; i++) { jac[i] *= scale; }
                    }
                }
                var next: array<f32, K>;
                for (var i = 0u; i < K; i++) {
                    let s = block_start(i);
                    var acc = f[i];
                    for (var k = 0u; k < JB; k++) { acc += jac[i * JB + k] * (new_prev[s + k] - old_prev[s + k]); }
                    next[i] = acc;
                    update = max(update, abs(acc - h[j][i]));
                    excess = max(excess, abs(acc - h[j][i]) - settings.rtol * abs(acc));
                    finite_values = finite_values && abs(acc) <= 3.4e38;
                }
                old_prev = h[j];
                h[j] = next;
                new_prev = next;
            }
            // Non-negative floats order like their bits; infinity marks a non-finite value.
            atomicMax(&update_bits, select(0x7f800000u, bitcast<u32>(update), finite_values));
            atomicMax(&excess_bits, bitcast<u32>(excess));
            workgroupBarrier();
            if place.me == 0u {
                decided_update = bitcast<f32>(atomicLoad(&update_bits));
                decided_excess = bitcast<f32>(atomicLoad(&excess_bits));
            }
            // Every thread takes the same decision: uniform loads.
            let total_update = workgroupUniformLoad(&decided_update);
            let total_excess = workgroupUniformLoad(&decided_excess);
            iterations += 1u;
            if damping { damped += 1u; }
            if LINEAR == 1u {
                break;
            }
            let finite = total_update <= 3.4e38;
            if finite && total_excess <= settings.atol {
                // The residual reported: the largest final update of the
                // segments whose outputs are Newton's.
                last_update = max(last_update, total_update);
                break;
            }
            // `SegmentIteration::decide`'s rules.
            let grew = finite && total_update > previous_update;
            previous_update = select(3.4e38, total_update, finite);
            var restart = false;
            var give_up = false;
            if !damping {
                if grew { growth += 1u; }
                if (!finite || growth >= 2u) && settings.damping_lambda > 0.0 {
                    damping = true;
                    lambda = settings.damping_lambda;
                    previous_update = 3.4e38;
                    restart = true;
                } else if !finite || growth >= 2u || iterations >= settings.max_iterations {
                    // No damping (a lambda of 0): plain Newton gives up as it did before.
                    give_up = true;
                }
            } else if damped >= settings.max_iterations || (!finite && lambda > settings.damping_largest) {
                give_up = true;
            } else {
                lambda *= select(settings.damping_success, settings.damping_failure, grew || !finite);
                restart = !finite;
            }
            if damping {
                scale = select(1.0 / (1.0 + lambda), 0.0, lambda > settings.damping_largest);
            }
            if give_up {
                fallbacks += 1u;
                // The sequential method, exact: one thread per lane walks the segment.
                if place.s == 0u && place.live {
                    var v = segment_start[place.c];
                    let end = min(t0 + S * N, settings.steps);
                    for (var t = t0; t < end; t++) {
                        let p = load_pre(place.b, t, place.lane);
                        let next = step(place.lane, p, v);
                        store(place.b, t, place.lane, p, v, next);
                        v = next;
                    }
                    segment_start[place.c] = v;
                }
                fell_back = true;
                break;
            }
            if restart {
                // Damping starts (or a damped update was not finite): again
                // from the initial guess.
                var restart_prev = start;
                for (var j = 0u; j < N; j++) {
                    let t = first + j;
                    if place.live && t < settings.steps {
                        h[j] = step(place.lane, pre[j], restart_prev);
                    } else {
                        h[j] = restart_prev;
                    }
                    if CHAINED_GUESS == 1u { restart_prev = h[j]; }
                }
            }
            workgroupBarrier();
        }
        damped_iterations += damped;
        workgroupBarrier();
        most_iterations = max(most_iterations, iterations);
        if !fell_back {
            var prev = entry_new;
            for (var j = 0u; j < N; j++) {
                let t = first + j;
                if place.live && t < settings.steps { store(place.b, t, place.lane, pre[j], prev, h[j]); }
                prev = h[j];
            }
            workgroupBarrier();
            if place.s == S - 1u { segment_start[place.c] = h[N - 1u]; }
        }
        workgroupBarrier();
    }
    // The state to start the next window from.
    if place.s == 0u && place.live { save_state(place.b, place.lane, segment_start[place.c]); }
    if local.x == 0u && local.y == 0u {
        let slot = group.y * ((settings.lanes + C - 1u) / C) + group.x;
        stats[slot].most_iterations = max(stats[slot].most_iterations, most_iterations);
        stats[slot].fallbacks += fallbacks;
        stats[slot].last_update = max(stats[slot].last_update, last_update);
        stats[slot].damped_iterations += damped_iterations;
    }
}
