//! Link flags for a Node addon (undefined napi_* symbols are resolved by the node process).
fn main() {
    napi_build::setup();
}
