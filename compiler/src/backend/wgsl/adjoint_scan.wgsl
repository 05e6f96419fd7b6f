// The backward pass as a reverse scan: the template every diagonal or
// block-diagonal cell's backward kernel is made of (and small dense ones'). The
// cell supplies the constants K, C, S, N (the forward Newton kernel's shape) and A
// (accumulator words per thread), and the functions `load_pre`, `load_prev`,
// `step_jacobian`, `adjoint_direct`, `adjoint_step` and `save_init_grad`.
//
// The cotangents of the states obey a linear recurrence run backwards,
// mu_{t-1} = J_t^T mu_t + g_t from mu_{T-1} = 0: no Newton, one pass. A workgroup
// owns C lanes of one sequence and walks its segments of S * N steps from the last
// to the first, carrying mu across them. One dispatch walks the segments of the
// window `first..last`, starting from the cotangent left in the initial states'
// gradients (zero at first) and leaving its own there (see `newton.wgsl` on
// windows); the accumulators add up over dispatches. Within a segment, thread (s, c) holds N
// steps of lane c: it composes its chunk's affine maps from the chunk's end back
// to its start, a parallel suffix over the S chunks of each lane (Hillis-Steele)
// gives every chunk the cotangent entering it from the right, and each thread then
// walks its steps backwards with the exact step adjoint, which writes the
// projections' and inputs' cotangents and accumulates the parameters' gradients.

// `chunk_map`, `chunk_offset` and the scan's rounds are in `affine.wgsl`.
var<workgroup> carry: array<array<f32, K>, C>;

@compute @workgroup_size(C, S, 1)
fn adjoint_scan(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    touch_bindings();
    let place = place_of(group, local);
    var acc: array<f32, A>;
    var pre: array<Pre, N>;
    var prev: array<array<f32, K>, N>;
    if place.s == 0u {
        var start: array<f32, K>;
        if place.live { start = load_init_grad(place.b, place.lane); }
        carry[place.c] = start;
    }
    workgroupBarrier();
    // The window's segments, from its last to its first.
    let first_segment = settings.first / (S * N);
    for (var segment = (settings.last + S * N - 1u) / (S * N); segment > first_segment; segment--) {
        let first = (segment - 1u) * S * N + place.s * N;
        // This chunk's map from the cotangent at its last step to the one before
        // its first: mu -> J_first^T ... J_last^T mu + offset.
        var map: array<f32, KK>;
        var offset: array<f32, K>;
        for (var i = 0u; i < K; i++) { map[i * JB + i - block_start(i)] = 1.0; }
        for (var j = N; j > 0u; j--) {
            let t = first + j - 1u;
            if place.live && t < settings.steps {
                pre[j - 1u] = load_pre(place.b, t, place.lane);
                prev[j - 1u] = load_prev(place.b, t, place.lane);
                var f: array<f32, K>;
                var jac: array<f32, KK>;
                step_jacobian(place.lane, pre[j - 1u], prev[j - 1u], &f, &jac);
                let g = adjoint_direct(place.b, t, place.lane, pre[j - 1u], prev[j - 1u]);
                // The step's map mu -> J^T mu + g after the chunk's later steps
                // (inline, as in the forward: through `affine_after` the backward tests ran 8x
                // slower on llvmpipe, 435 s against 53 s).
                var next_map: array<f32, KK>;
                var next_offset: array<f32, K>;
                for (var i = 0u; i < K; i++) {
                    // Row i of J^T is column i of J: entries (s + q, i) of i's block.
                    let s = block_start(i);
                    var o = g[i];
                    for (var q = 0u; q < JB; q++) { o += jac[(s + q) * JB + i - s] * offset[s + q]; }
                    next_offset[i] = o;
                    for (var k = 0u; k < JB; k++) {
                        var m = 0.0;
                        for (var q = 0u; q < JB; q++) { m += jac[(s + q) * JB + i - s] * map[(s + q) * JB + k]; }
                        next_map[i * JB + k] = m;
                    }
                }
                map = next_map;
                offset = next_offset;
            }
        }
        chunk_map[place.me] = map;
        chunk_offset[place.me] = offset;
        workgroupBarrier();
        // Suffix-compose: afterwards chunk (s, c) maps the cotangent at the segment's
        // end to the one before chunk s's first step.
        for (var d = 1u; d < S; d = d << 1u) {
            let later = place.s + d < S;
            scan_round(place.me, select(place.me, place.me + d * C, later), later, &map, &offset);
        }
        // The cotangent at this chunk's last step: the later chunks' map applied
        // to the one carried in from the next segment.
        let entering = carry[place.c];
        var mu = entering;
        if place.s + 1u < S { mu = chunk_apply(place.me + C, entering); }
        for (var j = N; j > 0u; j--) {
            let t = first + j - 1u;
            var shares: array<f32, SHARE_WORDS>;
            if place.live && t < settings.steps {
                mu = adjoint_step(place.b, t, place.lane, pre[j - 1u], prev[j - 1u], mu, &acc, &shares);
            }
            sum_shares(place.me, place.lane, place.b, t, shares);
        }
        workgroupBarrier();
        if place.s == 0u { carry[place.c] = mu; }
        workgroupBarrier();
    }
    if place.live {
        let slot = partials_base() + ((place.b * S + place.s) * settings.lanes + place.lane) * A;
        for (var i = 0u; i < A; i++) { grads[slot + i] += acc[i]; }
        if place.s == 0u { save_init_grad(place.b, place.lane, carry[place.c]); }
    }
}
