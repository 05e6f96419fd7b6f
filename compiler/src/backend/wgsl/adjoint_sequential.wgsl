// The backward pass one step after another: one thread per lane walks steps
// `last - 1` down to `first`, starting from the cotangent left in the initial
// states' gradients by the dispatch before (zero at first) and leaving its own
// there, so that the runtime can cut long sequences into several dispatches; its
// accumulator is added to the partial sums of its lane.
@compute @workgroup_size(64, 1, 1)
fn adjoint_sequential(@builtin(global_invocation_id) id: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    touch_bindings();
    let lane = id.x;
    let b = id.y;
    // Every thread walks the steps (`sum_shares` holds barriers); a dead one
    // computes nothing.
    let live = lane < settings.lanes && b < settings.batch;
    var acc: array<f32, A>;
    var mu: array<f32, K>;
    if live { mu = load_init_grad(b, lane); }
    for (var t = settings.last; t > settings.first; t--) {
        var shares: array<f32, SHARE_WORDS>;
        if live {
            let p = load_pre(b, t - 1u, lane);
            let prev = load_prev(b, t - 1u, lane);
            mu = adjoint_step(b, t - 1u, lane, p, prev, mu, &acc, &shares);
        }
        sum_shares(local.x, lane, b, t - 1u, shares);
    }
    if live {
        save_init_grad(b, lane, mu);
        let slot = partials_base() + (b * settings.lanes + lane) * A;
        for (var i = 0u; i < A; i++) { grads[slot + i] += acc[i]; }
    }
}
