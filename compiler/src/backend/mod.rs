//! Back ends: from a derived cell and its kernel plan (`crate::plan`) to code
//! for a device. Each is pure: text or in-memory code out, no device touched.

pub mod clif;
pub mod wgsl;
