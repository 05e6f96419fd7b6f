// The sequential method: one thread per lane walks steps `first..last`, starting
// from the state in `init` and leaving its last state there, so that the runtime
// can cut long sequences into several dispatches (llvmpipe ends an invocation
// after 65535 loop iterations in all, and long kernels may hit watchdogs).
// (Loading the next eight steps' raw values ahead in registers gained 3% on an
// H200 for ParaGRU and lost 20% for ParaLSTM: docs/measurements/h200-run13.)
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
    for (var t = settings.first; t < settings.last; t++) {
        let p = load_pre(b, t, lane);
        let next = step(lane, p, v);
        store(b, t, lane, p, v, next);
        v = next;
    }
    save_state(b, lane, v);
}
