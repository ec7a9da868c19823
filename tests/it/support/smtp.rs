//! A real SMTP server process (`tests/smtp_sink.py`, aiosmtpd) that stores what Waybill sends.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

const SINK_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A port nothing listens on right now (bind port 0, note the port, let it go).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local addr").port()
}

/// One received message, decoded by Python's `email` package.
#[derive(Debug, Clone)]
pub struct Mail {
    pub file: PathBuf,
    pub raw: String,
    pub summary: Value,
}

impl Mail {
    pub fn rcpt_tos(&self) -> Vec<String> {
        self.summary["rcpt_tos"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A header of the message (lower-case name), decoded.
    pub fn header(&self, name: &str) -> String {
        self.summary["headers"][name.to_ascii_lowercase()]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn content_type(&self) -> &str {
        self.summary["content_type"].as_str().unwrap_or("")
    }

    /// The decoded content of every leaf part with this MIME type.
    pub fn parts(&self, mime: &str) -> Vec<String> {
        self.summary["parts"]
            .as_array()
            .map(|parts| {
                parts
                    .iter()
                    .filter(|p| p["content_type"] == mime)
                    .map(|p| p["content"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The single part of this type; panics with the whole message when there is not exactly one.
    pub fn part(&self, mime: &str) -> String {
        let parts = self.parts(mime);
        assert_eq!(
            parts.len(),
            1,
            "expected exactly one {mime} part in {}:\n{}",
            self.file.display(),
            self.raw
        );
        parts.into_iter().next().unwrap_or_default()
    }
}

/// The SMTP sink process and the directory it writes messages to.
pub struct SmtpSink {
    scratch: TempDir,
    port: u16,
    child: Option<Child>,
    starts: u32,
}

impl SmtpSink {
    /// A sink on a fresh free port.
    pub fn start() -> SmtpSink {
        SmtpSink::start_on(free_port())
    }

    /// A sink on a given port (e.g. one Waybill was already told about while nothing listened).
    pub fn start_on(port: u16) -> SmtpSink {
        let scratch = tempfile::Builder::new()
            .prefix("waybill-smtp-")
            .tempdir()
            .expect("creating a temp dir");
        let mut sink = SmtpSink {
            scratch,
            port,
            child: None,
            starts: 0,
        };
        sink.launch();
        sink
    }

    fn mail_dir(&self) -> PathBuf {
        self.scratch.path().join("mail")
    }

    fn log_path(&self) -> PathBuf {
        self.scratch
            .path()
            .join(format!("sink-stderr-{}.log", self.starts))
    }

    fn launch(&mut self) {
        assert!(self.child.is_none(), "the SMTP sink is already running");
        self.starts += 1;
        let log = File::create(self.log_path()).expect("creating the sink log");
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(SINK_SCRIPT)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(self.mail_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting python3 {SINK_SCRIPT}: {e}; run tests/setup"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) if line.trim() == "ready" => {}
            other => {
                let status = self.kill();
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                panic!(
                    "the SMTP sink on port {} did not start ({other:?}, exit {status:?}).\n\
                     If aiosmtpd is missing, run tests/setup.\nsink stderr:\n{log}",
                    self.port
                );
            }
        }
    }

    fn kill(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// The `--smtp-url` for Waybill.
    pub fn url(&self) -> String {
        smtp_url(self.port)
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        read_messages(&self.mail_dir())
    }

    /// Waits until at least `n` messages arrived; panics with what did arrive after `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} message(s) within {timeout:?}, got {}",
                messages.len()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits `settle` and asserts that exactly `n` messages arrived in total.
    pub fn assert_count_stays(&self, n: usize, settle: Duration) -> Vec<Mail> {
        thread::sleep(settle);
        let messages = self.messages();
        assert_eq!(
            messages.len(),
            n,
            "expected exactly {n} message(s), got:\n{:#?}",
            messages.iter().map(|m| &m.file).collect::<Vec<_>>()
        );
        messages
    }

    /// Stops the sink (messages already stored stay readable).
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("the SMTP sink is not running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.wait();
    }

    /// Starts the sink again on the same port, keeping the messages stored so far.
    pub fn start_again_same_port(&mut self) {
        self.launch();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

fn read_messages(dir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let raw = std::fs::read(&file).expect("reading a stored message");
            let summary_text = std::fs::read_to_string(file.with_extension("json"))
                .expect("reading a stored message summary");
            Mail {
                raw: String::from_utf8_lossy(&raw).into_owned(),
                summary: serde_json::from_str(&summary_text).expect("message summary JSON"),
                file,
            }
        })
        .collect()
}
