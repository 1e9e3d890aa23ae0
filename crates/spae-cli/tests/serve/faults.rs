//! `spae serve --fewshot --server URL` under faults, against a real llama-cpp-python server
//! (scripts/install-llama-server.sh): killed while it computes an answer, the question gets a
//! 502 naming the server at once, the service stays up, and once the server is back the next
//! question is answered. SIGTERM with a question in flight answers it before exiting 0.

use std::path::Path;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{self, Server};
use super::llama_server::LlamaServer;
use super::{call, json, test_image_b64};

/// CPU time (user + system, in clock ticks) a process has used so far, from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Waits until the LLM server has spent `ticks` more CPU ticks than `before`: it is evaluating
/// the prompt of the question just sent.
fn wait_until_busy(llm: &LlamaServer, before: u64, ticks: u64) {
    let t = Instant::now();
    while cpu_ticks(llm.pid()) < before + ticks {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the LLM server never started on the question"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A few-shot question on Fashion-MNIST test images `first..first + 9`: 8 labelled, then the
/// query (4 layers of words each, about 800 prompt tokens: seconds of work for the LLM server on
/// 2 cores).
fn question(dir: &Path, first: usize) -> String {
    let b64 = |i: usize| test_image_b64(dir, i);
    let labels = [
        "boot", "sweater", "trousers", "sweater", "shirt", "trousers", "shirt", "coat",
    ];
    let support: Vec<Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| serde_json::json!({"label": l, "image": b64(first + i)}))
        .collect();
    serde_json::json!({"support": support, "query": b64(first + 8), "layers": 4}).to_string()
}

/// Posts `body` to `url` on another thread; the receiver gets status and JSON body.
fn post(url: &str, body: &str) -> Receiver<(u16, Value)> {
    let (tx, rx) = channel();
    let (url, body) = (url.to_string(), body.to_string());
    std::thread::spawn(move || {
        let (s, _, b) = call("POST", &url, "application/json", body.as_bytes());
        let _ = tx.send((s, json(&b)));
    });
    rx
}

#[test]
fn a_backing_llm_server_killed_mid_request_is_a_502_and_the_service_recovers() {
    let gguf = spae::assets::Assets::at(common::assets_root())
        .path("smollm2")
        .unwrap();
    let llm = LlamaServer::start(&gguf, 4096);
    let server = Server::start(&[
        "--model",
        "models/fashion-mnist-open",
        "--fewshot",
        "--server",
        &llm.url,
        "--prompt-as",
        "text",
        "--retries",
        "0",
        "--timeout",
        "120",
    ]);
    let url = format!("{}/v1/fewshot", server.url);
    let dir = tempfile::tempdir().unwrap();
    let ask = question(dir.path(), 0);

    // Killed while it evaluates the prompt: a 502 naming the server, without waiting for the
    // 120 s timeout.
    let before = cpu_ticks(llm.pid());
    let answer = post(&url, &ask);
    wait_until_busy(&llm, before, 20);
    assert!(
        answer.try_recv().is_err(),
        "answered before the server was killed: not a mid-request fault"
    );
    let port = llm.port;
    llm.kill();
    let killed = Instant::now();
    let (s, a) = answer.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(killed.elapsed() < Duration::from_secs(30));
    assert_eq!(
        (s, a["error"]["code"].as_str()),
        (502, Some("llm_unavailable")),
        "{a}"
    );
    let m = a["error"]["message"].as_str().unwrap();
    assert!(m.contains(&format!("127.0.0.1:{port}")), "{m}");

    // The service is still up; while the LLM server is down, questions get the same 502.
    let (s, _, _) = call("GET", &format!("{}/healthz", server.url), "", b"");
    assert_eq!(s, 200);
    let (s, a) = post(&url, &ask).recv().unwrap();
    assert_eq!(
        (s, a["error"]["code"].as_str()),
        (502, Some("llm_unavailable")),
        "{a}"
    );

    // The LLM server back on its port: answered.
    let llm = LlamaServer::start_on(&gguf, 4096, port);
    let (s, a) = post(&url, &ask).recv().unwrap();
    assert_eq!(s, 200, "{a}");
    let answer = a["answer"].as_str().unwrap();
    assert!(
        ["boot", "sweater", "trousers", "shirt", "coat"].contains(&answer),
        "{a}"
    );

    // SIGTERM with another question in flight (other images, so that the server's cached
    // prompt does not answer it at once): it is answered, then the service exits 0.
    let before = cpu_ticks(llm.pid());
    let answer = post(&url, &question(dir.path(), 10));
    wait_until_busy(&llm, before, 20);
    assert!(answer.try_recv().is_err(), "answered before SIGTERM");
    let out = server.stop();
    let (s, a) = answer.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(s, 200, "{a}");
    assert!(a["answer"].is_string(), "{a}");
    assert!(out.contains("stopped after"), "{out}");
}

/// A client that sends its headers and then only part of a 100 kB body (smaller ones tiny_http
/// reads before handing the request over) holds the only worker for
/// `--max-read-s` at most: the next request is answered, and the slow client gets 408 once its
/// body is complete. A 1 KB JPEG declaring 61 million pixels (found by the `image` fuzzer) is
/// refused from its header by the service's pixel budget.
#[test]
fn a_body_that_does_not_arrive_holds_no_worker() {
    use std::io::{Read, Write};
    let server = Server::start(&["--workers", "1", "--max-read-s", "1"]);
    let bomb =
        std::fs::read(common::repo().join("crates/spae/tests/fixtures/images/declares-61mpx.jpg"))
            .unwrap();
    let (s, _, body) = call(
        "POST",
        &format!("{}/v1/encode", server.url),
        "image/jpeg",
        &bomb,
    );
    let m = json(&body)["error"]["message"].to_string();
    assert!(
        s == 422 && m.contains("10792 x 5656 pixels is outside 1 .. 16777216"),
        "{s} {m}"
    );
    let mut slow = std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    slow.write_all(
        b"POST /v1/encode HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\
          Content-Length: 100000\r\n\r\n0123456789",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let (s, _, _) = call("GET", &format!("{}/healthz", server.url), "", b"");
    assert_eq!(s, 200);
    // It waited for the slow request's second to run out, not longer.
    let waited = t.elapsed();
    assert!(
        waited > Duration::from_millis(500) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    slow.write_all(&[0u8; 99_990]).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 12];
    slow.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 408");
    let out = server.stop();
    assert!(out.contains("stopped after 3 requests"), "{out}");
}
