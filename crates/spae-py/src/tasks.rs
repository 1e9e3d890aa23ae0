//! The frozen LLM from Python: one few-shot question ([`spae_icl::fewshot::question`]) and
//! progressive in-context decoding ([`spae_icl::progressive`], Eqs. 10-11), each on a fresh
//! llama.cpp session of the loaded model.

use std::path::PathBuf;

use pyo3::prelude::*;
use spae_icl::fewshot::question::{ask, Question};
use spae_icl::progressive::{self, Example, Plan, PlanKind, Query};
use spae_icl::resume::NoLog;
use spae_llm::session::{Session, SessionConfig};
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

use crate::{err, PyTokenizer};

/// A frozen GGUF LLM run by llama.cpp on the CPU.
#[pyclass(name = "Llm", module = "spae._spae", frozen)]
pub struct PyLlm {
    llm: Llm,
    threads: usize,
}

impl PyLlm {
    fn session(&self, n_ctx: u32) -> PyResult<Session<'_>> {
        Session::new(
            &self.llm,
            SessionConfig {
                n_ctx,
                threads: self.threads,
                ..SessionConfig::default()
            },
        )
        .map_err(err)
    }
}

#[pymethods]
impl PyLlm {
    /// Loads a GGUF model (`threads`: CPU threads, 0 for all cores).
    #[staticmethod]
    #[pyo3(signature = (path, threads = 0))]
    fn load(py: Python<'_>, path: PathBuf, threads: usize) -> PyResult<Self> {
        let llm = py.detach(|| Llm::load(&path)).map_err(err)?;
        Ok(Self { llm, threads })
    }

    /// LLM ids of a text.
    fn tokenize(&self, text: &str) -> Vec<u32> {
        use spae::codebook::VocabTokenizer;
        self.llm.tokenize(text)
    }

    /// Text of LLM ids.
    fn detokenize(&self, ids: Vec<u32>) -> String {
        self.llm.detokenize(&ids)
    }

    /// One few-shot question: support images' words with their classes (indices of
    /// `class_names`) and the query's words, in Table 1's prompt, answered constrained to the
    /// class names. Returns (class index, prompt text, prompt tokens).
    #[pyo3(signature = (tokenizer, class_names, support, query, induction = true, n_ctx = 4096))]
    #[allow(clippy::too_many_arguments)]
    fn _ask(
        &self,
        py: Python<'_>,
        tokenizer: &PyTokenizer,
        class_names: Vec<String>,
        support: Vec<(Vec<u32>, u32)>,
        query: Vec<u32>,
        induction: bool,
        n_ctx: u32,
    ) -> PyResult<(usize, String, usize)> {
        self.llm
            .check_codebook(tokenizer.tok.codebook())
            .map_err(err)?;
        py.detach(|| {
            let mut session = self.session(n_ctx)?;
            let q = Question {
                class_names,
                support,
                query,
                induction,
            };
            let a = ask(&self.llm, &mut session, &q).map_err(err)?;
            Ok((a.class, a.prompt, a.prompt_tokens))
        })
    }

    /// Progressive in-context decoding (Eqs. 10-11): after the examples (condition text and the
    /// words of their images, as `tokenizer.encode(...).ids(depth)`), the LLM writes each query
    /// condition's image words pass by pass (`plan`: paper, par, pnar or single; `stride` words
    /// per pass, 0 for a whole layer), every word constrained to the codebook. Returns the
    /// written ids per query, layers 1..=depth (default: the first decodable depth).
    #[pyo3(signature = (tokenizer, conditions, targets, queries, depth = None, plan = "paper", stride = 16))]
    #[allow(clippy::too_many_arguments)]
    fn _generate(
        &self,
        py: Python<'_>,
        tokenizer: &PyTokenizer,
        conditions: Vec<String>,
        targets: Vec<Vec<u32>>,
        queries: Vec<String>,
        depth: Option<usize>,
        plan: &str,
        stride: usize,
    ) -> PyResult<Vec<Vec<u32>>> {
        if conditions.len() != targets.len() || conditions.is_empty() {
            return Err(err(format!(
                "{} example conditions for {} example images (at least one of each)",
                conditions.len(),
                targets.len()
            )));
        }
        let kind: PlanKind = plan.parse().map_err(err)?;
        let tok = &tokenizer.tok;
        self.llm.check_codebook(tok.codebook()).map_err(err)?;
        py.detach(|| {
            let plan = Plan {
                depth,
                kind,
                stride,
            };
            let (sizes, passes) = plan.passes(tok.pyramid()).map_err(err)?;
            let words = Spellings::of_codebook(&self.llm, tok.codebook(), false).map_err(err)?;
            let examples: Vec<Example> = conditions
                .iter()
                .zip(targets)
                .map(|(c, target)| Example {
                    condition: self.tokenize(c),
                    target,
                })
                .collect();
            let queries: Vec<Query> = queries
                .iter()
                .enumerate()
                .map(|(i, q)| Query {
                    item: i.to_string(),
                    ids: self.tokenize(q),
                })
                .collect();
            let separator = self.tokenize("\n");
            let ctx = progressive::Context {
                examples: &examples,
                total: sizes.iter().sum(),
                words: &words,
                separator: &separator,
            };
            let n_ctx = progressive::n_ctx(ctx, &queries, &passes).map_err(err)?;
            let mut session = self.session(n_ctx)?;
            progressive::decode(&mut session, ctx, &queries, &passes, &mut NoLog, || {})
                .map_err(err)
        })
    }
}
