//! The algebra of the CPU's scans, forward and reverse: fields of small
//! `block x block` matrices, one per group of a run of `len` groups, and the
//! products the scans need (`M x`, `M^T x`, `M A`). One definition for Newton's
//! parallel scan (`scan.rs`) and the backward's reverse scan (`reverse_scan.rs`).
//!
//! Vectors are structure-of-arrays, `[block][len]`. A field's entry `(u, v)` of
//! group `j` is at `(u * block + v) * stride + first + j`: a Jacobian row
//! (`JacobianLayout`: `stride` its groups, `first` the run's first group) or a
//! composed map (`[block][block][len]`: `stride = len`, `first = 0`), so the loops
//! over groups are contiguous and vectorise.

/// A field of `block x block` matrices over `len` groups.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blocks<'a> {
    pub data: &'a [f32],
    pub block: usize,
    pub stride: usize,
    pub first: usize,
    pub len: usize,
}

impl<'a> Blocks<'a> {
    /// A composed map `[block][block][len]`.
    pub fn map(data: &'a [f32], block: usize, len: usize) -> Self {
        Blocks { data, block, stride: len, first: 0, len }
    }

    /// Entry `(u, v)` of every group.
    fn entries(&self, u: usize, v: usize) -> &'a [f32] {
        &self.data[(u * self.block + v) * self.stride + self.first..][..self.len]
    }
}

/// The identity field `[block][block][len]`.
pub(crate) fn identity(block: usize, len: usize) -> Vec<f32> {
    let mut m = vec![0.0; block * block * len];
    for u in 0..block {
        m[(u * block + u) * len..][..len].fill(1.0);
    }
    m
}

/// `out += M x`.
pub(crate) fn mul_add(m: Blocks<'_>, x: &[f32], out: &mut [f32]) {
    let len = m.len;
    for u in 0..m.block {
        for v in 0..m.block {
            let (x, out) = (&x[v * len..][..len], &mut out[u * len..][..len]);
            for ((o, &e), &xv) in out.iter_mut().zip(m.entries(u, v)).zip(x) {
                *o += e * xv;
            }
        }
    }
}

/// `out += M^T x`.
pub(crate) fn mul_add_transposed(m: Blocks<'_>, x: &[f32], out: &mut [f32]) {
    let len = m.len;
    for u in 0..m.block {
        for v in 0..m.block {
            let (x, out) = (&x[u * len..][..len], &mut out[v * len..][..len]);
            for ((o, &e), &xv) in out.iter_mut().zip(m.entries(u, v)).zip(x) {
                *o += e * xv;
            }
        }
    }
}

/// `a <- M a` for a composed map `a` (`next` is scratch).
pub(crate) fn compose(m: Blocks<'_>, a: &mut Vec<f32>, next: &mut Vec<f32>) {
    let (block, len) = (m.block, m.len);
    next.clear();
    next.resize(block * block * len, 0.0);
    for u in 0..block {
        for v in 0..block {
            let entries = m.entries(u, v);
            for w in 0..block {
                let (from, to) = (&a[(v * block + w) * len..][..len], &mut next[(u * block + w) * len..][..len]);
                for ((o, &e), &x) in to.iter_mut().zip(entries).zip(from) {
                    *o += e * x;
                }
            }
        }
    }
    std::mem::swap(a, next);
}
