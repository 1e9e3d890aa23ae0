//! The frozen LLM behind `POST /v1/fewshot` ([`ask`]): one thread owns the model and one backend
//! session (llama.cpp embedded, or an OpenAI-compatible server), so its cached prompt prefix is
//! reused from one request to the next; requests reach it through a channel and are answered in
//! turn.

use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

use spae_icl::fewshot::question::{ask, Answer, Question, QuestionError};
use spae_llm::backend::Backend;
use spae_llm::spec::BackendSpec;
use spae_llm::{Llm, LlmError};

use crate::{ApiError, ServeError};

type Job = (Question, Sender<Result<Answer, ApiError>>);

/// A running LLM thread.
pub struct LlmWorker {
    tx: Mutex<Sender<Job>>,
    /// The model's file name (reported by `/v1/models`).
    pub name: String,
}

impl LlmWorker {
    /// Starts the thread: it opens `spec` on `llm` and answers until the worker is dropped.
    pub fn start(llm: Llm, spec: BackendSpec) -> Result<Self, ServeError> {
        let name = llm
            .path()
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let (tx, rx) = channel::<Job>();
        let (ready_tx, ready_rx) = channel::<Result<(), String>>();
        std::thread::spawn(move || {
            let mut backend = match spec.open(&llm) {
                Ok(b) => {
                    let _ = ready_tx.send(Ok(()));
                    b
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            for (question, reply) in rx {
                let _ = reply.send(answer(&llm, backend.as_mut(), &question));
            }
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                tx: Mutex::new(tx),
                name,
            }),
            Ok(Err(e)) => Err(ServeError::Llm(e)),
            Err(_) => Err(ServeError::Llm(
                "the LLM thread ended while starting".into(),
            )),
        }
    }

    /// Asks one question and waits for its answer.
    pub fn ask(&self, question: Question) -> Result<Answer, ApiError> {
        let gone = || ApiError::new(500, "llm_failed", "the LLM thread has stopped");
        let (reply_tx, reply_rx) = channel();
        self.tx
            .lock()
            .map_err(|_| gone())?
            .send((question, reply_tx))
            .map_err(|_| gone())?;
        reply_rx.recv().map_err(|_| gone())?
    }
}

/// One question's answer, its errors as answers: a prompt over the context or labels that cannot
/// be told apart are the request's fault (422); an OpenAI-compatible server behind this one that
/// fails or cannot be reached is a bad gateway (502, naming its URL); a failing LLM otherwise the
/// server's own fault (500).
fn answer(llm: &Llm, backend: &mut dyn Backend, q: &Question) -> Result<Answer, ApiError> {
    ask(llm, backend, q).map_err(|e| match e {
        QuestionError::Llm(LlmError::Http { .. }) => {
            ApiError::new(502, "llm_unavailable", e.to_string())
        }
        QuestionError::Llm(_) | QuestionError::NoClass => {
            ApiError::new(500, "llm_failed", e.to_string())
        }
        QuestionError::TooLong { .. } => ApiError::unprocessable("prompt_too_long", e.to_string()),
        _ => ApiError::unprocessable("bad_labels", e.to_string()),
    })
}
