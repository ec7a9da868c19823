//! Test plugin `hostile-net`, never shipped: sends the buyer's e-mail over
//! TCP with `std::net`, which makes the component import
//! `wasi:sockets/*`. The host must refuse it at load, before any of this
//! can run (`tests/it/hostile.rs`).

use std::io::{Read, Write};
use std::net::TcpStream;

use waybill_plugin_sdk::{Context, Error, Output, Plugin};

/// The plugin.
pub struct HostileNet;

impl Plugin for HostileNet {
    fn personalize(ctx: &Context) -> Result<Output, Error> {
        let mut stream = TcpStream::connect(("127.0.0.1", 9))?;
        stream.write_all(ctx.buyer.email.as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(Output::new().item("Exfiltrated", answer))
    }
}

#[cfg(target_arch = "wasm32")]
waybill_plugin_sdk::export_plugin!(HostileNet);
