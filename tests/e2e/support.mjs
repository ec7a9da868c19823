// Helpers for the browser tests: the real waybill binary, the real SMTP sink, the JSON API, Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = process.env.WAYBILL_BIN || path.join(ROOT, 'target', 'debug', 'waybill');
export const SHOTS = path.join(ROOT, 'target', 'e2e-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const START_TIMEOUT_MS = 30_000;

/** A port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a process and waits until `ready(lines)` returns a value; keeps its output for failures. */
function startProcess(name, command, args, env, ready) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const log = [];
  const keep = (stream, target) => readline.createInterface({ input: stream }).on('line', (line) => {
    target.push(line);
    log.push(line);
    if (log.length > 400) log.shift();
  });
  keep(child.stdout, lines);
  keep(child.stderr, []);
  const result = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms:\n${log.join('\n')}`));
    }, START_TIMEOUT_MS);
    const check = setInterval(() => {
      const value = ready(lines);
      if (value) {
        clearTimeout(timer);
        clearInterval(check);
        resolve(value);
      }
    }, 25);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      clearInterval(check);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${log.join('\n')}`));
    });
  });
  return { child, log, result };
}

async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The SMTP sink (tests/smtp_sink.py, aiosmtpd) and the messages it stored. */
export class SmtpSink {
  static async start(scratch) {
    const sink = new SmtpSink();
    sink.port = await freePort();
    sink.dir = path.join(scratch, 'mail');
    const env = { ...process.env };
    const started = startProcess('the SMTP sink', 'python3', [
      '-u', path.join(ROOT, 'tests', 'smtp_sink.py'),
      '--host', '127.0.0.1', '--port', String(sink.port), '--dir', sink.dir,
    ], env, (lines) => lines.includes('ready'));
    sink.child = started.child;
    await started.result;
    return sink;
  }

  get url() {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Every message so far, oldest first (decoded by Python's email package). */
  messages() {
    let names;
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.eml')).sort();
    } catch {
      return [];
    }
    return names.map((n) => JSON.parse(readFileSync(path.join(this.dir, n.replace(/\.eml$/, '.json')), 'utf8')));
  }

  /** Messages to `email`. */
  to(email) {
    return this.messages().filter((m) => m.rcpt_tos.includes(email));
  }

  /** Waits until `count` messages to `email` arrived; returns them. */
  async waitFor(email, count = 1, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.to(email);
      if (got.length >= count) return got;
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} message(s) to ${email} within ${timeoutMs} ms, got ${got.length}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop() {
    await stopProcess(this.child);
  }
}

/** The download link in a buyer e-mail's plain-text part. */
export function linkIn(message) {
  const text = message.parts.filter((p) => p.content_type === 'text/plain').map((p) => p.content).join('\n');
  const match = text.match(/https?:\/\/\S+\/d\/\S+/);
  if (!match) throw new Error(`no download link in:\n${text}`);
  return match[0];
}

/** One `waybill serve` on port 0 with a fresh data dir. */
export class Waybill {
  static async start({ scratch, smtpUrl, shopName }) {
    const server = new Waybill();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WAYBILL_')));
    env.RUST_LOG = env.RUST_LOG || 'warn';
    const args = ['serve', '--data', path.join(scratch, 'data'), '--listen', '127.0.0.1:0',
      '--smtp-url', smtpUrl, '--mail-from', 'Shop <shop@example.com>', '--shop-name', shopName,
      // Compiled plugins shared by every test server (a debug build compiles slowly).
      '--plugin-cache-dir', path.join(path.dirname(path.dirname(BIN)), 'test-plugin-cache')];
    const started = startProcess('waybill', BIN, args, env, (lines) => {
      const base = lines.find((l) => l.startsWith('waybill listening on '));
      const key = lines.find((l) => l.startsWith('admin API key: '));
      return base && key && {
        base: base.slice('waybill listening on '.length).trim(),
        key: key.slice('admin API key: '.length).trim(),
      };
    });
    server.child = started.child;
    server.log = started.log;
    Object.assign(server, await started.result);
    return server;
  }

  /** A JSON API call; throws unless the status is 2xx. */
  async api(method, urlPath, body) {
    const response = await fetch(this.base + urlPath, {
      method,
      headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${urlPath} → ${response.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** Uploads raw bytes as a file; returns its id. */
  async upload(name, bytes, contentType = 'application/octet-stream') {
    const response = await fetch(`${this.base}/api/v1/files?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.key}`, 'content-type': contentType },
      body: bytes,
    });
    if (response.status !== 201) throw new Error(`upload → ${response.status}: ${await response.text()}`);
    return (await response.json()).id;
  }

  async stop() {
    await stopProcess(this.child);
  }
}

/** A scratch directory removed by `cleanup()`. */
export function scratchDir() {
  const dir = mkdtempSync(path.join(tmpdir(), 'waybill-e2e-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Debian's Chromium, headless; never a downloaded browser. */
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Saves a full-page screenshot as target/e2e-screenshots/NAME.png. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}
