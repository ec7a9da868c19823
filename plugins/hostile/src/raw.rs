//! `read-past-end` on the raw WIT contract, below the SDK (which never
//! reads past the end nor asks for more than 64 KiB at once).
//!
//! Reads the first source file with offsets and lengths a well-behaved
//! plugin would not use and returns the host's answers as items, one per
//! probe: `ok <n> bytes fnv1a <hex>` (the FNV-1a of the bytes received,
//! so the test can tell real file bytes from garbage) or
//! `error <kind>: <message>`.

use waybill_plugin_sdk::bindings::waybill::plugin::host::SourceFile;
use waybill_plugin_sdk::bindings::waybill::plugin::types::{HostError, Item, PluginError};

/// The probes: label, offset, len.
fn probes(size: u64) -> [(&'static str, u64, u32); 6] {
    [
        ("nothing at 0", 0, 0),
        ("at the end", size, 16),
        ("one past the end", size.saturating_add(1), 16),
        ("far past the end", u64::MAX, u32::MAX),
        ("everything from 0", 0, u32::MAX),
        (
            "everything from 10 before the end",
            size.saturating_sub(10),
            u32::MAX,
        ),
    ]
}

/// Runs the probes on the first source.
pub fn read_past_end(sources: &[SourceFile]) -> Result<Vec<Item>, PluginError> {
    let source = sources
        .first()
        .ok_or_else(|| PluginError::InvalidSource("read-past-end needs a source file".into()))?;
    let mut items = vec![Item {
        label: "size".into(),
        value: source.size().to_string(),
    }];
    for (label, offset, len) in probes(source.size()) {
        items.push(Item {
            label: label.into(),
            value: describe(source.read(offset, len)),
        });
    }
    Ok(items)
}

fn describe(answer: Result<Vec<u8>, HostError>) -> String {
    let (kind, message) = match answer {
        Ok(bytes) => return format!("ok {} bytes fnv1a {:016x}", bytes.len(), fnv1a(&bytes)),
        Err(HostError::OutOfRange(m)) => ("out-of-range", m),
        Err(HostError::InvalidArgument(m)) => ("invalid-argument", m),
        Err(HostError::LimitExceeded(m)) => ("limit-exceeded", m),
        Err(HostError::Unavailable(m)) => ("unavailable", m),
        Err(HostError::Internal(m)) => ("internal", m),
    };
    format!("error {kind}: {message}")
}

/// 64-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
