//! Helpers shared by the command-line tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (where released models and `assets/` are).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn assets_root() -> PathBuf {
    spae::assets::Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets")).root
}

/// `spae ARGS` with the test assets.
pub fn spae(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spae"));
    c.args(args).env("SPAE_ASSETS", assets_root());
    c
}

/// Runs `spae ARGS`, which must succeed; returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = spae(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`ok`] run from the repository root, as a user runs it: relative paths a released model names
/// (its codebook in `assets/`) resolve there, not in this crate's folder.
pub fn ok_in_repo(args: &[&str]) -> String {
    let out = spae(args).current_dir(repo()).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `spae serve --addr 127.0.0.1:0 ARGS` (from the repository root) and its base URL,
/// read from the line it prints on start; killed when dropped.
pub struct Server {
    child: std::process::Child,
    pub url: String,
}

impl Server {
    pub fn start(args: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = spae(&[&["serve", "--addr", "127.0.0.1:0"][..], args].concat())
            .current_dir(repo())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Self { child, url }
    }

    /// SIGTERM; the process must exit 0. Returns what it printed after its first line.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        let mut rest = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut rest).unwrap();
        rest
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `spae ARGS`, which must fail cleanly with one error line; returns it.
pub fn fails(args: &[&str]) -> String {
    let out = spae(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "{args:?}: expected one line, got {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    err
}

/// A small training configuration: tiny model, batch 4, `steps` steps, checkpoints every 5, the
/// GAN (with LeCAM) from step 8, LPIPS, sample grids every 10 steps.
pub fn tiny_config(dir: &Path, codebook: &str, steps: usize) -> String {
    let text = format!(
        r#"codebook = "{codebook}"
pyramid = [1, 2, 4, 8, 8]
[model]
base_channels = 8
latent_dim = 576
[discriminator]
base_channels = 8
[loss]
lr = 0.001
warmup_steps = 5
cooldown_steps = 5
gan = 0.1
gan_start = 8
perceptual = 0.1
[loop]
batch_size = 4
steps = {steps}
checkpoint_every = 5
seed = 3
sample_every = 10
"#
    );
    let p = dir.join("tiny.toml");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// Builds the SmolLM2 codebook into `dir/cb` and returns its path.
pub fn codebook(dir: &Path) -> String {
    let cb = dir.join("cb").to_string_lossy().into_owned();
    ok(&["codebook", "build", "--out", &cb]);
    cb
}

/// The first `k` words of the SmolLM2 codebook ([`codebook`]) saved in `dir/cb-small`: guided
/// runs compute every word's text features, which is slow for all 31,534.
pub fn small_codebook(dir: &Path, k: usize) -> String {
    let full = spae::codebook::Codebook::load(Path::new(&codebook(dir))).unwrap();
    let small = spae::codebook::Codebook {
        words: full.words[..k].to_vec(),
        embeddings: full.embeddings[..k * full.dim].to_vec(),
        ..full
    };
    let cb_dir = dir.join("cb-small");
    small.save(&cb_dir).unwrap();
    cb_dir.to_string_lossy().into_owned()
}

/// Test image `i` of Fashion-MNIST (28x28 gray bytes), read from the installed IDX file.
pub fn fashion_mnist_test_image(i: usize) -> Vec<u8> {
    let gz =
        std::fs::read(assets_root().join("data/fashion-mnist/t10k-images-idx3-ubyte.gz")).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
    raw[16 + i * 784..16 + (i + 1) * 784].to_vec()
}

/// Writes an 8-bit grayscale PNG (an independent minimal encoder: zlib + CRC from flate2).
pub fn write_gray_png(path: &Path, w: u32, h: u32, pixels: &[u8]) {
    use std::io::Write;
    let chunk = |out: &mut Vec<u8>, ty: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(ty);
        crc.update(data);
        out.extend(ty);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    for row in pixels.chunks(w as usize) {
        z.write_all(&[0]).unwrap();
        z.write_all(row).unwrap();
    }
    let idat = z.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    std::fs::write(path, out).unwrap();
}

/// `(step, value of key)` for every line of a run's `metrics.jsonl`.
pub fn metric_steps(run: &Path, key: &str) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["step"].as_u64().unwrap(), v[key].as_f64().unwrap())
        })
        .collect()
}

/// The step of a run's `LATEST` checkpoint, if any.
pub fn latest_step(run: &Path) -> Option<u64> {
    let name = std::fs::read_to_string(run.join("LATEST")).ok()?;
    name.trim().strip_prefix("step-")?.parse().ok()
}

/// Two runs' per-step metrics agree: the same steps, each value within 1e-4 relative (the same
/// batches, weights and optimizer state give the same losses).
pub fn assert_same_metrics(reference: &[(u64, f64)], run: &[(u64, f64)]) {
    assert_eq!(
        run.iter().map(|s| s.0).collect::<Vec<_>>(),
        reference.iter().map(|s| s.0).collect::<Vec<_>>(),
        "each step's metrics once"
    );
    for ((s, a), (_, b)) in reference.iter().zip(run) {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs().max(1e-3),
            "step {s}: {a} (reference) vs {b}"
        );
    }
}

/// Lines (newlines) in the file at `path`; 0 when there is none.
pub fn lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// Starts `cmd`, SIGKILLs it once the run journal at `journal` holds `kill_at` lines (header
/// included) and returns the lines it had; the run must not end before.
pub fn kill_when(cmd: Command, journal: &Path, kill_at: usize) -> usize {
    kill_once(cmd, || lines(journal) >= kill_at);
    lines(journal)
}

/// Starts `cmd` and SIGKILLs it once `ready()` holds; the run must not end before.
pub fn kill_once(mut cmd: Command, ready: impl Fn() -> bool) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{cmd:?} ended before it was to be killed"
        );
        assert!(t.elapsed() < Duration::from_secs(600), "{cmd:?} stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A tiny video configuration: 4-frame 16x16 clips (digits on a 32x32 canvas), latent 2 x 4 x 4.
pub fn tiny_video_config(dir: &std::path::Path, cb: &str, extra: &str) -> String {
    let text = format!(
        r#"codebook = "{cb}"
pyramid = [[1, 1, 1], [1, 2, 2], [2, 4, 4]]
[data]
clips = 16
canvas = 32
[model]
frames = 4
image_size = 16
base_channels = 8
channel_mult = [1, 2, 2]
temporal_down = [true, false]
latent_dim = 576
[loss]
lr = 0.002
warmup_steps = 2
cooldown_steps = 2
{extra}
[loop]
batch_size = 2
steps = 12
checkpoint_every = 4
sample_every = 12
"#
    );
    let path = dir.join("video.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}
