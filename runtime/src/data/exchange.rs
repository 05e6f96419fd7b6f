//! The layout of one call's tensors in a single flat buffer of float32 words
//! that another API reads and writes in place (a CUDA tensor framework through
//! memory shared with the device, `gpu::Exchange`): every parameter, input,
//! initial state and output, the outputs' cotangents, and every gradient, each
//! a region of C-ordered words in the shape users hold it (the shapes of
//! `rnnc run` and `rnnc grad`'s files: `[B, T, D]`, `[B, H]`, parameters as
//! stored, a `scalar` parameter and its gradient one word).
//!
//! Regions are named as the gradients of `rnnc grad` are keyed, with the role
//! first: `param.W`, `input.x`, `init.h`, `output.h`, `dout.h`, `grad.param.W`,
//! `grad.input.x`, `grad.init.h`. Each starts on a [`REGION_ALIGN_WORDS`]
//! boundary.

use rnnc_compiler::check::{Cell, DimSizes};

use super::error::DataError;
use super::layout::{Axis, init_axes, input_axes, output_axes, shape_of, stored_axes};

/// Regions start at multiples of this many words (256 bytes), so that every
/// view of one is aligned for vector loads.
pub const REGION_ALIGN_WORDS: usize = 64;

/// One tensor's place in the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// `param.W`, `input.x`, ... (see the module's comment).
    pub name: String,
    /// Its first word.
    pub offset: usize,
    /// Its shape, C order.
    pub shape: Vec<usize>,
}

impl Region {
    /// Its words.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it holds no word.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where every tensor of a call of one cell, for one batch size and sequence
/// length, sits in the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeLayout {
    /// The batch size `B`.
    pub batch: usize,
    /// The sequence length `T`.
    pub steps: usize,
    /// Every region, in the order of the module's comment, each group in the
    /// cell's declaration order.
    pub regions: Vec<Region>,
    /// The buffer's length in words.
    pub words: usize,
    counts: [usize; 4],
}

/// The roles, in layout order: (prefix, how many of the cell's tensors).
const ROLES: [&str; 8] = ["param.", "input.", "init.", "output.", "dout.", "grad.param.", "grad.input.", "grad.init."];

impl ExchangeLayout {
    /// The layout for `cell` with `dims` bound, `batch` sequences of `steps` steps.
    pub fn new(cell: &Cell, dims: &DimSizes, batch: usize, steps: usize) -> Result<ExchangeLayout, DataError> {
        let shape = |axes: &[Axis]| shape_of(axes, cell, dims, batch, steps);
        let named = |tensors: Vec<(&String, Vec<Axis>)>| -> Result<Vec<(String, Vec<usize>)>, DataError> {
            tensors.into_iter().map(|(name, axes)| Ok((name.clone(), shape(&axes)?))).collect()
        };
        let params = named(cell.params.values().map(|p| (&p.name, stored_axes(p))).collect())?;
        let inputs = named(cell.inputs.values().map(|i| (&i.name, input_axes(i.size))).collect())?;
        let inits = named(cell.states.values().map(|s| (&s.name, init_axes(s.size))).collect())?;
        let outputs = named(cell.outputs.values().map(|o| (&o.name, output_axes(o.size))).collect())?;
        let groups = [&params, &inputs, &inits, &outputs, &outputs, &params, &inputs, &inits];
        let mut regions = Vec::new();
        let mut offset = 0usize;
        for (prefix, group) in ROLES.iter().zip(groups) {
            for (name, shape) in group {
                let region = Region { name: format!("{prefix}{name}"), offset, shape: shape.clone() };
                offset = (offset + region.len()).next_multiple_of(REGION_ALIGN_WORDS);
                regions.push(region);
            }
        }
        let counts = [params.len(), inputs.len(), inits.len(), outputs.len()];
        Ok(ExchangeLayout { batch, steps, regions, words: offset.max(1), counts })
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    fn group(&self, role: usize) -> &[Region] {
        let [params, inputs, inits, outputs] = self.counts;
        let lens = [params, inputs, inits, outputs, outputs, params, inputs, inits];
        let start: usize = lens[..role].iter().sum();
        &self.regions[start..start + lens[role]]
    }

    /// The parameters' regions, in declaration order.
    pub fn params(&self) -> &[Region] {
        self.group(0)
    }

    /// The inputs' regions.
    pub fn inputs(&self) -> &[Region] {
        self.group(1)
    }

    /// The initial states' regions.
    pub fn inits(&self) -> &[Region] {
        self.group(2)
    }

    /// The outputs' regions.
    pub fn outputs(&self) -> &[Region] {
        self.group(3)
    }

    /// The outputs' cotangents' regions.
    pub fn douts(&self) -> &[Region] {
        self.group(4)
    }

    /// The parameters' gradients' regions.
    pub fn param_grads(&self) -> &[Region] {
        self.group(5)
    }

    /// The inputs' gradients' regions.
    pub fn input_grads(&self) -> &[Region] {
        self.group(6)
    }

    /// The initial states' gradients' regions.
    pub fn init_grads(&self) -> &[Region] {
        self.group(7)
    }
}
