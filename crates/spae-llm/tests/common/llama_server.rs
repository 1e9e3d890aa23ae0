//! A real OpenAI-compatible server for the tests: llama-cpp-python's server (installed into
//! `assets/tools/llama-server` by scripts/install-llama-server.sh) serving a GGUF on loopback,
//! killed when dropped. Shared by this crate's HTTP tests and the service's fault test
//! (crates/spae-cli/tests/serve.rs includes this file by path).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running llama-cpp-python server.
pub struct LlamaServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its OpenAI-compatible base URL, `http://127.0.0.1:PORT/v1`.
    pub url: String,
}

impl LlamaServer {
    /// Starts the server on a free port with a context of `n_ctx` tokens and 2 threads; returns
    /// once it answers `GET /v1/models`.
    pub fn start(gguf: &Path, n_ctx: usize) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(gguf, n_ctx, port)
    }

    /// [`LlamaServer::start`] on a given port (to bring a killed server back where it was).
    pub fn start_on(gguf: &Path, n_ctx: usize, port: u16) -> Self {
        let site: PathBuf =
            spae::assets::Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
                .root()
                .join("tools/llama-server");
        assert!(
            site.join("llama_cpp/server").exists(),
            "no llama-cpp-python server at {}: run scripts/install-llama-server.sh",
            site.display()
        );
        let child = Command::new("python3")
            .args(["-m", "llama_cpp.server", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--model")
            .arg(gguf)
            .arg("--n_ctx")
            .arg(n_ctx.to_string())
            .args(["--n_threads", "2", "--n_threads_batch", "2"])
            .env("PYTHONPATH", &site)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let server = Self {
            child,
            port,
            url: format!("http://127.0.0.1:{port}/v1"),
        };
        let agent = ureq::Agent::new_with_defaults();
        let t = Instant::now();
        while agent.get(&format!("{}/models", server.url)).call().is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "the server at {} did not come up",
                server.url
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        server
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server at once (SIGKILL), as a crash would, and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
