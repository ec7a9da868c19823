//! Garbage collection: unreferenced files leave after the grace period, referenced ones stay; uploads cut off by `kill -9` leave nothing and their space is reused.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// How long a collectable file may take to disappear (grace 1 s, collection every 1 s).
const GONE_WITHIN: Duration = Duration::from_secs(15);
/// Long enough for several collections to have passed a referenced file by.
const SEVERAL_COLLECTIONS: Duration = Duration::from_millis(3500);
const CRASH_ROUNDS: u64 = 3;

/// A server that collects unreferenced files after 1 s, checking every second.
fn gc_server() -> Server {
    Server::start_with(ServerOpts {
        extra_args: ["--blob-grace-secs", "1", "--gc-interval-secs", "1"]
            .map(String::from)
            .to_vec(),
        ..ServerOpts::default()
    })
}

fn file_status(server: &Server, id: &str) -> u16 {
    server.get(&format!("/api/v1/files/{id}")).0
}

fn wait_gone(server: &Server, id: &str, what: &str) {
    let started = Instant::now();
    wait_until(GONE_WITHIN, what, || {
        (file_status(server, id) == 404).then_some(())
    });
    eprintln!("{what}: gone after {:?}", started.elapsed());
}

/// Waits through several collections; then each of `ids` must still be there.
fn assert_stay(server: &Server, ids: &[&str], what: &str) {
    thread::sleep(SEVERAL_COLLECTIONS);
    for id in ids {
        assert_eq!(file_status(server, id), 200, "{what}: {id} was collected");
    }
}

#[test]
fn an_unreferenced_upload_is_collected() {
    let server = gc_server();
    let content = Content::random(1201, 1_500_000);
    let id = content.hash();
    upload(&server, "orphan.bin", &content);
    wait_gone(&server, &id, "an upload nothing names");

    // The same bytes can come back, and stay once something names them.
    upload(&server, "orphan-again.bin", &content);
    let sid = shipment_in_preparation(&server);
    attach(&server, &sid, "kept.bin", &content);
    assert_stay(&server, &[&id], "the re-uploaded, attached file");
}

#[test]
fn attached_files_stay_until_detached_or_cancelled() {
    let server = gc_server();
    let sid = shipment_in_preparation(&server);
    let detached = Content::random(1301, 2 * MIB + 3);
    let cancelled = Content::text(1_200_000);
    attach(&server, &sid, "detached.bin", &detached);
    let other_sid = shipment_in_preparation(&server);
    attach(&server, &other_sid, "cancelled.txt", &cancelled);
    assert_stay(
        &server,
        &[&detached.hash(), &cancelled.hash()],
        "attached files",
    );

    let (status, body) = server.delete(&format!(
        "/api/v1/shipments/{sid}/files/{}",
        detached.hash()
    ));
    assert_eq!(status, 204, "{body:#}");
    wait_gone(&server, &detached.hash(), "a detached file");

    let (status, body) = server.post(&format!("/api/v1/shipments/{other_sid}/cancel"), json!({}));
    assert_eq!(status, 200, "{body:#}");
    wait_gone(
        &server,
        &cancelled.hash(),
        "the file of a cancelled shipment",
    );
}

#[test]
fn a_shared_file_stays_while_anything_names_it() {
    let server = gc_server();
    let content = Content::random(1401, 2 * MIB + 77);
    let id = content.hash();
    let a = shipment_in_preparation(&server);
    let b = shipment_in_preparation(&server);
    attach(&server, &a, "shared.bin", &content);
    attach(&server, &b, "shared.bin", &content);
    let sku = standard_with_files(&server, &[&id], json!({}));

    for sid in [&a, &b] {
        let (status, body) = server.delete(&format!("/api/v1/shipments/{sid}/files/{id}"));
        assert_eq!(status, 204, "{body:#}");
    }
    assert_stay(&server, &[&id], "a file a product still names");

    let bought = buy(&server, &sku);
    put_product(
        &server,
        &sku,
        json!({"name": "Ebook, new edition", "kind": "standard",
               "items": [{"label": "Code", "value": "NEW-EDITION"}]}),
    );
    assert_stay(&server, &[&id], "a file a sold shipment still names");
    let got = fetch(&file_url(&bought, &id), &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    got.assert_content(&content, 0, content.len());
}

/// Hands out content up to `gate`, then signals and blocks until released, then fails.
struct GatedReader {
    inner: ContentReader,
    gate: u64,
    reached: Option<mpsc::Sender<()>>,
    release: Arc<AtomicBool>,
}

impl Read for GatedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.gate.saturating_sub(self.inner.pos());
        if left == 0 {
            if let Some(tx) = self.reached.take() {
                let _ = tx.send(());
            }
            while !self.release.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(10));
            }
            return Err(io::Error::other("the upload was cut off"));
        }
        let n = buf.len().min(left as usize);
        self.inner.read(&mut buf[..n])
    }
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .len()
}

#[test]
fn uploads_cut_off_by_kill_leave_nothing_and_their_space_is_reused() {
    let mut server = gc_server();
    let redb = server.data_dir().join("waybill.redb");
    let sid = shipment_in_preparation(&server);
    let kept = Content::random(1501, 300_000);
    attach(&server, &sid, "kept.bin", &kept);
    let baseline = file_len(&redb);
    let cut_at = 120 * MIB;
    let mut sizes = Vec::new();

    for round in 0..CRASH_ROUNDS {
        let big = Content::random(1600 + round, UPLOAD_BYTES_MAX);
        let (tx, reached) = mpsc::channel();
        let release = Arc::new(AtomicBool::new(false));
        let reader = GatedReader {
            inner: big.reader(),
            gate: cut_at,
            reached: Some(tx),
            release: release.clone(),
        };
        let rb = upload_request(
            &server,
            &upload_path(None, "crash.bin"),
            reader,
            big.len(),
            Framing::Sized,
        );
        let sender = thread::spawn(move || try_send(rb));
        reached
            .recv_timeout(Duration::from_secs(120))
            .expect("the upload did not get to 120 MiB");
        // Let the server store what it received, then pull the plug.
        thread::sleep(Duration::from_secs(1));
        server.kill9();
        release.store(true, Ordering::Relaxed);
        let outcome = sender.join().expect("the upload thread panicked");
        assert!(
            outcome.is_err(),
            "round {round}: the cut-off upload got an answer: {outcome:?}"
        );
        let after_crash = file_len(&redb);

        server.start_again();
        let r = server.send(server.anon(Method::GET, "/healthz"));
        assert_eq!(r.status, 200, "round {round}: not serving after the crash");
        assert_eq!(file_status(&server, &big.hash()), 404, "round {round}");
        assert_eq!(
            file_status(&server, &big.hash_of(0, cut_at)),
            404,
            "round {round}"
        );
        assert_eq!(file_status(&server, &kept.hash()), 200, "round {round}");
        // Reclaiming happens at start and on every collection; give it one.
        let reclaimed = Instant::now();
        while !server.stderr().contains("collected unreferenced files")
            && reclaimed.elapsed() < Duration::from_secs(10)
        {
            thread::sleep(Duration::from_millis(100));
        }
        let log = server.stderr();
        assert!(
            !log.contains("panicked") && !log.contains("ERROR"),
            "round {round}: an unclean start:\n{log}"
        );
        sizes.push((after_crash, file_len(&redb)));
    }
    eprintln!(
        "waybill.redb: {baseline} bytes at first, then (after kill, after restart) {sizes:?}"
    );
    let grown = file_len(&redb).saturating_sub(baseline);
    let allowed = UPLOAD_BYTES_MAX * 13 / 10;
    assert!(
        grown <= allowed,
        "waybill.redb grew by {grown} bytes over {CRASH_ROUNDS} cut-off uploads of 120 MiB \
         (allowed {allowed}); sizes (after kill, after restart): {sizes:?}"
    );

    // Nothing of the cut-off uploads is a file; what was stored is intact.
    server.stop();
    let v = verify_store(server.data_dir());
    assert_eq!(
        (v.checked, v.corrupt, v.code),
        (1 + BUNDLED_PLUGIN_FILES, 0, 0),
        "expected exactly the one kept file: {}",
        v.stdout
    );
    server.start_again();
    let prepared = prepare(&server, &sid);
    let got = fetch(&file_url(&prepared, &kept.hash()), &[]);
    assert_eq!(got.status, 200);
    got.assert_content(&kept, 0, kept.len());
}
