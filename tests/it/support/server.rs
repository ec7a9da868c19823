//! Runs the real `waybill` binary on a free port and talks to it over HTTP like a shop would.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use serde_json::Value;
use tempfile::TempDir;

/// The binary under test, built by cargo for this test target.
pub const BIN: &str = env!("CARGO_BIN_EXE_waybill");

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
const LISTENING_PREFIX: &str = "waybill listening on ";
const ADMIN_KEY_PREFIX: &str = "admin API key: ";
const LOG_TAIL_LINES: usize = 80;

/// How to start a server; everything defaults to "fresh data dir, mail to the log".
#[derive(Clone, Debug, Default)]
pub struct ServerOpts {
    /// Use this data dir instead of a fresh one inside the server's temp dir.
    pub data_dir: Option<PathBuf>,
    /// The admin key to use when the data dir is not empty (no key is printed then).
    pub api_key: Option<String>,
    pub public_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    /// More `serve` flags, e.g. `["--gc-interval-secs", "1"]`.
    pub extra_args: Vec<String>,
}

/// One `waybill serve` process plus its temp dir (data and logs); killed on drop.
pub struct Server {
    scratch: TempDir,
    data_dir: PathBuf,
    opts: ServerOpts,
    child: Option<Child>,
    base: String,
    key: String,
    printed_key: Option<String>,
    starts: u32,
    client: Client,
}

/// A whole HTTP response, for tests that look at headers or non-JSON bodies.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON; `Null` when empty, a JSON string holding the text when not JSON.
    pub fn json(&self) -> Value {
        json_or_text(&self.text)
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type")
    }
}

fn json_or_text(text: &str) -> Value {
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    }
}

/// A blocking HTTP client that never follows redirects and never uses a proxy.
pub fn http_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(HTTP_TIMEOUT)
        .build()
        .expect("building the HTTP client")
}

/// Runs a `waybill` subcommand (e.g. `keys create`) to completion.
pub fn waybill_cli(args: &[&str], data_dir: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg("--data").arg(data_dir);
    clear_waybill_env(&mut cmd);
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {BIN} {args:?}: {e}"))
}

/// `<target dir>/test-plugin-cache`, shared by every test server.
pub fn shared_plugin_cache() -> PathBuf {
    // BIN is <target dir>/debug/waybill.
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .expect("BIN lies in the target dir")
        .join("test-plugin-cache")
}

fn clear_waybill_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WAYBILL_") {
            cmd.env_remove(name);
        }
    }
}

impl Server {
    /// A server on a fresh, empty data dir.
    pub fn start() -> Server {
        Server::start_with(ServerOpts::default())
    }

    pub fn start_with(opts: ServerOpts) -> Server {
        let scratch = tempfile::Builder::new()
            .prefix("waybill-it-")
            .tempdir()
            .expect("creating a temp dir");
        let data_dir = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| scratch.path().join("data"));
        let key = opts.api_key.clone().unwrap_or_default();
        let mut server = Server {
            scratch,
            data_dir,
            opts,
            child: None,
            base: String::new(),
            key,
            printed_key: None,
            starts: 0,
            client: http_client(),
        };
        server.launch();
        assert!(
            !server.key.is_empty(),
            "the first start printed no `{ADMIN_KEY_PREFIX}` line and no key was given\n{}",
            server.log_tail()
        );
        server
    }

    fn launch(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        self.starts += 1;
        let log_path = self.stderr_path();
        let log = File::create(&log_path).expect("creating the stderr log");
        let mut cmd = Command::new(BIN);
        // The first start takes a free port; later starts keep it, as a real deployment
        // does, so links issued before a restart (which carry the address) stay valid.
        let listen = match self.base.strip_prefix("http://") {
            Some(addr) => addr.to_owned(),
            None => "127.0.0.1:0".to_owned(),
        };
        cmd.arg("serve")
            .arg("--data")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(&listen);
        clear_waybill_env(&mut cmd);
        if let Some(url) = &self.opts.public_url {
            cmd.arg("--public-url").arg(url);
        }
        if let Some(url) = &self.opts.smtp_url {
            cmd.arg("--smtp-url").arg(url);
        }
        if let Some(from) = &self.opts.mail_from {
            cmd.arg("--mail-from").arg(from);
        }
        if !self
            .opts
            .extra_args
            .iter()
            .any(|a| a == "--plugin-cache-dir")
        {
            // Compiled once for the whole suite: a debug build compiles a
            // component in seconds, and every fresh server installs three.
            cmd.arg("--plugin-cache-dir").arg(shared_plugin_cache());
        }
        cmd.args(&self.opts.extra_args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {BIN}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            // Keep draining stdout after the listening line so the server never blocks on it.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        self.printed_key = None;

        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let line = line.trim_end().to_owned();
                    if let Some(key) = line.strip_prefix(ADMIN_KEY_PREFIX) {
                        self.printed_key = Some(key.trim().to_owned());
                        self.key = key.trim().to_owned();
                    }
                    if let Some(url) = line.strip_prefix(LISTENING_PREFIX) {
                        self.base = url.trim().trim_end_matches('/').to_owned();
                        return;
                    }
                    seen.push(line);
                }
                Err(err) => {
                    let why = match err {
                        mpsc::RecvTimeoutError::Timeout => {
                            format!("no listening line within {START_TIMEOUT:?}")
                        }
                        mpsc::RecvTimeoutError::Disconnected => {
                            "stdout closed before the listening line".to_owned()
                        }
                    };
                    let status = self.kill_child();
                    panic!(
                        "waybill serve (start #{}) failed: {why}; exit: {status:?}\nstdout:\n{}\nstderr:\n{}",
                        self.starts,
                        seen.join("\n"),
                        self.log_tail()
                    );
                }
            }
        }
    }

    /// `http://127.0.0.1:PORT` of the running server.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The admin API key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The admin key printed by the latest start, if it printed one.
    pub fn printed_key(&self) -> Option<&str> {
        self.printed_key.as_deref()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn stderr_path(&self) -> PathBuf {
        self.scratch
            .path()
            .join(format!("stderr-{}.log", self.starts))
    }

    /// Everything the server wrote to stderr since its latest start.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.stderr();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        lines[from..].join("\n")
    }

    /// A request with the admin key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.key)
    }

    /// A request without any credentials (buyers, probes).
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends a request and reads the whole response; panics only on transport errors.
    pub fn send(&self, rb: RequestBuilder) -> Resp {
        let resp = rb
            .send()
            .unwrap_or_else(|e| panic!("HTTP request failed: {e}\nstderr:\n{}", self.log_tail()));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().expect("reading the response body");
        Resp {
            status,
            headers,
            text,
        }
    }

    /// An authenticated call with an optional JSON body.
    pub fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let mut rb = self.request(method, path);
        if let Some(body) = body {
            rb = rb.json(body);
        }
        self.send(rb)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self.call(Method::GET, path, None);
        (r.status, r.json())
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.call(Method::POST, path, Some(&body));
        (r.status, r.json())
    }

    pub fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.call(Method::PUT, path, Some(&body));
        (r.status, r.json())
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        let r = self.call(Method::DELETE, path, None);
        (r.status, r.json())
    }

    /// The buyer's view of a download link as JSON.
    pub fn buyer_json(&self, url: &str) -> Resp {
        self.send(
            self.anon(Method::GET, url)
                .header("accept", "application/json"),
        )
    }

    /// The buyer's view of a download link as a browser sees it.
    pub fn buyer_html(&self, url: &str) -> Resp {
        self.send(self.anon(Method::GET, url).header("accept", "text/html"))
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.try_wait().expect("polling the server").is_none(),
            None => false,
        }
    }

    fn kill_child(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        let pid = self.child.as_ref().expect("the server is not running").id();
        self.kill_child()
            .unwrap_or_else(|| panic!("waiting for killed server {pid}"));
    }

    /// SIGTERM and wait; the server must exit 0 within the timeout.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("the server is not running");
        let pid = child.id().to_string();
        let term = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill");
        assert!(term.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("polling the server") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not exit within {STOP_TIMEOUT:?} of SIGTERM\n{}",
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "server exited with {status} after SIGTERM\n{}",
            self.log_tail()
        );
    }

    /// Starts the stopped (or killed) server again on the same data dir and port.
    pub fn start_again(&mut self) {
        self.launch();
    }

    /// Graceful stop, then start again on the same data dir.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Like `restart`, but the server is killed with SIGKILL first.
    pub fn crash_and_restart(&mut self) {
        self.kill9();
        self.start_again();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "---- waybill stderr (start #{}, {}) ----\n{}\n---- end of waybill stderr ----",
                self.starts,
                self.stderr_path().display(),
                self.log_tail()
            );
        }
        self.kill_child();
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}
