//! One few-shot question outside an evaluation: labelled support images' words and a query's,
//! in Table 1's prompt ([`Prompter`]), answered by the frozen LLM constrained to the labels. What
//! the HTTP service's `/v1/fewshot` and the Python package's `spae.fewshot` ask.

use spae_llm::backend::Backend;
use spae_llm::{Llm, LlmError};

use super::{Prompter, CLASSIFY_STEM};

/// Labelled support images' words and the query's.
#[derive(Debug, Clone)]
pub struct Question {
    pub class_names: Vec<String>,
    /// Each support image's words (LLM ids) and its class (an index of `class_names`).
    pub support: Vec<(Vec<u32>, u32)>,
    pub query: Vec<u32>,
    /// Open the prompt with "Answer with a or b."
    pub induction: bool,
}

/// The LLM's answer among the class names.
#[derive(Debug, Clone)]
pub struct Answer {
    /// An index of the question's `class_names`.
    pub class: usize,
    /// The prompt as text (image words included).
    pub prompt: String,
    pub prompt_tokens: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum QuestionError {
    #[error("{0} labels: a question needs at least 2")]
    TooFewClasses(usize),
    #[error("support image {index}: class {class} of {classes}")]
    BadClass {
        index: usize,
        class: u32,
        classes: usize,
    },
    #[error(
        "the prompt has {tokens} tokens; with its answer it does not fit the LLM's context of \
         {n_ctx} (fewer support images or layers)"
    )]
    TooLong { tokens: usize, n_ctx: usize },
    #[error("the labels cannot be told apart as answers: {0}")]
    Labels(LlmError),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("the answer completed no class name")]
    NoClass,
}

/// Tokens an answer may take (the longest class name and its full stop fit in far fewer).
pub const MAX_ANSWER_TOKENS: usize = 16;

/// Asks `question` of the LLM behind `backend` (greedy, constrained to " {class}.").
pub fn ask(
    llm: &Llm,
    backend: &mut dyn Backend,
    question: &Question,
) -> Result<Answer, QuestionError> {
    let n = question.class_names.len();
    if n < 2 {
        return Err(QuestionError::TooFewClasses(n));
    }
    if let Some((index, (_, class))) =
        (question.support.iter().enumerate()).find(|(_, (_, c))| *c as usize >= n)
    {
        return Err(QuestionError::BadClass {
            index,
            class: *class,
            classes: n,
        });
    }
    let prompter = Prompter {
        llm,
        class_names: &question.class_names,
        stem: CLASSIFY_STEM,
    };
    let classes: Vec<u32> = (0..n as u32).collect();
    let mut prompt = prompter.support_prefix(
        question.induction,
        &classes,
        (question.support.iter()).map(|(words, class)| (words.as_slice(), *class)),
    );
    prompt.extend(prompter.query(&question.query));
    if prompt.len() + MAX_ANSWER_TOKENS > backend.n_ctx() {
        return Err(QuestionError::TooLong {
            tokens: prompt.len(),
            n_ctx: backend.n_ctx(),
        });
    }
    let choices = prompter.choices(&classes).map_err(QuestionError::Labels)?;
    let g = backend.generate(&prompt, MAX_ANSWER_TOKENS, Some(&choices), &|_| false)?;
    let class = choices.complete(&g.ids).ok_or(QuestionError::NoClass)?;
    Ok(Answer {
        class,
        prompt: llm.detokenize(&prompt),
        prompt_tokens: prompt.len(),
    })
}
