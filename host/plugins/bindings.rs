//! The generated WIT bindings of `waybill:plugin@0.1.0`, world `personalizer`.
//!
//! This is the only `bindgen!` in the crate, and its types never leave
//! `host/plugins`: the rest of the server sees [`super::RunContext`],
//! [`super::RunReport`] and [`super::RunError`]. Every import is
//! `trappable`, so a host function can end a run (e.g. `random-bytes` asked
//! for more than the contract allows).

wasmtime::component::bindgen!({
    world: "personalizer",
    // Relative to CARGO_MANIFEST_DIR (bindgen! takes a string literal, not `concat!`).
    path: "wit",
    imports: { default: trappable },
    with: {
        "waybill:plugin/host.source-file": super::sandbox::SourceFile,
        "waybill:plugin/host.output-file": super::sandbox::OutputFile,
    },
});
