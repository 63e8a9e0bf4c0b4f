//! Drives the generated Julia package (`packages/julia/RankRelax`) from Rust, in one process,
//! through [jlrs](https://docs.rs/jlrs/0.8.2) (Julia embedded), to check that it agrees with the
//! core bit for bit. Not published; run by `scripts/test-julia-check.sh`.
//!
//! - [`reference`]: the cases of the reference file, and the core called directly on them;
//! - `session` (feature `julia`): Julia started with the private Julia 1.5.3 of `scripts/setup.sh`,
//!   `RankRelax` loaded from the checkout with the freshly built C library, Rust buffers lent to
//!   Julia without a copy, and Julia's exceptions brought back as Rust errors.
//!
//! Without the `julia` feature (the default: jl-sys's build script needs Julia's C headers and
//! libclang) the crate builds without Julia, and its test and bench print one line saying why they
//! did not run.

#![warn(missing_docs)]

pub mod reference;

#[cfg(feature = "julia")]
pub mod session;

/// Why the Julia checks cannot run in this build or on this machine, or `None` when they can.
pub fn skip_reason() -> Option<String> {
    if !cfg!(feature = "julia") {
        return Some(
            "built without the `julia` feature (jlrs needs Julia's C headers and libclang: \
             scripts/test-julia-check.sh sets them up and enables it)"
                .into(),
        );
    }
    match std::env::var_os("RANK_RELAX_JULIA_ROOT") {
        None => Some(
            "RANK_RELAX_JULIA_ROOT is not set (the private julia 1.5.3's root; \
             scripts/test-julia-check.sh sets it)"
                .into(),
        ),
        Some(root) => {
            let root = std::path::PathBuf::from(root);
            let image = root.join(session_paths::IMAGE);
            if image.exists() {
                None
            } else {
                Some(format!(
                    "Julia's system image {} is missing",
                    image.display()
                ))
            }
        }
    }
}

/// Where Debian's julia keeps its binary and system image, relative to the unpacked root.
pub mod session_paths {
    /// The folder of the `julia` binary.
    pub const BINDIR: &str = "usr/bin";
    /// The system image (`Julia::init`'s default path does not follow Debian's multiarch layout).
    pub const IMAGE: &str = "usr/lib/x86_64-linux-gnu/julia/sys.so";
}

/// The repository root (from this crate's manifest directory).
pub fn repo_root() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}
