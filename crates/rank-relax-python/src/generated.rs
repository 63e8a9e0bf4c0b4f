// placeholder until rank-relax-codegen writes this file
use pyo3::prelude::*;
pub const VERSION: &str = "0.1.0";
pub const ABI_VERSION: u32 = 1;
pub const ABI_HASH: u64 = 0;
pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
