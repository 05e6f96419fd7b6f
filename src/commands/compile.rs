//! `rnnc compile FILE --emit ir|jacobian|wgsl|spirv|clif [-o OUT]`: what the
//! compiler produces for a cell, as text (SPIR-V as binary words).

use std::path::Path;

use rnnc::compiler::check::{DimSizes, lcm};
use rnnc::compiler::{Cell, Derived, backend};
use rnnc::runtime::data::StagedFiles;

use super::paths::{Named, check_outputs};
use super::stdio::out_bytes;
use super::{DimList, Failure, bind_dims, load_and_check, parse_dims, report_compile_error, select_cell};

/// What to emit.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// The step's IR.
    Ir,
    /// The IR with every derivative, and the Jacobian's structure.
    Jacobian,
    /// The GPU kernels (WGSL).
    Wgsl,
    /// The GPU kernels as SPIR-V (binary).
    Spirv,
    /// The CPU functions (cranelift IR).
    Clif,
}

/// Arguments of `rnnc compile`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rnnc compile stdlib:para_gru --emit jacobian\n  rnnc compile my_cell.rnn --emit wgsl --dims H=1024,D=512 -o my_cell.wgsl\n\nKernels (wgsl, spirv, clif) are generated for bound sizes: without --dims every dim is 64\n(or the least multiple of 64 that the block sizes using it divide)."
)]
pub struct Args {
    /// A source file, or `stdlib:NAME` for a shipped cell.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// The cell, when the file defines several.
    #[arg(long)]
    pub cell: Option<String>,
    /// What to produce.
    #[arg(long, value_enum)]
    pub emit: Emit,
    /// Where to write it (standard output if absent or `-`).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<std::path::PathBuf>,
    /// Sizes for the kernels, e.g. `H=1024,D=512`.
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_dims)]
    pub dims: Option<DimList>,
}

/// The default size of every dim: 64, or the least multiple of 64 its block sizes divide.
pub fn default_dims(cell: &Cell) -> DimList {
    let sizes =
        cell.dims.iter().map(|(dim, d)| (d.name.clone(), lcm(64, cell.block_multiple(dim)).unwrap_or(64))).collect();
    DimList(sizes)
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Failure> {
    if let Some(path) = args.output.as_deref().filter(|path| path.as_os_str() != "-") {
        let source: Vec<Named<'_>> = (!args.file.starts_with(rnnc::STDLIB_PREFIX))
            .then(|| Named::new("", Path::new(&args.file)))
            .into_iter()
            .collect();
        check_outputs(&source, &[Named::new("-o", path)])?;
    }
    let (source, cells) = load_and_check(&args.file)?;
    let cell = select_cell(&source, cells, args.cell.as_deref())?;
    let derived = rnnc::compiler::derive_cell(&cell).map_err(|e| report_compile_error(&source, e))?;
    let sizes = || -> Result<DimSizes, Failure> {
        let dims = args.dims.clone().unwrap_or_else(|| default_dims(&cell));
        bind_dims(&source, &cell, &dims)
    };
    let bytes: Vec<u8> = match args.emit {
        Emit::Ir => derived.ir_text().into_bytes(),
        Emit::Jacobian => derived.jacobian_text().into_bytes(),
        Emit::Wgsl => wgsl(&derived, &sizes()?).map_err(|e| report_compile_error(&source, e))?.into_bytes(),
        Emit::Spirv => {
            let text = wgsl(&derived, &sizes()?).map_err(|e| report_compile_error(&source, e))?;
            let words = backend::wgsl::spirv(&cell.name, &text).map_err(|e| report_compile_error(&source, e))?;
            words.iter().flat_map(|w| w.to_le_bytes()).collect()
        }
        Emit::Clif => {
            backend::clif::clif_text(&derived, &sizes()?).map_err(|e| report_compile_error(&source, e))?.into_bytes()
        }
    };
    match &args.output {
        Some(path) if path.as_os_str() != "-" => {
            let mut files = StagedFiles::new();
            files.bytes(path, &bytes).and_then(|()| files.commit()).map_err(|e| Failure::User(e.to_string()))?
        }
        _ => out_bytes(&bytes)?,
    }
    Ok(())
}

/// Both GPU kernels of a cell, projection first, as one WGSL listing.
fn wgsl(derived: &Derived, sizes: &DimSizes) -> Result<String, rnnc::Error> {
    let kernels = backend::wgsl::generate(derived, sizes, &backend::wgsl::Target::default())?;
    let dims: Vec<String> = derived.cell.dims.iter().map(|(h, d)| format!("{} = {}", d.name, sizes.dim(h))).collect();
    Ok(format!(
        "// rnnc: GPU kernels of cell `{}` for {}\n\n// ---- matrix-product kernel: projections `X (W^T)`, `W` transposed first (entry point `main`) ----\n{}\n// ---- recurrence kernels ----\n{}",
        derived.cell.name,
        if dims.is_empty() { "fixed sizes".to_owned() } else { dims.join(", ") },
        kernels.gemm.text(backend::wgsl::GemmLayout { a_along_depth: true, ..Default::default() }),
        kernels.recurrence
    ))
}
