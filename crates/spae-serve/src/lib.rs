//! SPAE over HTTP (`spae serve`): several tokenizers loaded by name, each request answered by a
//! bounded pool of worker threads, limits on body size, queueing time and image size, every bad
//! request a 4xx JSON error naming the problem, and a graceful stop on SIGINT / SIGTERM (no new
//! connections; queued and running requests are answered first).
//!
//! Endpoints ([`routes`]): `GET /healthz`, `GET /v1/models`, `POST /v1/encode` (an image as the
//! body or a multipart form -> its token pyramid as JSON), `POST /v1/decode` (tokens -> PNG),
//! `POST /v1/nearest` (a word's nearest codebook words), `POST /v1/fewshot` (labelled images and
//! a query -> the frozen LLM's answer; [`LlmWorker`]).

mod error;
pub mod llm;
pub mod multipart;
pub mod request;
pub mod routes;
mod tasks;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spae::tokenizer::ImageTokenizer;

pub use error::ApiError;
pub use llm::LlmWorker;
pub use routes::{ApiRequest, ApiResponse};

/// A tokenizer served under a name.
pub struct Model {
    /// The name requests give (`?model=NAME`).
    pub name: String,
    /// Where it was loaded from (reported by `/v1/models`).
    pub source: String,
    pub tokenizer: ImageTokenizer,
}

/// How much the server takes on.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Worker threads answering requests.
    pub workers: usize,
    /// Requests waiting for a worker; more are answered 503 at once.
    pub queue: usize,
    /// Largest request body (bytes); larger ones are answered 413 without being read.
    pub max_body_bytes: usize,
    /// Longest a request may wait for a worker; it is answered 503 after that.
    pub max_wait: Duration,
    /// Most pixels an uploaded image may declare (422 beyond, from its header): a small file can
    /// claim tens of millions.
    pub max_image_pixels: u64,
    /// Longest a request's body may take to arrive once a worker reads it: the worker then
    /// moves on, and the client gets 408 when (if ever) its body is complete.
    pub max_read: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            workers: 2,
            queue: 64,
            max_body_bytes: 16 << 20,
            max_image_pixels: 4096 * 4096,
            max_wait: Duration::from_secs(30),
            max_read: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no model to serve")]
    NoModels,
    #[error("two models are named '{0}'")]
    DuplicateName(String),
    #[error("limits: {0}")]
    Limits(String),
    #[error("cannot listen on {addr}: {message}")]
    Bind { addr: String, message: String },
    #[error("cannot watch for SIGINT / SIGTERM: {0}")]
    Signals(std::io::Error),
    #[error("the LLM: {0}")]
    Llm(String),
}

/// The models and limits of one server.
pub struct Service {
    models: Vec<Model>,
    limits: Limits,
    /// Answers `/v1/fewshot` when given.
    llm: Option<LlmWorker>,
}

/// What a finished server did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    pub requests: u64,
    /// Requests answered 503 because the queue was full or they waited too long.
    pub refused_busy: u64,
}

impl Service {
    pub fn new(models: Vec<Model>, limits: Limits) -> Result<Self, ServeError> {
        if models.is_empty() {
            return Err(ServeError::NoModels);
        }
        for (i, m) in models.iter().enumerate() {
            if models[..i].iter().any(|o| o.name == m.name) {
                return Err(ServeError::DuplicateName(m.name.clone()));
            }
        }
        if limits.workers == 0
            || limits.queue == 0
            || limits.max_body_bytes == 0
            || limits.max_image_pixels == 0
        {
            return Err(ServeError::Limits(
                "workers, queue, body size and image pixels must be at least 1".into(),
            ));
        }
        Ok(Self {
            models,
            limits,
            llm: None,
        })
    }

    /// Answers `/v1/fewshot` with this LLM.
    pub fn with_llm(mut self, llm: LlmWorker) -> Self {
        self.llm = Some(llm);
        self
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// Listens on `addr` (`127.0.0.1:0` picks a free port: see [`Listener::addr`]).
    pub fn bind(self, addr: &str) -> Result<Listener, ServeError> {
        let server = tiny_http::Server::http(addr).map_err(|e| ServeError::Bind {
            addr: addr.into(),
            message: e.to_string(),
        })?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| ServeError::Bind {
                addr: addr.into(),
                message: "not an IP address".into(),
            })?;
        Ok(Listener {
            service: Arc::new(self),
            server,
            addr: local,
        })
    }
}

/// A bound server, not yet answering.
pub struct Listener {
    service: Arc<Service>,
    server: tiny_http::Server,
    addr: SocketAddr,
}

/// A flag that turns true on SIGINT or SIGTERM: how [`Listener::serve`] is stopped from outside.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>, ServeError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(ServeError::Signals)?;
    }
    Ok(stop)
}

type Job = (Instant, tiny_http::Request);

impl Listener {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers requests until `stop` turns true, then stops accepting, answers what is queued
    /// and returns.
    pub fn serve(self, stop: &AtomicBool) -> Served {
        let limits = self.service.limits.clone();
        let (tx, rx) = sync_channel::<Job>(limits.queue);
        let rx = Arc::new(Mutex::new(rx));
        let served = Arc::new(Mutex::new(Served::default()));
        let workers: Vec<_> = (0..limits.workers)
            .map(|_| {
                let (rx, service, served) = (rx.clone(), self.service.clone(), served.clone());
                std::thread::spawn(move || loop {
                    let job = rx.lock().map(|r| r.recv());
                    let Ok(Ok((queued, request))) = job else {
                        break;
                    };
                    let busy = answer(&service, queued, request);
                    if let Ok(mut s) = served.lock() {
                        s.requests += 1;
                        s.refused_busy += u64::from(busy);
                    }
                })
            })
            .collect();
        while !stop.load(Ordering::Relaxed) {
            let request = match self.server.recv_timeout(Duration::from_millis(100)) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    continue;
                }
            };
            if let Err(
                TrySendError::Full((_, request)) | TrySendError::Disconnected((_, request)),
            ) = tx.try_send((Instant::now(), request))
            {
                let e = ApiError::new(
                    503,
                    "busy",
                    format!("{} requests are waiting already; try again", limits.queue),
                );
                respond(request, &ApiResponse::error(&e));
                if let Ok(mut s) = served.lock() {
                    s.requests += 1;
                    s.refused_busy += 1;
                }
            }
        }
        drop(tx);
        for w in workers {
            let _ = w.join();
        }
        let s = served.lock().map(|s| s.clone()).unwrap_or_default();
        s
    }
}

/// Reads and answers one request; true when it was refused for waiting too long.
fn answer(service: &Service, queued: Instant, request: tiny_http::Request) -> bool {
    let started = Instant::now();
    let limits = &service.limits;
    let (method, url) = (
        request.method().as_str().to_string(),
        request.url().to_string(),
    );
    let waited = queued.elapsed();
    let (request, response) = if waited > limits.max_wait {
        let e = ApiError::new(
            503,
            "busy",
            format!(
                "waited {:.1} s for a worker, over the limit of {:.1} s; try again",
                waited.as_secs_f64(),
                limits.max_wait.as_secs_f64()
            ),
        );
        (request, ApiResponse::error(&e))
    } else {
        match read_within(request, limits.max_body_bytes, limits.max_read) {
            Some((request, Ok(req))) => (request, service.handle(&req)),
            Some((request, Err(e))) => (request, ApiResponse::error(&e)),
            None => {
                tracing::info!("{method} {url}: its body did not arrive in time (408)");
                return false;
            }
        }
    };
    let busy = response.status == 503;
    tracing::info!(
        "{method} {url} -> {} in {:.1} ms",
        response.status,
        started.elapsed().as_secs_f64() * 1e3
    );
    respond(request, &response);
    busy
}

/// [`read_request`] on a thread of its own, waited for at most `limit` (a client sending its
/// body slowly, or never, must not hold a worker): the request and what was read, or `None`
/// when the time ran out. The reading thread then answers 408 itself once the body is complete
/// or the client has gone.
fn read_within(
    mut request: tiny_http::Request,
    max_body: usize,
    limit: Duration,
) -> Option<(tiny_http::Request, Result<ApiRequest, ApiError>)> {
    // A rendezvous: the reader hands its result over only to a worker still waiting for it, and
    // gets it back otherwise (no answer is lost between a timeout and the hand-over).
    let (tx, rx) = sync_channel(0);
    std::thread::spawn(move || {
        let read = read_request(&mut request, max_body);
        if let Err(std::sync::mpsc::SendError((request, _))) = tx.send((request, read)) {
            let e = ApiError::new(
                408,
                "body_timeout",
                format!("the body took over {:.1} s to arrive", limit.as_secs_f64()),
            );
            respond(request, &ApiResponse::error(&e));
        }
    });
    rx.recv_timeout(limit).ok()
}

/// The request's parts, its body read up to `max_body` bytes (413 beyond).
fn read_request(r: &mut tiny_http::Request, max_body: usize) -> Result<ApiRequest, ApiError> {
    let too_large = || {
        ApiError::new(
            413,
            "body_too_large",
            format!("the body is over the limit of {max_body} bytes"),
        )
    };
    if r.body_length().is_some_and(|n| n > max_body) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    r.as_reader()
        .take(max_body as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
    if body.len() > max_body {
        return Err(too_large());
    }
    let (path, query) = r.url().split_once('?').unwrap_or((r.url(), ""));
    let content_type = r
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_string());
    Ok(ApiRequest {
        method: r.method().as_str().to_string(),
        path: path.to_string(),
        query: query.to_string(),
        content_type,
        body,
    })
}

fn respond(request: tiny_http::Request, r: &ApiResponse) {
    let mut response = tiny_http::Response::from_data(r.body.clone()).with_status_code(r.status);
    if let Ok(header) = tiny_http::Header::from_bytes("Content-Type", r.content_type) {
        response = response.with_header(header);
    }
    // A busy server says when to come back (RFC 9110, 10.2.3).
    if r.status == 503 {
        if let Ok(header) = tiny_http::Header::from_bytes("Retry-After", "1") {
            response = response.with_header(header);
        }
    }
    if let Err(e) = request.respond(response) {
        tracing::debug!("the client left before its answer: {e}");
    }
}
