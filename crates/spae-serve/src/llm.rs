//! The frozen LLM behind `POST /v1/fewshot`: one thread owns the model and one backend session
//! (llama.cpp embedded, or an OpenAI-compatible server), so its cached prompt prefix is reused
//! from one request to the next; requests reach it through a channel and are answered in turn.

use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

use spae_icl::fewshot::{Prompter, CLASSIFY_STEM};
use spae_llm::backend::Backend;
use spae_llm::spec::BackendSpec;
use spae_llm::Llm;

use crate::{ApiError, ServeError};

/// One few-shot question: labelled support images' words, and the query's.
#[derive(Debug, Clone)]
pub struct FewshotAsk {
    pub class_names: Vec<String>,
    /// Each support image's words (LLM ids) and its class (an index of `class_names`).
    pub support: Vec<(Vec<u32>, u32)>,
    pub query: Vec<u32>,
    /// Open the prompt with "Answer with a or b."
    pub induction: bool,
}

/// The LLM's answer, constrained to the class names.
#[derive(Debug, Clone)]
pub struct FewshotAnswer {
    /// An index of the question's `class_names`.
    pub class: usize,
    /// The prompt as text (image words included).
    pub prompt: String,
    pub prompt_tokens: usize,
}

type Job = (FewshotAsk, Sender<Result<FewshotAnswer, ApiError>>);

/// A running LLM thread.
pub struct LlmWorker {
    tx: Mutex<Sender<Job>>,
    /// The model's file name (reported by `/v1/models`).
    pub name: String,
}

/// Tokens an answer may take (the longest class name and its full stop fit in far fewer).
const MAX_ANSWER_TOKENS: usize = 16;

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
            for (ask, reply) in rx {
                let _ = reply.send(answer(&llm, backend.as_mut(), &ask));
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
    pub fn ask(&self, ask: FewshotAsk) -> Result<FewshotAnswer, ApiError> {
        let gone = || ApiError::new(500, "llm_failed", "the LLM thread has stopped");
        let (reply_tx, reply_rx) = channel();
        self.tx
            .lock()
            .map_err(|_| gone())?
            .send((ask, reply_tx))
            .map_err(|_| gone())?;
        reply_rx.recv().map_err(|_| gone())?
    }
}

/// The prompt Table 1 uses ([`Prompter`]: induction, "Input:{words} output: This is a
/// {class}." per support image, then the query), answered constrained to the class names.
fn answer(
    llm: &Llm,
    backend: &mut dyn Backend,
    ask: &FewshotAsk,
) -> Result<FewshotAnswer, ApiError> {
    let prompter = Prompter {
        llm,
        class_names: &ask.class_names,
        stem: CLASSIFY_STEM,
    };
    let classes: Vec<u32> = (0..ask.class_names.len() as u32).collect();
    let mut prompt = match ask.induction {
        true => prompter.induction(&classes),
        false => Vec::new(),
    };
    for (words, class) in &ask.support {
        prompt.extend(prompter.example(words, *class));
    }
    prompt.extend(prompter.query(&ask.query));
    if prompt.len() + MAX_ANSWER_TOKENS > backend.n_ctx() {
        return Err(ApiError::unprocessable(
            "prompt_too_long",
            format!(
                "the prompt has {} tokens; with its answer it does not fit the LLM's context of {} \
                 (fewer support images or layers)",
                prompt.len(),
                backend.n_ctx()
            ),
        ));
    }
    let failed = |e: spae_llm::LlmError| ApiError::new(500, "llm_failed", e.to_string());
    let choices = prompter
        .choices(&classes)
        .map_err(|e| ApiError::unprocessable("bad_labels", e.to_string()))?;
    let g = backend
        .generate(&prompt, MAX_ANSWER_TOKENS, Some(&choices), &|_| false)
        .map_err(failed)?;
    let class = choices
        .complete(&g.ids)
        .ok_or_else(|| ApiError::new(500, "llm_failed", "the answer completed no class name"))?;
    Ok(FewshotAnswer {
        class,
        prompt: llm.detokenize(&prompt),
        prompt_tokens: prompt.len(),
    })
}
