//! The denoising protocol's prompt and one query's run, shared by image denoising
//! ([`super::Denoiser`]) and the video tasks ([`crate::video`]).

use spae::codebook::VocabTokenizer;
use spae::pyramid::PyramidLayout;
use spae_llm::backend::Backend;
use spae_llm::spelling::Spellings;
use spae_llm::Llm;

use super::{examples, DenoiseConfig};
use crate::error::TaskError;
use crate::progressive::{self, Example, Pass, WriteKey, Written};
use crate::resume::RunLog;

/// The fixed text of a denoising prompt in an LLM's tokens: each example and the query read
/// "input:{condition words} output:{target words}", examples separated by a newline.
struct Framing {
    before: Vec<u32>,
    after: Vec<u32>,
    separator: Vec<u32>,
}

impl Framing {
    fn new(llm: &Llm) -> Self {
        Framing {
            before: llm.tokenize("input:"),
            after: llm.tokenize(" output:"),
            separator: llm.tokenize("\n"),
        }
    }

    /// "input:{words} output:" for a condition's words.
    fn query(&self, words: &Spellings, ids: &[u32]) -> Result<Vec<u32>, TaskError> {
        Ok([&self.before[..], &words.spell(ids)?, &self.after].concat())
    }

    /// The context length that `examples` examples and one query need when conditions and
    /// targets have `total` words each and `passes` write the target.
    fn n_ctx(
        &self,
        words: &Spellings,
        total: usize,
        examples: usize,
        passes: &[Pass],
    ) -> Result<u32, TaskError> {
        let longest = vec![words.longest(); total];
        let query = self.query(words, &longest)?;
        let examples = vec![
            Example {
                condition: query.clone(),
                target: longest,
            };
            examples
        ];
        let ctx = progressive::Context {
            examples: &examples,
            total,
            words,
            separator: &self.separator,
        };
        let query = progressive::Query {
            item: String::new(),
            ids: query,
        };
        Ok(progressive::n_ctx(ctx, &[query], passes)?)
    }
}

/// One denoising configuration planned over a pyramid (image or video) for one LLM: the
/// examples of each query, its passes, and its prompt's fixed text.
pub struct Protocol<'a> {
    pub cfg: &'a DenoiseConfig,
    words: &'a Spellings,
    /// Token count of each written layer.
    sizes: Vec<usize>,
    /// The passes that write them.
    pub passes: Vec<Pass>,
    framing: Framing,
}

/// What one query wrote and the examples it was shown (the least corrupted last).
pub struct Wrote {
    pub words: Vec<u32>,
    pub examples: Vec<Example>,
}

impl<'a> Protocol<'a> {
    /// Plans `cfg` over `pyramid`; at least one example is needed.
    pub fn new(
        cfg: &'a DenoiseConfig,
        pyramid: &(impl PyramidLayout + ?Sized),
        llm: &Llm,
        words: &'a Spellings,
    ) -> Result<Self, TaskError> {
        if cfg.examples == 0 {
            return Err(TaskError::Data("denoising needs at least 1 example".into()));
        }
        let (sizes, passes) = cfg.plan.passes(pyramid)?;
        Ok(Protocol {
            cfg,
            words,
            sizes,
            passes,
            framing: Framing::new(llm),
        })
    }

    /// Pyramid layers written.
    pub fn depth(&self) -> usize {
        self.sizes.len()
    }

    /// Words written per query.
    pub fn total(&self) -> usize {
        self.sizes.iter().sum()
    }

    /// The context length the prompts need (the same for every query).
    pub fn n_ctx(&self) -> Result<u32, TaskError> {
        self.framing
            .n_ctx(self.words, self.total(), self.cfg.examples, &self.passes)
    }

    /// Query `index` (journalled as `item`): the examples pair the condition's words `cond` with
    /// `target` corrupted at falling rates (seeded by `seed + index`), and the LLM writes the
    /// target progressively; `tick` after every pass.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &self,
        backend: &mut dyn Backend,
        item: String,
        index: usize,
        cond: &[u32],
        target: &[u32],
        log: &mut dyn RunLog<WriteKey, Written>,
        tick: &mut dyn FnMut(),
    ) -> Result<Wrote, TaskError> {
        let cfg = self.cfg;
        let query = self.framing.query(self.words, cond)?;
        let examples = examples(
            &query,
            target,
            cfg.examples,
            (cfg.rate_from, cfg.rate_to),
            self.words.ids(),
            cfg.seed.wrapping_add(index as u64),
        )?;
        let ctx = progressive::Context {
            examples: &examples,
            total: self.total(),
            words: self.words,
            separator: &self.framing.separator,
        };
        let query = progressive::Query { item, ids: query };
        let mut out = progressive::decode(backend, ctx, &[query], &self.passes, log, tick)?;
        Ok(Wrote {
            words: out.pop().expect("one query, one output"),
            examples,
        })
    }
}

/// Share of the words of `written` equal to `targets` at the same position.
pub fn word_accuracy(written: &[Vec<u32>], targets: &[Vec<u32>]) -> f64 {
    let (mut right, mut all) = (0usize, 0usize);
    for (w, t) in written.iter().zip(targets) {
        right += w.iter().zip(t).filter(|(a, b)| a == b).count();
        all += t.len();
    }
    right as f64 / all.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_accuracy_by_hand() {
        let w = vec![vec![1, 2, 3], vec![4, 5, 6]];
        let t = vec![vec![1, 0, 3], vec![0, 0, 6]];
        assert!((word_accuracy(&w, &t) - 0.5).abs() < 1e-12);
        assert_eq!(word_accuracy(&[], &[]), 0.0);
    }
}
