//! Test plugin `hostile`, never shipped: misbehaves on purpose, in the way
//! its config names, so `tests/it/hostile.rs` can show through
//! `waybill plugins run` that the host's sandbox contains it.
//!
//! Config: `{"mode": "..."}`, plus the mode's optional field:
//!
//! | mode | what it does | what the host must answer |
//! | --- | --- | --- |
//! | `loop` | spins forever | `timeout` |
//! | `busy-wait` | spins forever calling the host (`random-u64`) | `timeout` |
//! | `fuel-burner` | `rounds` (default 10^10) rounds of FNV-1a, then returns the digest | `out_of_fuel` |
//! | `memory-bomb` | allocates and fills 1 MiB blocks until it dies | `memory_limit` |
//! | `big-output` | writes `bytes` (default 1 GiB) to `big.bin`, ignoring refusals, then returns ok | `output_limit`, no file |
//! | `panic` | panics with `message` | `trap`, the message in the captured stderr |
//! | `read-past-end` | reads the first source at, past and far past its end, and with `len` = `u32::MAX`; returns the answers as items ([`raw`]) | an empty chunk at the end, `out-of-range` past it, at most a chunk limit of the file's real bytes |
//! | `stdout-flood` | writes `bytes` (default 8 MiB) to stdout, to stderr and to the log, ignoring errors | all three captured bounded |
//! | `many-items` | returns `count` (default 100 000) items | `too_many_items` |
//! | `bad-output-name` | creates outputs named `../../etc/passwd` and other non-names, logs each answer, fails with the first refusal | refused (`invalid-argument`), no file |

pub mod raw;

use std::hint::black_box;
use std::io::{self, Write};

use serde::Deserialize;
use waybill_plugin_sdk::bindings::waybill::plugin::{host, types};
use waybill_plugin_sdk::{Adapter, Context, Error, Level, Output, Plugin, create_output, log, rng};

/// What the plugin does, from its config.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Mode {
    Loop,
    BusyWait,
    FuelBurner { rounds: Option<u64> },
    MemoryBomb,
    BigOutput { bytes: Option<u64> },
    Panic { message: Option<String> },
    ReadPastEnd,
    StdoutFlood { bytes: Option<u64> },
    ManyItems { count: Option<u32> },
    BadOutputName,
}

/// Bytes per host write, as the SDK sends them.
const CHUNK: usize = 64 * 1024;

/// The modes that go through the SDK.
pub struct Hostile;

impl Plugin for Hostile {
    fn personalize(ctx: &Context) -> Result<Output, Error> {
        match ctx.config::<Mode>()? {
            Mode::Loop => spin(),
            Mode::BusyWait => loop {
                black_box(rng().next_u64());
            },
            Mode::FuelBurner { rounds } => {
                let digest = burn(rounds.unwrap_or(10_000_000_000));
                Ok(Output::new().item("Digest", format!("{digest:016x}")))
            }
            Mode::MemoryBomb => memory_bomb(),
            Mode::BigOutput { bytes } => big_output(bytes.unwrap_or(1 << 30)),
            Mode::Panic { message } => {
                panic!(
                    "{}",
                    message.as_deref().unwrap_or("hostile plugin gives up")
                )
            }
            Mode::ReadPastEnd => Err(Error::failed("read-past-end runs on the raw contract")),
            Mode::StdoutFlood { bytes } => Ok(flood(bytes.unwrap_or(8 << 20))),
            Mode::ManyItems { count } => {
                let mut output = Output::new();
                for i in 0..count.unwrap_or(100_000) {
                    output.push(format!("Item {i}"), "x");
                }
                Ok(output)
            }
            Mode::BadOutputName => bad_output_names(),
        }
    }
}

/// Never returns, and the optimizer cannot prove it does nothing.
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// `rounds` rounds of FNV-1a over the round counter: finite, but as slow
/// as asked.
pub fn burn(rounds: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for round in 0..black_box(rounds) {
        for byte in round.to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Hoards filled 1 MiB blocks until an allocation fails (which aborts).
fn memory_bomb() -> ! {
    let mut hoard = Vec::new();
    loop {
        hoard.push(black_box(vec![0x5a_u8; 1 << 20]));
    }
}

/// Writes `bytes` to one output, carrying on past every refusal, and
/// claims success.
fn big_output(bytes: u64) -> Result<Output, Error> {
    let mut file = create_output("big.bin", "application/octet-stream")?;
    let chunk = vec![0xa5_u8; CHUNK];
    let (mut attempted, mut refused) = (0_u64, None);
    while attempted < bytes {
        if let Err(e) = file.write_all(&chunk) {
            refused.get_or_insert_with(|| e.to_string());
        }
        attempted += CHUNK as u64;
    }
    let finished = file.finish();
    Ok(Output::new()
        .item("Attempted", attempted.to_string())
        .item("First refusal", refused.unwrap_or_else(|| "none".into()))
        .item("Finish", format!("{finished:?}")))
}

/// Writes `bytes` to stdout, to stderr and to the log in lines of
/// `flood flood ...` (102 bytes), stopping a stream at its first error
/// only; reports what each accepted.
fn flood(bytes: u64) -> Output {
    let line = format!("{}\n", "flood ".repeat(17).trim_end());
    let mut output = Output::new();
    let streams: [(&str, &mut dyn Write); 2] =
        [("stdout", &mut io::stdout()), ("stderr", &mut io::stderr())];
    for (name, stream) in streams {
        let mut accepted = 0_u64;
        let mut error = None;
        while accepted < bytes {
            match stream.write_all(line.as_bytes()) {
                Ok(()) => accepted += line.len() as u64,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let value = match error {
            Some(e) => format!("{accepted} bytes accepted, then: {e}"),
            None => format!("{accepted} bytes accepted"),
        };
        output.push(name, value);
    }
    let mut logged = 0_u64;
    while logged < bytes {
        log(Level::Info, line.trim_end());
        logged += line.len() as u64;
    }
    output.push("log", format!("{logged} bytes sent"));
    output
}

/// Names no output may have: path parts, `.`/`..`, control characters,
/// surrounding spaces, too long.
pub fn bad_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        ".",
        "",
        "sub/file.txt",
        "..\\..\\boot.ini",
        "nul\0byte",
        "line\nbreak",
        " padded ",
    ]
    .map(String::from)
    .into();
    names.push("a".repeat(256));
    names
}

/// Tries every [`bad_names`] name, logs each answer (writing to any
/// accepted one) and fails with the first refusal.
fn bad_output_names() -> Result<Output, Error> {
    let mut first_refusal = None;
    for name in bad_names() {
        match create_output(&name, "text/plain") {
            Ok(mut file) => {
                let written = file.write_all(b"pwned\n").map_err(Error::from);
                let finished = written.and_then(|()| file.finish());
                log(Level::Error, &format!("{name:?}: accepted ({finished:?})"));
            }
            Err(e) => {
                log(Level::Info, &format!("{name:?}: refused: {e}"));
                first_refusal.get_or_insert(e);
            }
        }
    }
    match first_refusal {
        Some(e) => Err(e),
        None => Ok(Output::new().item("Names", "all accepted")),
    }
}

/// The component's export: `read-past-end` talks to the raw contract
/// ([`raw`]), every other mode goes through the SDK as [`Hostile`].
pub struct Component;

impl waybill_plugin_sdk::bindings::Guest for Component {
    fn personalize(
        ctx: types::Context,
        sources: Vec<host::SourceFile>,
    ) -> Result<Vec<types::Item>, types::PluginError> {
        if let Ok(Mode::ReadPastEnd) = serde_json::from_str(&ctx.config_json) {
            return raw::read_past_end(&sources);
        }
        <Adapter<Hostile> as waybill_plugin_sdk::bindings::Guest>::personalize(ctx, sources)
    }
}

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
const _: () = {
    waybill_plugin_sdk::bindings::__export_personalizer!(
        Component with_types_in waybill_plugin_sdk::bindings
    );
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_from_config() {
        let mode = |json: &str| serde_json::from_str::<Mode>(json).unwrap();
        assert_eq!(mode(r#"{"mode": "loop"}"#), Mode::Loop);
        assert_eq!(
            mode(r#"{"mode": "fuel-burner", "rounds": 5}"#),
            Mode::FuelBurner { rounds: Some(5) }
        );
        assert_eq!(
            mode(r#"{"mode": "big-output"}"#),
            Mode::BigOutput { bytes: None }
        );
        assert_eq!(mode(r#"{"mode": "read-past-end"}"#), Mode::ReadPastEnd);
        assert!(serde_json::from_str::<Mode>(r#"{"mode": "nice"}"#).is_err());
    }

    #[test]
    fn burn_is_fnv1a_over_the_round_counters() {
        assert_eq!(burn(0), 0xcbf2_9ce4_8422_2325);
        // FNV-1a of eight zero bytes, then of 1u64 little-endian.
        assert_eq!(burn(1), raw::fnv1a(&[0; 8]));
        assert_eq!(
            burn(2),
            raw::fnv1a(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        );
    }

    #[test]
    fn bad_names_are_all_bad() {
        let names = bad_names();
        assert_eq!(names[0], "../../etc/passwd");
        assert!(names.iter().all(|n| n.is_empty()
            || n.contains(['/', '\\', '\0', '\n'])
            || n == "."
            || n == ".."
            || n.trim() != n
            || n.len() > 255));
    }
}
