//! Back ends: from a derived cell to code for a device. Each is pure: text or
//! in-memory code out, no device touched.

pub mod clif;
pub mod wgsl;
