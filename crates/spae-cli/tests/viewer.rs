//! The pyramid viewer in a real headless browser (Debian's Chromium driven over WebDriver by
//! chromedriver, both installed by scripts/install-deps.sh): the page `spae serve` hosts loads,
//! an uploaded photo's and emoji's words are `spae encode`'s, every decodable depth is shown, hovering a word
//! finds its nearest words, editing one decodes the image again, and a screenshot of the page
//! (kept as target/tmp/viewer.png) is not blank.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::repo;
use serde_json::{json, Value};

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session on a chromedriver process.
struct Browser {
    base: String,
    agent: ureq::Agent,
    _driver: Proc,
}

impl Browser {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian chromium-driver, scripts/install-deps.sh)");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("http://127.0.0.1:{port}");
        let t = Instant::now();
        while agent.get(&format!("{url}/status")).call().is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-background-networking",
                         "--disable-gpu", "--window-size=1400,1150"]
            }
        }}});
        let mut b = Browser {
            base: url,
            agent,
            _driver: Proc(driver),
        };
        let session = b.send("POST", "/session", caps);
        let id = session["sessionId"].as_str().unwrap().to_string();
        b.base = format!("{}/session/{id}", b.base);
        b
    }

    /// A WebDriver command; its `value`.
    fn send(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let resp = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self.agent.post(&url).send_json(&body),
        };
        let mut resp = resp.unwrap();
        let status = resp.status().as_u16();
        let v: Value = resp.body_mut().read_json().unwrap();
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn script(&self, js: &str) -> Value {
        self.send("POST", "/execute/sync", json!({"script": js, "args": []}))
    }

    /// Waits until the script returns true.
    fn wait_for(&self, js: &str, what: &str) {
        let t = Instant::now();
        while self.script(js) != json!(true) {
            let status = self.script("return document.querySelector('#status').textContent");
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "waited 60 s for {what}; status: {status}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Picks `image` in the page's file input.
fn upload(b: &Browser, image: &Path) {
    let input = b.send(
        "POST",
        "/element",
        json!({"using": "css selector", "value": "#file"}),
    );
    let element = input.as_object().unwrap().values().next().unwrap();
    b.send(
        "POST",
        &format!("/element/{}/value", element.as_str().unwrap()),
        json!({"text": image.canonicalize().unwrap().to_string_lossy()}),
    );
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
    }
}

#[test]
fn the_viewer_shows_the_words_spae_encode_writes() {
    let photo = repo().join("crates/spae/tests/fixtures/images/chelsea.webp");
    let model = "models/emoji-64-semantic";
    let server = common::Server::start(&[
        "--model",
        &format!("emoji={model}"),
        "--model",
        "models/fashion-mnist-semantic",
    ]);
    let url = server.url.clone();

    let b = Browser::start();
    b.send("POST", "/url", json!({"url": format!("{url}/")}));
    b.wait_for(
        "return document.querySelector('#status').textContent.startsWith('ready')",
        "the models",
    );
    // A photo (lossy WebP, 451x300) and then an emoji (RGBA PNG): the page's words, as data and as
    // drawn cells, are the command line's.
    let emoji = common::assets_root().join("data/emoji/img/google/64/1f431.png");
    for image in [&photo, &emoji] {
        upload(&b, image);
        let name = image.file_name().unwrap().to_string_lossy();
        b.wait_for(
            &format!(
                "return document.querySelector('#status').textContent.startsWith('encoded {name}')"
            ),
            "the words",
        );
        let cli = common::ok_in_repo(&[
            "encode",
            image.to_str().unwrap(),
            "--checkpoint",
            &repo().join(model).to_string_lossy(),
            "--json",
        ]);
        let cli: Value = serde_json::from_str(&cli).unwrap();
        let want: Vec<Vec<String>> = cli[0]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_value(l["words"].clone()).unwrap())
            .collect();
        let page: Vec<Vec<String>> = serde_json::from_value(
            b.script("return window.spae.encoding.layers.map((l) => l.words)"),
        )
        .unwrap();
        assert_eq!(page, want, "{name}");
        let cells: Vec<String> = serde_json::from_value(b.script(
            "return [...document.querySelectorAll('#pyramid .word')].map((c) => c.textContent)",
        ))
        .unwrap();
        let flat: Vec<String> = want
            .iter()
            .flatten()
            .map(|w| w.trim().to_string())
            .collect();
        assert_eq!(cells, flat, "{name}");
    }
    // One reconstruction per decodable depth, every one loaded.
    let depths = b.script("return document.querySelectorAll('#recons figure.recon img').length");
    assert!(depths.as_u64().unwrap() >= 1, "{depths}");
    b.wait_for(
        "return [...document.querySelectorAll('#recons img')].every((i) => i.complete && i.naturalWidth > 0)",
        "the reconstructions",
    );

    // Hover the top word: its nearest words; replace it with the nearest: decoded again.
    b.script("showWord(0, 0)");
    b.wait_for(
        "return /nearest words: \\S+ \\(/.test(document.querySelector('#info').textContent)",
        "the nearest words",
    );
    b.script(
        "const k = document.querySelector('#model').value + '|' + spae.edited.layers[0].words[0]; \
         applyEdit(0, 0, spae.nearest.get(k)[0].word)",
    );
    b.wait_for(
        "return document.querySelectorAll('#edits canvas').length === 1",
        "the edited image",
    );
    assert_eq!(
        b.script("return document.querySelectorAll('#pyramid .word.edited').length"),
        json!(1)
    );

    // A screenshot that is not blank: many colours, not one flat tone.
    let shot = b.send("GET", "/screenshot", Value::Null);
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap())
        .unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer.png");
    std::fs::write(&out, &png).unwrap();
    let img = spae::data::decode_png(&png, &out).unwrap();
    assert!(
        img.width >= 1000 && img.height >= 800,
        "{}x{}",
        img.width,
        img.height
    );
    let rgb = img.rgb();
    let mut colours: Vec<[u8; 3]> = rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    let mean = rgb.iter().map(|&v| f64::from(v)).sum::<f64>() / rgb.len() as f64;
    let var = rgb
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / rgb.len() as f64;
    assert!(
        colours.len() > 500 && var.sqrt() > 20.0,
        "{} colours, std {:.1}: {}",
        colours.len(),
        var.sqrt(),
        out.display()
    );
}
