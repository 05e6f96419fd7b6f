// The algebra of every scan, forward and reverse: affine maps v -> M v + o of
// the K unknowns of a lane (M row-major), composed and applied. One definition
// for the Newton kernel's prefix over chunks and the backward kernel's suffix.

const KK: u32 = K * K;

// (m, o) <- (outer_m, outer_o) after (m, o): M <- outer_M M, o <- outer_M o + outer_o.
fn affine_after(outer_m: ptr<function, array<f32, KK>>, outer_o: ptr<function, array<f32, K>>,
                m: ptr<function, array<f32, KK>>, o: ptr<function, array<f32, K>>) {
    var composed_m: array<f32, KK>;
    var composed_o: array<f32, K>;
    for (var i = 0u; i < K; i++) {
        var acc = (*outer_o)[i];
        for (var k = 0u; k < K; k++) {
            acc += (*outer_m)[i * K + k] * (*o)[k];
            var sum = 0.0;
            for (var q = 0u; q < K; q++) { sum += (*outer_m)[i * K + q] * (*m)[q * K + k]; }
            composed_m[i * K + k] = sum;
        }
        composed_o[i] = acc;
    }
    *m = composed_m;
    *o = composed_o;
}

// M v + o.
fn affine_apply(m: ptr<function, array<f32, KK>>, o: ptr<function, array<f32, K>>, v: array<f32, K>) -> array<f32, K> {
    var result: array<f32, K>;
    for (var i = 0u; i < K; i++) {
        var acc = (*o)[i];
        for (var k = 0u; k < K; k++) { acc += (*m)[i * K + k] * v[k]; }
        result[i] = acc;
    }
    return result;
}
