//! SPAE's in-context tasks: a frozen LLM given an image tokenizer's words in its prompt.
//!
//! Each task stands on [`spae`] (the tokenizer: images to words and back) and [`spae_llm`] (a
//! [`Backend`](spae_llm::backend::Backend): llama.cpp or an OpenAI-compatible server):
//! [`fewshot`] (Table 1's N-way K-shot classification, with the [`baselines`] readers and
//! controls), [`caption`] (captions and VQA), [`progressive`] (progressive in-context decoding,
//! Eqs. 10-11), [`text2image`] (the generation prompts) and [`denoise`] (the degradations and
//! their in-context restoration), and [`video`] (frame prediction with a video tokenizer).

pub mod baselines;
pub mod caption;
pub mod denoise;
pub mod error;
pub mod fewshot;
pub mod progressive;
pub mod resume;
pub mod text2image;
pub mod video;

pub use error::TaskError;
