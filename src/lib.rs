//! rnnc: a compiler and runtime for nonlinear recurrent cells, evaluated in
//! parallel over the sequence (ParaRNN's Newton + parallel scan, made automatic).
//!
//! This crate is the public face: it re-exports the compiler and adds what users of
//! the language need around it: finding sources (including the shipped cells) and
//! rendering errors for people, as the `rnnc` command line does.
//!
//! Compile a cell at run time and run it forward on the GPU:
//!
//! ```
//! use rnnc::{Backend, Engine, RunOptions, Tensor};
//!
//! let source = "
//!     cell leaky {
//!         dim H;
//!         input x: [H];
//!         state h: [H];
//!         param a: [H];
//!         h' = tanh(a * h + x);
//!         output h;
//!     }";
//! let engine = Engine::new(Backend::Gpu, None)?;
//! let cell = engine.compile(source, None)?;
//! let (batch, steps, channels) = (2, 100, 4);
//! let params = [("a".to_owned(), Tensor::new(vec![channels], vec![0.5; channels])?)].into();
//! let x = Tensor::new(vec![batch, steps, channels], vec![0.1; batch * steps * channels])?;
//! let data = cell.bind(params, vec![("x".to_owned(), x)], vec![])?;
//! let forward = cell.forward(&engine, &data, &RunOptions::default())?;
//! let (name, h) = &forward.outputs[0];
//! assert_eq!((name.as_str(), h.shape()), ("h", &[batch, steps, channels][..]));
//! // h_1 = tanh(0.1), and every channel of every sequence is the same.
//! assert!((h.data()[0] - 0.1f32.tanh()).abs() < 1e-6);
//! assert!(forward.report.converged);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod describe;
mod engine;
pub mod parallel;
mod render;
mod source;

pub use describe::{BackendPlans, GpuPlan, Methods, backend_plans, inspect_json, param_shapes, report_json};
pub use engine::{Backend, Backward, CompiledCell, DeviceExchange, Engine, Forward, RunError, RunOptions, Tape};
pub use render::render_errors;
pub use rnnc_compiler as compiler;
pub use rnnc_compiler::{Cell, Error, ErrorKind, Span};
pub use rnnc_runtime as runtime;
pub use rnnc_runtime::data::{Gradients, Tensor};
pub use rnnc_runtime::{ForwardReport, Method, NewtonSettings, SegmentMethods};
pub use rnnc_stdlib as stdlib;
pub use source::{LoadError, STDLIB_PREFIX, Source};
