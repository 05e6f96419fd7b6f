// The sequential method: one thread per lane walks steps `first..last`, starting
// from the state in `init` and leaving its last state there, so that the runtime
// can cut long sequences into several dispatches (llvmpipe ends an invocation
// after 65535 loop iterations in all, and long kernels may hit watchdogs).
@compute @workgroup_size(64, 1, 1)
fn sequential(@builtin(global_invocation_id) id: vec3<u32>) {
    touch_bindings();
    let lane = id.x;
    let b = id.y;
    if lane >= settings.lanes || b >= settings.batch { return; }
    load_lane_params(lane);
    // One pass, no fallback: the same statistics layout as `newton`, in slot `b`.
    if lane == 0u { stats[b].most_iterations = 1u; }
    var v = load_init(b, lane);
    let first = settings.first;
    let last = settings.last;
    if G > 1u {
        // Software pipelining over two groups of G steps' raw values: the loads
        // of one group are issued while the other group's steps are taken, so a
        // step never waits for its own loads (the plain loop below does: a
        // thread's steps depend on each other, and nothing else hides the
        // latency; docs/measurements/h200-run17 to -run19).
        var ga: array<Raw, G>;
        var gb: array<Raw, G>;
        for (var j = 0u; j < G; j++) { if first + j < last { ga[j] = load_raw(b, first + j, lane); } }
        for (var t0 = first; t0 < last; t0 += 2u * G) {
            for (var j = 0u; j < G; j++) { let t = t0 + G + j; if t < last { gb[j] = load_raw(b, t, lane); } }
            for (var j = 0u; j < G; j++) {
                let t = t0 + j;
                if t < last { let p = hoist(ga[j], lane); let next = step(lane, p, v); store(b, t, lane, p, v, next); v = next; }
            }
            for (var j = 0u; j < G; j++) { let t = t0 + 2u * G + j; if t < last { ga[j] = load_raw(b, t, lane); } }
            for (var j = 0u; j < G; j++) {
                let t = t0 + G + j;
                if t < last { let p = hoist(gb[j], lane); let next = step(lane, p, v); store(b, t, lane, p, v, next); v = next; }
            }
        }
    } else {
        for (var t = first; t < last; t++) {
            let p = load_pre(b, t, lane);
            let next = step(lane, p, v);
            store(b, t, lane, p, v, next);
            v = next;
        }
    }
    save_state(b, lane, v);
}
