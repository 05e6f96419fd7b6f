//! `rnnc run FILE --params P.safetensors --input NAME=X.npy... --out OUT`: run a cell
//! forward over data files and write its outputs (and a report).

use std::path::{Path, PathBuf};

use rnnc::runtime::data::BoundData;
use rnnc::runtime::data::{NonFiniteOutputs, OutputFormat, StagedFiles, read_npy, read_safetensors, stage_outputs};
use rnnc::{Backend, Cell, CompiledCell, Engine, Method, NewtonSettings, RunOptions, Source};

use super::paths::{Named, check_outputs};
use super::results::NonFinite;
use super::stdio::errln;
use super::{Failure, load_and_check, select_cell};

/// A backend, as the command line names it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendArg {
    /// A GPU through wgpu (Vulkan, Metal, DX12).
    Gpu,
    /// The CPU, with cells compiled by cranelift.
    Cpu,
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Backend {
        match arg {
            BackendArg::Gpu => Backend::Gpu,
            BackendArg::Cpu => Backend::Cpu,
        }
    }
}

/// A method, as the command line names it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodArg {
    /// Chosen by the backend's cost model.
    Auto,
    /// Newton's method with a parallel scan.
    Newton,
    /// One step after another.
    Sequential,
}

impl From<MethodArg> for Method {
    fn from(arg: MethodArg) -> Method {
        match arg {
            MethodArg::Auto => Method::Auto,
            MethodArg::Newton => Method::Newton,
            MethodArg::Sequential => Method::Sequential,
        }
    }
}

/// How the solver runs: backend, method and Newton's settings (shared by `run` and
/// `bench`).
#[derive(clap::Args, Debug, Clone)]
pub struct SolverArgs {
    /// Where to run (default: the best GPU adapter, or the CPU when there is none).
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// The GPU adapter: an index or part of its name (default: `RNNC_ADAPTER`, else the best).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Newton's absolute tolerance.
    #[arg(long, default_value_t = NewtonSettings::default().atol)]
    pub atol: f32,
    /// Newton's relative tolerance.
    #[arg(long, default_value_t = NewtonSettings::default().rtol)]
    pub rtol: f32,
    /// Newton's iteration cap per segment (then the sequential method takes over).
    #[arg(long, default_value_t = NewtonSettings::default().max_iterations)]
    pub max_iterations: u32,
}

impl SolverArgs {
    /// The engine these arguments ask for.
    /// Without `--backend`, a machine with no usable GPU runs on the CPU and
    /// stderr says so in one line.
    pub fn engine(&self) -> Result<Engine, Failure> {
        let backend = self.backend.map_or(Backend::Auto, Backend::from);
        let engine = Engine::new(backend, self.adapter.as_deref()).map_err(|e| Failure::User(e.to_string()))?;
        if let Some(notice) = engine.notice() {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "note: {notice}");
        }
        Ok(engine)
    }

    /// Newton's settings.
    pub fn newton(&self) -> NewtonSettings {
        NewtonSettings { atol: self.atol, rtol: self.rtol, max_iterations: self.max_iterations }
    }
}

/// Refuses `--atol`, `--rtol` and `--max-iterations` no solve may use (a usage
/// error, before any file is read).
pub fn check_solver_args(solver: &SolverArgs) -> Result<(), Failure> {
    solver.newton().validate().map_err(|e| {
        let flag = match e {
            rnnc::runtime::SettingsError::Tolerance { name, .. } => format!("--{name}"),
            _ => "--max-iterations".to_owned(),
        };
        Failure::Usage(format!("{flag}: {e}"))
    })
}

/// A cell and the data of one run (`run` and `grad`).
#[derive(clap::Args, Debug)]
pub struct DataArgs {
    /// A source file, or `stdlib:NAME` for a shipped cell.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// The cell, when the file defines several.
    #[arg(long)]
    pub cell: Option<String>,
    /// Every parameter, one float32 tensor per `param`, named as in the cell.
    #[arg(long, value_name = "P.safetensors")]
    pub params: PathBuf,
    /// An input sequence `[B, T, D]` (float32 .npy), once per input.
    #[arg(long = "input", value_name = "NAME=X.npy", value_parser = named_path, required = true)]
    pub inputs: Vec<(String, PathBuf)>,
    /// An initial state `[B, H]` (float32 .npy); states not given start at zero.
    #[arg(long = "init", value_name = "NAME=H0.npy", value_parser = named_path)]
    pub inits: Vec<(String, PathBuf)>,
}

impl DataArgs {
    /// Every file these arguments read: the source (unless shipped), the
    /// parameters, the inputs and the initial states.
    pub fn files(&self) -> Vec<Named<'_>> {
        let mut files = Vec::new();
        if !self.file.starts_with(rnnc::STDLIB_PREFIX) {
            files.push(Named::new("", Path::new(&self.file)));
        }
        files.push(Named::new("--params", &self.params));
        files.extend(self.inputs.iter().map(|(name, path)| Named::new(&format!("--input {name}="), path)));
        files.extend(self.inits.iter().map(|(name, path)| Named::new(&format!("--init {name}="), path)));
        files
    }

    /// The source and the chosen cell, checked (diagnostics printed).
    pub fn cell(&self) -> Result<(Source, Cell), Failure> {
        let (source, cells) = load_and_check(&self.file)?;
        let cell = select_cell(&source, cells, self.cell.as_deref())?;
        Ok((source, cell))
    }

    /// Reads the data files, then compiles `cell` on the engine `engine` makes and
    /// binds the data to it: every file is read before any device is opened.
    pub fn bind(
        &self,
        source: &Source,
        cell: &Cell,
        engine: impl FnOnce() -> Result<Engine, Failure>,
    ) -> Result<(Engine, CompiledCell, BoundData), Failure> {
        let params = read_safetensors(&self.params).map_err(data_error)?;
        let inputs = read_named(&self.inputs)?;
        let inits = read_named(&self.inits)?;
        let engine = engine()?;
        let text = rnnc::compiler::source_text(&source.bytes).map_err(|e| super::report_compile_error(source, e))?;
        let compiled = engine.compile(text, Some(&cell.name)).map_err(|e| Failure::User(e.to_string()))?;
        let data = compiled.bind(params, inputs, inits).map_err(data_error)?;
        Ok((engine, compiled, data))
    }
}

/// Arguments of `rnnc run`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rnnc run stdlib:para_gru --params p.safetensors --input x=x.npy --out h.npy\n  rnnc run cells.rnn --cell my_lstm --params p.safetensors --input x=x.npy --init h=h0.npy \\\n      --out out.safetensors --method newton --report report.json"
)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Where the outputs go: `.npy` (a cell with one output) or `.safetensors` (every output by name).
    #[arg(long)]
    pub out: PathBuf,
    /// How to evaluate the sequence.
    #[arg(long, value_enum, default_value = "auto")]
    pub method: MethodArg,
    /// Also write what the solver did as JSON here.
    #[arg(long, value_name = "REPORT.json")]
    pub report: Option<PathBuf>,
    /// Treat a NaN or infinite output as an error (exit 1, nothing written)
    /// instead of a warning.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub solver: SolverArgs,
}

/// Parses `NAME=PATH`.
pub fn named_path(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = text.split_once('=').ok_or_else(|| format!("`{text}` is not NAME=PATH"))?;
    if name.is_empty() || path.is_empty() {
        return Err(format!("`{text}` is not NAME=PATH"));
    }
    Ok((name.to_owned(), PathBuf::from(path)))
}

/// A data problem, as the user sees it.
pub fn data_error(e: impl std::fmt::Display) -> Failure {
    Failure::User(e.to_string())
}

/// Reads every `NAME=X.npy` array.
pub fn read_named(items: &[(String, PathBuf)]) -> Result<Vec<(String, rnnc::Tensor)>, Failure> {
    items.iter().map(|(name, path)| Ok((name.clone(), read_npy(path).map_err(data_error)?))).collect()
}

/// Runs the command: everything is read and checked before any work, and nothing is
/// written unless the run succeeds.
pub fn run(args: &Args) -> Result<(), Failure> {
    check_solver_args(&args.solver)?;
    check_outputs(&args.data.files(), &output_files(&args.out, args.report.as_deref()))?;
    let (source, cell) = args.data.cell()?;
    OutputFormat::for_path(&args.out, &cell).map_err(data_error)?;
    let (engine, compiled, data) = args.data.bind(&source, &cell, || args.solver.engine())?;
    let options = RunOptions { method: args.method.into(), newton: args.solver.newton() };
    let forward = compiled.forward(&engine, &data, &options).map_err(|e| super::report_run_error(&source, e))?;
    let non_finite = NonFinite { outputs: NonFiniteOutputs::of(&forward.outputs), gradients: None };
    non_finite.check_strict(args.strict)?;
    // Every file is written in full before any is put in place.
    let mut files = StagedFiles::new();
    stage_outputs(&mut files, &args.out, &cell, &forward.outputs).map_err(data_error)?;
    if let Some(path) = &args.report {
        stage_report(&mut files, path, &non_finite.report(&forward.report)?)?;
    }
    files.commit().map_err(data_error)?;
    non_finite.warn();
    note_backend(&forward.report);
    warn_about_fallbacks(&forward.report);
    Ok(())
}

/// The files `--out` and `--report` name.
pub fn output_files<'a>(out: &'a Path, report: Option<&'a Path>) -> Vec<Named<'a>> {
    let mut files = vec![Named::new("--out", out)];
    files.extend(report.map(|path| Named::new("--report", path)));
    files
}

/// Stages the report, as pretty JSON, among `files`.
pub fn stage_report(files: &mut StagedFiles, path: &Path, report: &serde_json::Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(report).map_err(|e| Failure::User(e.to_string()))?;
    files.bytes(path, (text + "\n").as_bytes()).map_err(data_error)
}

/// Says on stderr why the cell ran on the CPU of a GPU engine, when it did
/// (the report's `backend_reason`).
pub fn note_backend(report: &rnnc::ForwardReport) {
    if let Some(why) = &report.backend_reason {
        errln!("note: {why}");
    }
}

/// Says on stderr when Newton handed segments to the sequential method, in
/// words that match what the outputs are.
pub fn warn_about_fallbacks(report: &rnnc::ForwardReport) {
    if let Some(line) = fallback_warning(report) {
        errln!("{line}");
    }
}

/// The warning [`warn_about_fallbacks`] prints, if any: the segments that fell
/// back to the sequential method, or, where damped Newton solved every segment
/// that plain Newton could not, a note that it did.
pub fn fallback_warning(report: &rnnc::ForwardReport) -> Option<String> {
    let (fell_back, segments, damped) = (report.fallback_segments, report.segments, report.damped_iterations);
    if fell_back == 0 {
        return (damped > 0).then(|| {
            format!(
                "note: plain Newton failed in some segments; damped Newton solved them in parallel \
                 ({damped} damped iteration(s) in all; see `damped_iterations` in the report)"
            )
        });
    }
    let made_of = if fell_back >= segments {
        "outputs are the sequential method's".to_owned()
    } else {
        format!(
            "outputs are the sequential method's in those segments, Newton's (converged) in the other {}",
            segments - fell_back
        )
    };
    let damping = if damped > 0 { format!("; damped Newton took {damped} iteration(s) in all") } else { String::new() };
    Some(format!(
        "warning: Newton did not converge: fell back to sequential in {fell_back} of {segments} segments; {made_of}\
         {damping} (see `fallback_segments`, `segment_methods` and `damped_iterations` in the report)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(fallback_segments: u64, segments: u64) -> rnnc::ForwardReport {
        let mut report = rnnc::ForwardReport {
            backend: "cpu".into(),
            device: "test".into(),
            method: "newton".into(),
            method_reason: "requested".into(),
            backend_reason: None,
            iterations: 32,
            converged: fallback_segments == 0,
            residual: 0.0,
            damped_iterations: 0,
            fallback_segments,
            segments,
            segment_methods: rnnc::SegmentMethods::default(),
            timing: "wall-clock".into(),
            time_ms: 0.0,
            projection_ms: None,
            recurrence_ms: None,
            backward_ms: None,
            backward_scan_ms: None,
            gradient_products_ms: None,
            weight_gradients_ms: None,
            input_gradients_ms: None,
            wall_ms: 0.0,
        };
        report.segment_methods = rnnc::SegmentMethods::of(rnnc::Method::Newton, segments, fallback_segments);
        report
    }

    #[test]
    fn the_fallback_warning_says_what_the_outputs_are() {
        assert_eq!(fallback_warning(&report(0, 4)), None);
        let all = fallback_warning(&report(2, 2)).expect("a warning");
        assert!(
            all.contains("fell back to sequential in 2 of 2 segments; outputs are the sequential method's ("),
            "{all}"
        );
        let some = fallback_warning(&report(1, 4)).expect("a warning");
        assert!(some.contains("in 1 of 4 segments; outputs are the sequential method's in those segments, Newton's (converged) in the other 3"), "{some}");
        let damped = rnnc::ForwardReport { damped_iterations: 7, ..report(1, 4) };
        let line = fallback_warning(&damped).expect("a warning");
        assert!(line.contains("in the other 3; damped Newton took 7 iteration(s) in all (see"), "{line}");
        let solved = rnnc::ForwardReport { damped_iterations: 7, ..report(0, 4) };
        let line = fallback_warning(&solved).expect("a note");
        assert!(line.starts_with("note: plain Newton failed in some segments; damped Newton solved them"), "{line}");
        assert!(line.contains("(7 damped iteration(s) in all;"), "{line}");
    }
}
