//! The engines cells run on, one per (backend, adapter) for the whole process:
//! opening a GPU device is slow, and every cell compiled for the same backend
//! shares its device, pipelines and caches.

use std::sync::{Arc, Mutex, PoisonError};

use rnnc::{Backend, Engine};

use crate::errors::Failure;

type Key = (Backend, Option<String>);

static ENGINES: Mutex<Vec<(Key, Arc<Engine>)>> = Mutex::new(Vec::new());

/// Parses `"auto"`, `"gpu"` or `"cpu"`.
pub fn parse_backend(name: &str) -> Result<Backend, Failure> {
    match name {
        "auto" => Ok(Backend::Auto),
        "gpu" => Ok(Backend::Gpu),
        "cpu" => Ok(Backend::Cpu),
        other => Err(Failure::Usage(format!("backend must be \"auto\", \"gpu\" or \"cpu\", not {other:?}"))),
    }
}

/// The engine for `backend` on `adapter`, opened on first use.
pub fn engine(backend: Backend, adapter: Option<&str>) -> Result<Arc<Engine>, Failure> {
    let key: Key = (backend, adapter.map(str::to_owned));
    // Held while a device opens, so two threads never open the same one twice.
    let mut engines = ENGINES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, engine)) = engines.iter().find(|(k, _)| *k == key) {
        return Ok(engine.clone());
    }
    let engine = Arc::new(Engine::new(backend, adapter).map_err(|e| Failure::Device(e.to_string()))?);
    engines.push((key, engine.clone()));
    Ok(engine)
}

/// The name Python uses for a backend.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Auto => "auto",
        Backend::Gpu => "gpu",
        Backend::Cpu => "cpu",
    }
}
