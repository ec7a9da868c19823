//! Builds the bundled plugins (`plugins/license-key`, `plugins/voucher`,
//! `plugins/pdf-watermark`) as wasm32-wasip2 components, so the server binary
//! embeds them (`host/plugins/bundled.rs`) and installs them on first start.
//!
//! A nested `cargo build` in its own target directory, `<target dir>/plugins`
//! (the one `plugins/build.sh` uses too, so either warms the other). The
//! wasm32-wasip2 target comes from `rust-toolchain.toml`: run
//! `rustup toolchain install` in the repository root once.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bundled plugins: package name, then the file the build writes.
const BUNDLED: [(&str, &str); 3] = [
    ("license-key", "license_key.wasm"),
    ("voucher", "voucher.wasm"),
    ("pdf-watermark", "pdf_watermark.wasm"),
];

fn main() {
    println!("cargo:rerun-if-changed=plugins");
    println!("cargo:rerun-if-changed=wit");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = plugins_target_dir(&out_dir);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir)
        // No debug info in the components: the workspace's release profile
        // keeps line tables for the server, which would triple their size.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    for (package, _) in BUNDLED {
        build.args(["-p", package]);
    }
    // What the outer build set for the host must not leak into the guests'
    // build (clippy's wrapper, host rustflags, a forced target).
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        build.env_remove(var);
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the bundled plugins: {e}"));
    if !status.success() {
        panic!(
            "building the bundled plugins for wasm32-wasip2 failed ({status}); \
             if the target is missing, run `rustup toolchain install` in the repository root"
        );
    }

    let release = target_dir.join("wasm32-wasip2").join("release");
    let mut table = String::from("&[\n");
    for (package, file) in BUNDLED {
        let path = release.join(file);
        assert!(path.is_file(), "{} was not built", path.display());
        table.push_str(&format!(
            "    ({package:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    table.push_str("]\n");
    std::fs::write(out_dir.join("bundled_plugins.rs"), table)
        .expect("could not write bundled_plugins.rs");
}

/// `<target dir>/plugins`, from OUT_DIR = `<target dir>/[<triple>/]<profile>/build/<pkg>-<hash>/out`.
fn plugins_target_dir(out_dir: &Path) -> PathBuf {
    let target = out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| out_dir.ancestors().nth(4))
        .expect("OUT_DIR lies inside the target directory");
    target.join("plugins")
}
