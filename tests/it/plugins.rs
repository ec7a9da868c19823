//! `waybill plugins run`: the bundled plugin components (built by
//! `plugins/build.sh`) run through the real binary, and components the host
//! must refuse.
//!
//! The components are found in `$WAYBILL_PLUGINS_DIR`, else in
//! `<target dir>/plugins/wasm32-wasip2/release` (the target dir of this test's
//! binary); `tests/run` builds them first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, SigningKey, Verifier as _};

use crate::support::BIN;

const EMAIL: &str = "zoe.kowalska@example.com";

fn plugins_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WAYBILL_PLUGINS_DIR") {
        return dir.into();
    }
    // BIN is <target dir>/debug/waybill.
    let target = Path::new(BIN).parent().unwrap().parent().unwrap();
    target.join("plugins/wasm32-wasip2/release")
}

pub(crate) fn component(name: &str) -> PathBuf {
    let path = plugins_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the bundled plugins with plugins/build.sh (tests/run does) or set WAYBILL_PLUGINS_DIR",
        path.display()
    );
    path
}

pub(crate) fn context(quantity: u32, config: &str) -> String {
    format!(
        r#"{{"order_id": "ord_7", "shipment_id": "shp_1", "issued_at": "2026-12-03T17:00:00Z",
            "line": {{"sku": "rust-hb", "product_name": "Rust Handbook", "quantity": {quantity}, "options": {{}}}},
            "buyer": {{"name": "Zoë Kowalska", "email": "{EMAIL}"}},
            "config": {config}}}"#
    )
}

pub(crate) struct Run {
    out: Output,
    dir: tempfile::TempDir,
}

impl Run {
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub(crate) fn ok(&self) -> &Self {
        assert!(
            self.out.status.success(),
            "plugins run failed:\n{}\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    pub(crate) fn failed(&self, what: &str) -> &Self {
        assert_eq!(
            self.out.status.code(),
            Some(1),
            "expected exit 1:\n{}\n{}",
            self.stdout(),
            self.stderr()
        );
        assert!(
            self.stderr().contains(what),
            "stderr lacks {what:?}:\n{}",
            self.stderr()
        );
        self
    }
    /// `(label, value)` printed under `items:`.
    pub(crate) fn items(&self) -> Vec<(String, String)> {
        self.stdout()
            .lines()
            .skip_while(|l| !l.starts_with("items:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(|l| {
                let (label, value) = l.trim_start().split_once(": ").unwrap();
                (label.to_owned(), value.to_owned())
            })
            .collect()
    }
    pub(crate) fn values(&self, label_prefix: &str) -> Vec<String> {
        self.items()
            .into_iter()
            .filter(|(l, _)| l.starts_with(label_prefix))
            .map(|(_, v)| v)
            .collect()
    }
    pub(crate) fn out_dir(&self) -> &Path {
        self.dir.path()
    }
}

pub(crate) fn run(wasm: &Path, ctx: &str, files: &[&Path], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let ctx_path = dir.path().join("ctx.json");
    std::fs::write(&ctx_path, ctx).unwrap();
    let out_dir = dir.path().join("out");
    let mut cmd = Command::new(BIN);
    cmd.args(["plugins", "run"])
        .arg(wasm)
        .arg("--context")
        .arg(&ctx_path)
        .arg("--out")
        .arg(&out_dir)
        .args(extra)
        .env_remove("WAYBILL_PLUGIN_SIGNING_KEY_HEX");
    for f in files {
        cmd.arg("--file").arg(f);
    }
    let out = cmd.output().unwrap();
    // Keep the outputs reachable through `out_dir()`.
    let moved = tempfile::tempdir().unwrap();
    if out_dir.exists() {
        for entry in std::fs::read_dir(&out_dir).unwrap() {
            let entry = entry.unwrap();
            std::fs::rename(entry.path(), moved.path().join(entry.file_name())).unwrap();
        }
    }
    Run { out, dir: moved }
}

#[test]
fn license_key_issues_one_distinct_key_per_unit_reproducibly() {
    let wasm = component("license_key");
    let first = run(&wasm, &context(3, "{}"), &[], &[]);
    first.ok();
    let keys = first.values("License key");
    assert_eq!(keys.len(), 3, "{}", first.stdout());
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "keys repeat: {keys:?}");
    for out in ["fuel used: ", "peak memory: ", "wall time: "] {
        assert!(first.stdout().contains(out), "{}", first.stdout());
    }

    // Randomness is seeded by the shipment: a retry draws the same keys,
    // another shipment others.
    let again = run(&wasm, &context(3, "{}"), &[], &[]);
    assert_eq!(again.ok().values("License key"), keys);
    let other = run(&wasm, &context(3, "{}").replace("shp_1", "shp_2"), &[], &[]);
    assert_ne!(other.ok().values("License key"), keys);
}

#[test]
fn license_key_signs_through_the_host() {
    let wasm = component("license_key");
    let secret = [7u8; 32];
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let r = run(
        &wasm,
        &context(2, r#"{"signed": true}"#),
        &[],
        &["--signing-key-hex", &hex],
    );
    r.ok();
    let licenses = r.values("Signed license");
    assert_eq!(licenses.len(), 2, "{}", r.stdout());
    let public = SigningKey::from_bytes(&secret).verifying_key();
    for license in licenses {
        let (payload, signature) = license.split_once('.').unwrap();
        let payload = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let signature = Signature::from_slice(&signature).unwrap();
        public
            .verify(&payload, &signature)
            .expect("a license signature the shop's public key verifies");
        assert!(String::from_utf8(payload).unwrap().contains(EMAIL));
    }

    // Without a key, `sign` is unavailable and the plugin says so.
    run(&wasm, &context(1, r#"{"signed": true}"#), &[], &[]).failed("unavailable");
}

#[test]
fn license_key_bad_config_is_the_plugins_error() {
    let r = run(
        &component("license_key"),
        &context(1, r#"{"alphabet": "0123"}"#),
        &[],
        &[],
    );
    r.failed("invalid-config");
}

#[test]
fn voucher_codes_carry_value_and_expiry() {
    let r = run(
        &component("voucher"),
        &context(
            2,
            r#"{"value": "50.00", "currency": "PLN", "valid_days": 365, "prefix": "GIFT"}"#,
        ),
        &[],
        &[],
    );
    r.ok();
    let codes = r.values("Voucher code");
    assert_eq!(codes.len(), 2, "{}", r.stdout());
    assert!(codes.iter().all(|c| c.starts_with("GIFT-")), "{codes:?}");
    assert_ne!(codes[0], codes[1]);
    let stdout = r.stdout();
    assert!(stdout.contains("50.00 PLN"), "{stdout}");
    assert!(stdout.contains("2027-12-03"), "{stdout}");
}

/// A small, valid two-page PDF with a classic cross-reference table.
pub(crate) fn small_pdf() -> Vec<u8> {
    let content = |text: &str| format!("BT /F1 24 Tf 72 700 Td ({text}) Tj ET");
    let (c1, c2) = (content("Chapter one"), content("Chapter two"));
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 6 0 R >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 7 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{c1}\nendstream", c1.len() + 1),
        format!("<< /Length {} >>\nstream\n{c2}\nendstream", c2.len() + 1),
    ];
    let mut pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

/// `qpdf --check` passes on `pdf`.
pub(crate) fn assert_qpdf_check(pdf: &Path) {
    let check = Command::new("qpdf")
        .arg("--check")
        .arg(pdf)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "qpdf --check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

pub(crate) fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found && std::env::var_os("WAYBILL_REQUIRE_PDF_TOOLS").is_some() {
        panic!("{tool} is not installed (apt-get install qpdf poppler-utils)");
    }
    found
}

#[test]
fn pdf_watermark_stamps_the_buyer_on_every_page() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("handbook.pdf");
    std::fs::write(&input, small_pdf()).unwrap();
    let r = run(
        &component("pdf_watermark"),
        &context(1, r#"{"position": "bottom", "opacity": 0.5}"#),
        &[&input],
        &[],
    );
    r.ok();
    assert!(
        r.stdout().contains("handbook.pdf (application/pdf, "),
        "{}",
        r.stdout()
    );
    let stamped = r.out_dir().join("handbook.pdf");
    let bytes = std::fs::read(&stamped).expect("the stamped PDF was written");
    let original = small_pdf();
    assert!(bytes.len() > original.len());
    assert_eq!(
        &bytes[..original.len()],
        &original[..],
        "not an incremental update"
    );

    if have("qpdf") {
        assert_qpdf_check(&stamped);
    }
    if have("pdftotext") {
        for page in ["1", "2"] {
            let text = Command::new("pdftotext")
                .args(["-f", page, "-l", page])
                .arg(&stamped)
                .arg("-")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&text.stdout);
            assert!(text.contains(EMAIL), "page {page} lacks the e-mail: {text}");
        }
    }
}

#[test]
fn pdf_watermark_garbage_source_fails_and_leaves_no_output() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("broken.pdf");
    std::fs::write(&input, b"not a pdf at all").unwrap();
    let r = run(
        &component("pdf_watermark"),
        &context(1, "{}"),
        &[&input],
        &[],
    );
    r.failed("invalid-source");
    assert_eq!(std::fs::read_dir(r.out_dir()).unwrap().count(), 0);
}

#[test]
fn limits_are_named_when_hit() {
    let keys = component("license_key");
    run(&keys, &context(1, "{}"), &[], &["--fuel-max", "10000"])
        .failed("[out_of_fuel]: fuel limit reached");
    run(&keys, &context(5, "{}"), &[], &["--items-max", "2"])
        .failed("[too_many_items]: too many items: the plugin returned 5, at most 2");
    run(
        &keys,
        &context(1, "{}"),
        &[],
        &["--memory-bytes-max", "65536"],
    )
    .failed("[memory_limit]: memory limit reached");

    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("handbook.pdf");
    std::fs::write(&input, small_pdf()).unwrap();
    let r = run(
        &component("pdf_watermark"),
        &context(1, "{}"),
        &[&input],
        &["--output-bytes-max", "100"],
    );
    r.failed("[output_limit]: output limit reached: more than 100 output bytes");
    assert_eq!(std::fs::read_dir(r.out_dir()).unwrap().count(), 0);
}

fn refused(bytes: &[u8], what: &str) {
    let work = tempfile::tempdir().unwrap();
    let wasm = work.path().join("plugin.wasm");
    std::fs::write(&wasm, bytes).unwrap();
    let r = run(&wasm, &context(1, "{}"), &[], &[]);
    r.failed(what);
    assert!(!r.stderr().contains("panicked"), "{}", r.stderr());
}

#[test]
fn garbage_is_not_a_component() {
    refused(
        b"MZ\x90\0 definitely not wasm",
        "not a WebAssembly component",
    );
    refused(b"", "not a WebAssembly component");
}

#[test]
fn a_core_module_is_not_a_component() {
    refused(
        b"\0asm\x01\0\0\0",
        "a core WebAssembly module, not a component",
    );
}

#[test]
fn a_truncated_component_is_refused() {
    let bytes = std::fs::read(component("voucher")).unwrap();
    refused(
        &bytes[..bytes.len() / 2],
        "not a valid WebAssembly component",
    );
}

/// A component binary: the header, then `sections` (id, payload).
fn component_bytes(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    for (id, payload) in sections {
        bytes.push(*id);
        assert!(payload.len() < 128);
        bytes.push(payload.len() as u8);
        bytes.extend_from_slice(payload);
    }
    bytes
}

#[test]
fn a_component_exporting_nothing_is_refused() {
    refused(
        &component_bytes(&[]),
        "does not export `personalize`: it does not target the world waybill:plugin/personalizer@0.1.0",
    );
}

#[test]
fn a_component_importing_the_filesystem_is_refused() {
    // (component (import "wasi:filesystem/types@0.2.0" (instance)))
    let name = b"wasi:filesystem/types@0.2.0";
    let types = vec![1, 0x42, 0]; // one type: an empty instance type
    let mut import = vec![1, 0x00, name.len() as u8];
    import.extend_from_slice(name);
    import.extend_from_slice(&[0x05, 0]); // an instance of type 0
    refused(
        &component_bytes(&[(7, types), (10, import)]),
        "imports `wasi:filesystem/types@0.2.0`, which the host does not offer",
    );
}
