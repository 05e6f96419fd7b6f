//! The subcommands of `rnnc`, one module each, and what they share.

pub mod bench;
pub mod check;
pub mod compile;
pub mod grad;
pub mod inspect;
pub mod lsp;
pub mod paths;
pub mod results;
pub mod run;
pub mod stdio;

use rnnc::{Cell, Source, render_errors};

use stdio::err;

/// How a command failed. Diagnostics are printed before this is returned.
#[derive(Debug)]
pub enum Failure {
    /// The user's files or data are wrong (exit status 1); already reported.
    Reported,
    /// The user's files or data are wrong (exit status 1).
    User(String),
    /// The command line is wrong (exit status 2).
    Usage(String),
    /// Standard output was closed by its reader (`| head`): the command stops
    /// quietly, with exit status 0 unless it had already failed.
    StdoutClosed,
}

impl Failure {
    /// The process exit status.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Reported | Failure::User(_) => 1,
            Failure::Usage(_) => 2,
            Failure::StdoutClosed => 0,
        }
    }
}

/// Loads and checks one source, printing its diagnostics on failure.
pub fn load_and_check(spec: &str) -> Result<(Source, Vec<Cell>), Failure> {
    let source = Source::load(spec).map_err(|e| Failure::User(e.to_string()))?;
    match source.check() {
        Ok(cells) => Ok((source, cells)),
        Err(errors) => {
            err(&render_errors(&source.name, &source.display_text(), &errors));
            Err(Failure::Reported)
        }
    }
}

/// Prints an error found after checking (deriving, generating code) and reports
/// failure.
pub fn report_compile_error(source: &Source, error: rnnc::Error) -> Failure {
    err(&render_errors(&source.name, &source.display_text(), &[error]));
    Failure::Reported
}

/// Reports a failed run: a cell the GPU back end cannot run is rendered at the
/// span of what it cannot run, like a compile error; any other failure in one
/// line.
pub fn report_run_error(source: &Source, error: rnnc::RunError) -> Failure {
    match error {
        rnnc::RunError::Gpu(rnnc::runtime::gpu::GpuError::Unsupported(error)) => report_compile_error(source, *error),
        other => Failure::User(other.to_string()),
    }
}

/// The cell to work on: the one named by `--cell`, or the file's only cell.
pub fn select_cell(source: &Source, cells: Vec<Cell>, wanted: Option<&str>) -> Result<Cell, Failure> {
    let names = || cells.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    match wanted {
        Some(name) => match cells.iter().position(|c| c.name == name) {
            Some(index) => Ok(cells.into_iter().nth(index).expect("index is in range")),
            None => Err(Failure::Usage(format!("{} has no cell `{name}` (its cells: {})", source.name, names()))),
        },
        None if cells.len() == 1 => Ok(cells.into_iter().next().expect("one cell")),
        None => Err(Failure::Usage(format!(
            "{} defines several cells ({}); choose one with --cell NAME",
            source.name,
            names()
        ))),
    }
}

/// Sizes for dims, as given by `--dims H=1024,D=512`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DimList(pub Vec<(String, u64)>);

/// Parses `H=1024,D=512`; a dim given twice is an error.
pub fn parse_dims(text: &str) -> Result<DimList, String> {
    let mut dims: Vec<(String, u64)> = Vec::new();
    for part in text.split(',').filter(|part| !part.trim().is_empty()) {
        let (name, size) = part.split_once('=').ok_or_else(|| format!("`{part}` is not NAME=SIZE"))?;
        let size = size.trim().parse::<u64>().map_err(|_| format!("`{size}` is not a size in `{part}`"))?;
        let name = name.trim();
        if let Some((_, first)) = dims.iter().find(|(n, _)| n == name) {
            return Err(format!("dim `{name}` is given twice ({name}={first} and {name}={size})"));
        }
        dims.push((name.to_owned(), size));
    }
    Ok(DimList(dims))
}

/// Binds `--dims` to `cell`; every dim of the cell must be given and no other.
pub fn bind_dims(
    source: &Source,
    cell: &Cell,
    DimList(dims): &DimList,
) -> Result<rnnc::compiler::check::DimSizes, Failure> {
    for (name, _) in dims {
        if cell.find_dim(name).is_none() {
            let known: Vec<&str> = cell.dims.values().map(|d| d.name.as_str()).collect();
            return Err(Failure::Usage(format!(
                "cell `{}` has no dim `{name}` (its dims: {})",
                cell.name,
                known.join(", ")
            )));
        }
    }
    cell.bind_dims(|name| dims.iter().find(|(n, _)| n == name).map(|&(_, size)| size)).map_err(|errors| {
        err(&render_errors(&source.name, &source.display_text(), &errors));
        Failure::Reported
    })
}

/// Refuses a run of `cell` over `batch` sequences of `steps` whose buffers cannot
/// fit in memory, with `kept` more copies of its outputs held, before any of
/// them is allocated.
pub fn check_memory(
    cell: &Cell,
    sizes: &rnnc::compiler::check::DimSizes,
    (batch, steps): (usize, usize),
    backward: bool,
    kept: u64,
) -> Result<(), Failure> {
    let footprint = rnnc::runtime::memory::Footprint::of(cell, sizes, batch as u64, steps as u64, backward)
        .map_err(|e| Failure::User(e.to_string()))?;
    footprint.check(cell, batch as u64, steps as u64, kept).map_err(|e| Failure::User(e.to_string()))
}
