//! `spae serve` as a real server process on loopback: the words and pixels it answers are
//! `spae encode`'s and `spae decode`'s, concurrent clients are all answered, every bad request
//! is a 4xx JSON error naming the problem, and SIGTERM stops it cleanly. `faults.rs`: a backing
//! LLM server killed mid-request, and a shutdown with a question in flight.

#[path = "../common/mod.rs"]
mod common;
mod faults;
#[path = "../../../spae-llm/tests/common/llama_server.rs"]
mod llama_server;

use std::path::{Path, PathBuf};

use common::{ok_in_repo, repo, Server};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    repo().join("crates/spae/tests/fixtures/images").join(name)
}

/// Fashion-MNIST test image `i` as a PNG file in `dir`, in base64 (as few-shot requests send it).
fn test_image_b64(dir: &Path, i: usize) -> String {
    use base64::Engine;
    let p = dir.join(format!("{i}.png"));
    common::write_gray_png(&p, 28, 28, &common::fashion_mnist_test_image(i));
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(&p).unwrap())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Status, content type and body of `method url` with `body` of `content_type`.
fn call(method: &str, url: &str, content_type: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let a = agent();
    let resp = match method {
        "GET" => a.get(url).call(),
        _ => a.post(url).header("Content-Type", content_type).send(body),
    };
    let mut resp = resp.unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let status = resp.status().as_u16();
    (status, ct, resp.body_mut().read_to_vec().unwrap())
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// The error answer of a bad request: its status and message.
fn refused(method: &str, url: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let (status, ct, body) = call(method, url, content_type, body);
    assert!((400..500).contains(&status), "{url}: {status}");
    assert_eq!(ct, "application/json");
    let e = json(&body);
    assert_eq!(e["error"]["status"], status);
    (status, e["error"]["message"].as_str().unwrap().to_string())
}

fn multipart(file: &[u8]) -> (String, Vec<u8>) {
    let mut body =
        b"--sPaE\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n".to_vec();
    body.extend(b"--sPaE\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n");
    body.extend(b"Content-Type: image/jpeg\r\n\r\n");
    body.extend(file);
    body.extend(b"\r\n--sPaE--\r\n");
    ("multipart/form-data; boundary=sPaE".into(), body)
}

#[test]
fn serves_the_words_and_pixels_of_the_command_line() {
    let fashion = "models/fashion-mnist-semantic";
    let emoji = "models/emoji-64-semantic";
    let server = Server::start(&[
        "--model",
        fashion,
        "--model",
        &format!("emoji={emoji}"),
        "--max-body-bytes",
        "200000",
    ]);
    let u = |p: &str| format!("{}{p}", server.url);

    let (s, _, body) = call("GET", &u("/healthz"), "", b"");
    assert_eq!((s, json(&body)["models"].as_u64()), (200, Some(2)));
    let (s, _, body) = call("GET", &u("/v1/models"), "", b"");
    let models = json(&body);
    assert_eq!(s, 200);
    assert_eq!(models["models"][0]["name"], "fashion-mnist-semantic");
    assert_eq!(
        models["models"][1]["canvas"],
        serde_json::json!([64, 64, 3])
    );

    // Encode: a raw JPEG body (default model) and a multipart form (named model) give the words
    // `spae encode --json` prints for the same files.
    let dir = tempfile::tempdir().unwrap();
    for (model, path, form) in [
        (fashion, fixture("coffee.jpg"), false),
        (emoji, fixture("chelsea.webp"), true),
    ] {
        let bytes = std::fs::read(&path).unwrap();
        let (ct, body) = match form {
            true => multipart(&bytes),
            false => ("image/jpeg".to_string(), bytes.clone()),
        };
        let url = match form {
            true => u("/v1/encode?model=emoji"),
            false => u("/v1/encode"),
        };
        let (s, ct_out, answer) = call("POST", &url, &ct, &body);
        assert_eq!(
            (s, ct_out.as_str()),
            (200, "application/json"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        let answer = json(&answer);
        let layers = answer["layers"].as_array().map_or(0, Vec::len);
        assert!(layers >= 4, "{answer}");
        let cli = ok_in_repo(&[
            "encode",
            path.to_str().unwrap(),
            "--checkpoint",
            &repo().join(model).to_string_lossy(),
            "--json",
        ]);
        assert_eq!(
            answer["layers"],
            json(cli.as_bytes())[0]["layers"],
            "{model}"
        );

        // Decode: the answer's layers back to the PNG `spae decode` writes.
        let (s, ct_out, png) = call(
            "POST",
            &u(&format!(
                "/v1/decode?model={}",
                if form {
                    "emoji"
                } else {
                    "fashion-mnist-semantic"
                }
            )),
            "application/json",
            &serde_json::to_vec(&answer).unwrap(),
        );
        assert_eq!((s, ct_out.as_str()), (200, "image/png"));
        let tokens = dir.path().join("t.json");
        std::fs::write(&tokens, &cli).unwrap();
        let out = dir.path().join("d.png");
        ok_in_repo(&[
            "decode",
            tokens.to_str().unwrap(),
            "--checkpoint",
            &repo().join(model).to_string_lossy(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(png, std::fs::read(&out).unwrap(), "{model}");
    }

    // Eight clients at once, three requests each: every one answered, the same words.
    let photo = std::fs::read(fixture("coffee.jpg")).unwrap();
    let (_, _, first) = call("POST", &u("/v1/encode"), "image/jpeg", &photo);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (url, photo) = (u("/v1/encode"), photo.clone());
            std::thread::spawn(move || {
                (0..3)
                    .map(|_| call("POST", &url, "image/jpeg", &photo))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for c in clients {
        for (s, _, body) in c.join().unwrap() {
            assert_eq!(s, 200);
            assert_eq!(json(&body)["layers"], json(&first)["layers"]);
        }
    }

    // Bad requests: a 4xx JSON error naming the problem, never a 500.
    let png = std::fs::read(common::assets_root().join("data/photos/chessboard_GRAY.png")).unwrap();
    for (method, path, ct, body, status, says) in [
        ("GET", "/v1/encode", "", &b""[..], 405, "takes POST"),
        ("GET", "/nope", "", b"", 404, "no endpoint /nope"),
        (
            "POST",
            "/v1/encode?model=zzz",
            "image/png",
            &png,
            404,
            "no model 'zzz'",
        ),
        (
            "POST",
            "/v1/encode?colour=red",
            "image/png",
            &png,
            400,
            "'colour'",
        ),
        ("POST", "/v1/encode", "image/png", b"", 400, "empty body"),
        (
            "POST",
            "/v1/encode",
            "image/gif",
            b"GIF89a....",
            422,
            "not a PNG, JPEG or WebP",
        ),
        (
            "POST",
            "/v1/encode",
            "image/jpeg",
            &photo[..photo.len() / 2],
            422,
            "JPEG",
        ),
        (
            "POST",
            "/v1/encode?resize=false",
            "image/jpeg",
            &photo,
            422,
            "resizing is off",
        ),
        (
            "POST",
            "/v1/encode",
            "multipart/form-data",
            b"x",
            400,
            "boundary",
        ),
        (
            "POST",
            "/v1/encode",
            "multipart/form-data; boundary=q",
            b"--q\r\nX: y\r\n\r\n1\r\n--q--",
            400,
            "no file part",
        ),
        (
            "POST",
            "/v1/decode",
            "application/json",
            b"{\"layers\": []}",
            422,
            "no layers",
        ),
        (
            "POST",
            "/v1/decode",
            "application/json",
            b"[{\"image\": 1}]",
            422,
            "bad token JSON",
        ),
        (
            "POST",
            "/v1/decode?depth=1",
            "application/json",
            &serde_json::to_vec(&json(&first)).unwrap(),
            422,
            "first decodable depth",
        ),
        (
            "POST",
            "/v1/decode",
            "application/json",
            &[0xff, 0xfe][..],
            400,
            "not UTF-8",
        ),
    ] {
        let (s, message) = refused(method, &u(path), ct, body);
        assert_eq!(s, status, "{path}: {message}");
        assert!(message.contains(says), "{path}: {message}");
    }
    // Nearest words of an answer's first word; an unknown word is named; no LLM, no few-shot.
    let word = json(&first)["layers"][0]["words"][0]
        .as_str()
        .unwrap()
        .to_string();
    let ask = serde_json::json!({"word": word, "k": 5}).to_string();
    let (s, _, body) = call(
        "POST",
        &u("/v1/nearest"),
        "application/json",
        ask.as_bytes(),
    );
    let near = json(&body);
    assert_eq!(s, 200, "{near}");
    assert_eq!(near["nearest"].as_array().unwrap().len(), 5);
    assert!(near["nearest"][0]["cosine"].as_f64().unwrap() > 0.0);
    let (s, m) = refused(
        "POST",
        &u("/v1/nearest"),
        "application/json",
        br#"{"word": " zzqqxy"}"#,
    );
    assert!(s == 422 && m.contains("zzqqxy"), "{m}");
    // A server without an LLM says so: 501 (the server's setting, not the request, is wrong).
    let (s, _, body) = call("POST", &u("/v1/fewshot"), "application/json", b"{}");
    let m = json(&body)["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(s == 501 && m.contains("--llm"), "{m}");

    // A body over the limit is refused without being read.
    let big = vec![0u8; 300_000];
    let (s, message) = refused("POST", &u("/v1/encode"), "image/png", &big);
    assert!(s == 413 && message.contains("200000 bytes"), "{message}");

    let out = server.stop();
    assert!(out.contains("stopped after"), "{out}");
}

#[test]
fn a_request_waiting_too_long_is_refused_as_busy() {
    let server = Server::start(&["--workers", "1", "--max-wait-s", "0.000001"]);
    let resp = agent()
        .get(&format!("{}/healthz", server.url))
        .call()
        .unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let (s, body) = (
        resp.status().as_u16(),
        resp.into_body().read_to_vec().unwrap(),
    );
    let message = json(&body)["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(s == 503 && message.contains("waited"), "{s} {message}");
    // A busy server says when to come back.
    assert_eq!(retry.as_deref(), Some("1"));
    let out = server.stop();
    assert!(out.contains("1 refused as busy"), "{out}");
}

#[test]
fn answers_a_fewshot_question_with_the_frozen_llm() {
    let server = Server::start(&[
        "--model",
        "models/fashion-mnist-open",
        "--fewshot",
        "--threads",
        "2",
    ]);
    let url = format!("{}/v1/fewshot", server.url);
    let dir = tempfile::tempdir().unwrap();
    // Fashion-MNIST test images 0 (ankle boot), 1 (pullover) and 2 (trouser) as PNG files.
    let b64 = |i: usize| test_image_b64(dir.path(), i);
    let ask = serde_json::json!({
        "support": [{"label": "boot", "image": b64(0)}, {"label": "sweater", "image": b64(1)}],
        "query": format!("data:image/png;base64,{}", b64(2)),
    });
    let (s, _, body) = call("POST", &url, "application/json", ask.to_string().as_bytes());
    let a = json(&body);
    assert_eq!(s, 200, "{a}");
    assert!(
        ["boot", "sweater"].contains(&a["answer"].as_str().unwrap()),
        "{a}"
    );
    let prompt = a["prompt"].as_str().unwrap();
    assert!(
        prompt.starts_with("Answer with boot or sweater.")
            && prompt.contains(" output: This is a boot."),
        "{prompt}"
    );
    // The same question twice: the same answer (the reused prefix changes nothing).
    let (_, _, again) = call("POST", &url, "application/json", ask.to_string().as_bytes());
    assert_eq!(json(&again)["answer"], a["answer"]);

    for (body, status, says) in [
        (
            serde_json::json!({"support": [{"label": "boot", "image": b64(0)}], "query": b64(2)}),
            422,
            "2 to 16",
        ),
        (
            serde_json::json!({"support": [], "query": b64(2)}),
            422,
            "support images",
        ),
        (
            serde_json::json!({"support": [{"label": "a", "image": "%%"}, {"label": "b", "image": b64(1)}], "query": b64(2)}),
            400,
            "support 0: not base64",
        ),
        (
            serde_json::json!({"support": [{"label": "a", "image": "aGk="}, {"label": "b", "image": b64(1)}], "query": b64(2)}),
            422,
            "support 0",
        ),
        (
            serde_json::json!({"support": [{"label": "a", "image": b64(0)}, {"label": "b", "image": b64(1)}], "query": b64(2), "layers": 9}),
            422,
            "layers=9",
        ),
        (
            serde_json::json!({"support": [], "query": "", "shots": 3}),
            400,
            "unknown field",
        ),
    ] {
        let (s, m) = refused(
            "POST",
            &url,
            "application/json",
            body.to_string().as_bytes(),
        );
        assert!(s == status && m.contains(says), "{s} {m}");
    }
    server.stop();
}
