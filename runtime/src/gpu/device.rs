//! Choosing an adapter and opening a device on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::kernel::Kernel;

/// The environment variable that turns naga's shader runtime checks back on
/// (`1`): bounds checks on every index and forced loop bounds. Off by default:
/// the generated kernels index only within their planned buffers and every loop
/// has a planned bound (docs/ARCHITECTURE.md, "Trusted kernels").
pub const SHADER_CHECKS_ENV: &str = "RNNC_SHADER_CHECKS";

/// The environment variable that picks an adapter: an index into the list of
/// adapters (best first), a case-insensitive part of the adapter's name, or
/// `uuid:HEX`, the GPU's UUID (as CUDA and `nvidia-smi` give it).
pub const ADAPTER_ENV: &str = "RNNC_ADAPTER";

/// Why the GPU could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter at all.
    #[error(
        "no GPU adapter found (wgpu found no Vulkan, Metal or DX12 device); install a driver \
         (on Linux without a GPU: `apt-get install mesa-vulkan-drivers libvulkan1` for lavapipe) \
         or use `--backend cpu`"
    )]
    NoAdapter,
    /// The adapter asked for is not there.
    #[error("no GPU adapter matches `{wanted}`; the adapters are: {available}")]
    AdapterNotFound {
        /// The selector.
        wanted: String,
        /// The adapters found.
        available: String,
    },
    /// The device could not be opened.
    #[error("cannot open a device on {adapter}: {reason}")]
    RequestDevice {
        /// The adapter.
        adapter: String,
        /// The driver's reason.
        reason: String,
    },
    /// A kernel was rejected by the device (the compiler validates kernels first,
    /// so this is a bug or a driver limitation).
    #[error("the device rejected kernel `{label}`: {reason}")]
    Kernel {
        /// The kernel.
        label: String,
        /// The device's reason.
        reason: String,
    },
    /// The cell's kernels could not be generated.
    #[error("{0}")]
    Codegen(String),
    /// The GPU back end cannot run this cell (`ErrorKind::BackendUnsupported`,
    /// with the span of what it cannot run); the CPU back end can.
    #[error("{}", .0.kind)]
    Unsupported(Box<rnnc_compiler::Error>),
    /// Newton's settings are not usable (see `NewtonSettings::validate`).
    #[error("{0}")]
    Settings(String),
    /// A tape was given to a backward pass it does not belong to.
    #[error("{0}")]
    Tape(String),
    /// A buffer could not be read back, or the device was lost.
    #[error("GPU failure: {0}")]
    Device(String),
}

/// An adapter, as listed for users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Its position in the list.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Backend and device type, e.g. `Vulkan, DiscreteGpu`.
    pub kind: String,
}

/// An open device with its queue and a cache of compiled kernels.
pub struct Gpu {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    pub(super) limits: wgpu::Limits,
    subgroups: bool,
    timestamps: bool,
    shader_checks: bool,
    /// The optional Vulkan extensions the device was opened with.
    pub(super) extensions: super::extensions::Extensions,
    /// Device buffers created so far (also each buffer's identity).
    pub(super) allocations: AtomicU64,
    kernels: Mutex<HashMap<(String, String, String), Arc<Kernel>>>,
}

fn instance() -> wgpu::Instance {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    wgpu::Instance::new(descriptor)
}

fn rank(info: &wgpu::AdapterInfo) -> u8 {
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn summary(index: usize, info: &wgpu::AdapterInfo) -> AdapterSummary {
    AdapterSummary { index, name: info.name.clone(), kind: format!("{:?}, {:?}", info.backend, info.device_type) }
}

/// The adapters wgpu finds, best first (discrete GPUs before integrated, virtual and
/// CPU devices).
fn adapters() -> Vec<wgpu::Adapter> {
    let mut adapters = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()));
    adapters.sort_by_key(|a| rank(&a.get_info()));
    adapters
}

impl Gpu {
    /// Every adapter, best first, as `rnnc devices` lists them.
    pub fn list_adapters() -> Vec<AdapterSummary> {
        adapters().iter().enumerate().map(|(i, a)| summary(i, &a.get_info())).collect()
    }

    /// Opens a device: the adapter `selector` picks (an index or part of a name), else
    /// the one in [`ADAPTER_ENV`], else the best.
    pub fn open(selector: Option<&str>) -> Result<Gpu, GpuError> {
        let env = std::env::var(ADAPTER_ENV).ok();
        let selector = selector.map(str::to_owned).or(env).filter(|s| !s.trim().is_empty());
        let mut adapters = adapters();
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter);
        }
        let chosen = match &selector {
            None => 0,
            Some(wanted) => {
                let by_index = wanted.trim().parse::<usize>().ok().filter(|&i| i < adapters.len());
                let lower = wanted.to_lowercase();
                let by_uuid = lower.trim().strip_prefix("uuid:").map(|hex| {
                    let uuid = super::interop::parse_uuid(hex);
                    adapters.iter().position(|a| uuid.is_some() && super::interop::adapter_uuid(a) == uuid)
                });
                let by_name = || adapters.iter().position(|a| a.get_info().name.to_lowercase().contains(&lower));
                by_index.or_else(|| by_uuid.unwrap_or_else(by_name)).ok_or_else(|| GpuError::AdapterNotFound {
                    wanted: wanted.clone(),
                    available: adapters
                        .iter()
                        .enumerate()
                        .map(|(i, a)| match super::interop::adapter_uuid(a) {
                            Some(uuid) => {
                                format!("{i}: {} (uuid:{})", a.get_info().name, super::interop::uuid_hex(&uuid))
                            }
                            None => format!("{i}: {}", a.get_info().name),
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                })?
            }
        };
        let adapter = adapters.swap_remove(chosen);
        let info = adapter.get_info();
        let supported = adapter.limits();
        let features = adapter.features();
        let subgroups = features.contains(wgpu::Features::SUBGROUP);
        let timestamps = features.contains(wgpu::Features::TIMESTAMP_QUERY);
        let mut required_features = wgpu::Features::empty();
        if subgroups {
            required_features |= wgpu::Features::SUBGROUP;
        }
        if timestamps {
            required_features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("rnnc"),
            required_features,
            required_limits: supported.clone(),
            ..Default::default()
        };
        let stats_wanted = super::pipeline_stats::wanted();
        let (device, queue, extensions) = super::extensions::open_device(&adapter, &descriptor, stats_wanted)
            .map_err(|e| GpuError::RequestDevice { adapter: info.name.clone(), reason: e.to_string() })?;
        device.on_uncaptured_error(Arc::new(|error: wgpu::Error| {
            use std::io::Write as _;
            // An unwritable stderr is ignored, never a panic.
            let _ = writeln!(std::io::stderr(), "rnnc: GPU error not captured by the runtime: {error}");
        }));
        let shader_checks = std::env::var(SHADER_CHECKS_ENV).is_ok_and(|v| v.trim() == "1");
        Ok(Gpu {
            device,
            queue,
            info,
            limits: supported,
            subgroups,
            timestamps,
            shader_checks,
            extensions,
            allocations: AtomicU64::new(0),
            kernels: Mutex::new(HashMap::new()),
        })
    }

    /// The adapter's name with its backend and type, for reports.
    pub fn describe(&self) -> String {
        format!("{} ({:?}, {:?})", self.info.name, self.info.backend, self.info.device_type)
    }

    /// Whether the device runs on the CPU (lavapipe, WARP, ...).
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Whether the device shares timeline semaphores with other APIs
    /// ([`Gpu::shared_timeline`]).
    pub fn shares_semaphores(&self) -> bool {
        self.extensions.semaphores
    }

    /// Whether kernels may use subgroup operations.
    pub fn has_subgroups(&self) -> bool {
        self.subgroups
    }

    /// Whether kernels can be timed with GPU timestamps (else wall clock).
    pub fn has_timestamps(&self) -> bool {
        self.timestamps
    }

    /// Whether shader modules are created with naga's runtime checks
    /// ([`SHADER_CHECKS_ENV`]).
    pub fn shader_checks(&self) -> bool {
        self.shader_checks
    }

    /// How many device buffers this device has created so far: a resident
    /// workspace creates none on repeated calls of the same shape.
    pub fn allocations(&self) -> u64 {
        self.allocations.load(Ordering::Relaxed)
    }

    /// The alignment of a storage binding's offset, in bytes.
    pub fn binding_alignment(&self) -> u64 {
        u64::from(self.limits.min_storage_buffer_offset_alignment).max(4)
    }

    /// The largest storage buffer a kernel may bind, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// The most threads one workgroup may have.
    pub fn max_threads_per_workgroup(&self) -> u64 {
        u64::from(self.limits.max_compute_invocations_per_workgroup)
            .min(u64::from(self.limits.max_compute_workgroup_size_x))
    }

    /// The most workgroup memory one workgroup may use, in bytes.
    pub fn max_workgroup_bytes(&self) -> u64 {
        u64::from(self.limits.max_compute_workgroup_storage_size)
    }

    /// The most workgroups one dispatch may have along one dimension.
    pub fn max_workgroups_per_dimension(&self) -> u32 {
        self.limits.max_compute_workgroups_per_dimension
    }

    /// The kernel `entry` of the WGSL `source`, compiled once and cached.
    pub fn kernel(&self, label: &str, source: &str, entry: &str) -> Result<Arc<Kernel>, GpuError> {
        self.kernel_with(label, source, entry, &[])
    }

    /// [`Gpu::kernel`] with its pipeline made with `constants` (values of the
    /// module's pipeline-overridable constants); cached per source, entry
    /// point and constants.
    pub fn kernel_with(
        &self,
        label: &str,
        source: &str,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> Result<Arc<Kernel>, GpuError> {
        let key = (source.to_owned(), entry.to_owned(), format!("{constants:?}"));
        if let Some(kernel) =
            self.kernels.lock().map_err(|_| GpuError::Device("kernel cache poisoned".into()))?.get(&key)
        {
            return Ok(kernel.clone());
        }
        let kernel = Arc::new(Kernel::compile(self, label, source, entry, constants)?);
        self.kernels.lock().map_err(|_| GpuError::Device("kernel cache poisoned".into()))?.insert(key, kernel.clone());
        Ok(kernel)
    }

    /// Submits pending buffer writes and waits until the device has finished all
    /// submitted work.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.queue.submit([]);
        self.finish_submitted()
    }

    /// Waits until the work submitted so far is done (without submitting the
    /// queue's pending writes, as [`Gpu::wait`] does: no extra round trip
    /// through the device when the last submission already ended).
    pub(super) fn finish_submitted(&self) -> Result<(), GpuError> {
        self.finish_through(None)
    }

    /// Waits until `submission` (`None`: all submitted work) is done.
    pub(super) fn finish_through(&self, submission: Option<wgpu::SubmissionIndex>) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::Wait { submission_index: submission, timeout: None })
            .map(|_| ())
            .map_err(|e| GpuError::Device(e.to_string()))
    }
}
