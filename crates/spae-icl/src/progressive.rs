//! Progressive in-context decoding (Eqs. 10-11): the plan of which target tokens each LLM pass
//! writes and which earlier target tokens it sees.
//!
//! The target is a token pyramid, layer after layer. Each layer is cut into segments of `stride`
//! tokens; pass `t` writes segment `t` conditioned on the examples, the query condition, every
//! earlier layer and the previous `m` segments of its own layer: PAR (`m = t - 1`, all earlier
//! segments) or PNAR (`m = 0`, none; its segments are independent and can run in parallel).
//! Stride "all" writes a layer in one pass; [`single_pass`] writes the whole target at once (the
//! paper shows that fails).

use std::ops::Range;

use serde::{Deserialize, Serialize};
use spae::pyramid::PyramidLayout;

pub use crate::error::PlanError;
use crate::error::TaskError;
use crate::resume::RunLog;

use spae_llm::backend::Backend;
use spae_llm::spelling::Spellings;
use spae_llm::LlmError;

/// How many earlier segments of its own layer a pass sees (Eq. 11's `m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// PAR: all of them (`m = t - 1`).
    Par,
    /// PNAR: none (`m = 0`).
    Pnar,
    /// The last `m`.
    Last(usize),
}

/// How one pyramid layer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStep {
    /// Tokens per pass; `None`: the whole layer in one pass.
    pub stride: Option<usize>,
    pub window: Window,
}

/// One LLM pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pass {
    /// Pyramid layer written (0-based; the first layer of the target for a single pass).
    pub layer: usize,
    /// Target positions written, in order (exactly `writes.len()` tokens).
    pub writes: Range<usize>,
    /// Target positions in the prompt before them, in order (disjoint, increasing ranges).
    pub sees: Vec<Range<usize>>,
}

/// How the passes of a generation are planned (Eq. 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanKind {
    /// PAR for every layer but the last, PNAR for the last (the paper's recipe).
    #[default]
    Paper,
    /// PAR everywhere.
    Par,
    /// PNAR everywhere.
    Pnar,
    /// The whole target in one pass (stride infinity).
    Single,
}

impl std::str::FromStr for PlanKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paper" => Ok(Self::Paper),
            "par" => Ok(Self::Par),
            "pnar" => Ok(Self::Pnar),
            "single" => Ok(Self::Single),
            _ => Err(format!("unknown plan '{s}' (paper, par, pnar or single)")),
        }
    }
}

/// What the LLM writes and in which passes (Eq. 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Plan {
    /// Pyramid layers written (`None`: the first decodable depth).
    pub depth: Option<usize>,
    pub kind: PlanKind,
    /// Tokens per pass; 0: a whole layer per pass.
    pub stride: usize,
}

impl Default for Plan {
    /// The paper's recipe, 16 tokens per pass (one pass for each of the 1-, 4- and 16-word
    /// layers, four for a 64-word layer), to the first decodable depth.
    fn default() -> Self {
        Plan {
            depth: None,
            kind: PlanKind::Paper,
            stride: 16,
        }
    }
}

impl Plan {
    /// The token count of each written layer of `pyramid` and the passes that write them.
    pub fn passes(
        &self,
        pyramid: &(impl PyramidLayout + ?Sized),
    ) -> Result<(Vec<usize>, Vec<Pass>), TaskError> {
        let depth = self
            .depth
            .unwrap_or_else(|| pyramid.first_decodable_depth());
        pyramid.check_decodable(depth)?;
        let sizes = pyramid.layer_sizes()[..depth].to_vec();
        let stride = (self.stride > 0).then_some(self.stride);
        let every = |window| vec![LayerStep { stride, window }; depth];
        let passes = match self.kind {
            PlanKind::Single => single_pass(&sizes),
            PlanKind::Paper => plan(&sizes, &paper_recipe(depth, stride))?,
            PlanKind::Par => plan(&sizes, &every(Window::Par))?,
            PlanKind::Pnar => plan(&sizes, &every(Window::Pnar))?,
        };
        Ok((sizes, passes))
    }
}

/// The paper's recipe: PAR for every layer but the last, PNAR for the last (conditioned on the
/// earlier layers), `stride` tokens per pass.
pub fn paper_recipe(n_layers: usize, stride: Option<usize>) -> Vec<LayerStep> {
    (0..n_layers)
        .map(|l| LayerStep {
            stride,
            window: if l + 1 == n_layers {
                Window::Pnar
            } else {
                Window::Par
            },
        })
        .collect()
}

/// Eq. 11: the passes that write a pyramid of `layer_sizes` tokens per layer, following `steps`
/// (one per layer), in the order they run.
pub fn plan(layer_sizes: &[usize], steps: &[LayerStep]) -> Result<Vec<Pass>, PlanError> {
    if steps.len() != layer_sizes.len() {
        return Err(PlanError::Layers {
            steps: steps.len(),
            layers: layer_sizes.len(),
        });
    }
    let mut passes = Vec::new();
    let mut start = 0;
    for (layer, (&size, step)) in layer_sizes.iter().zip(steps).enumerate() {
        let stride = match step.stride {
            Some(0) => return Err(PlanError::Stride(layer)),
            Some(s) => s,
            None => size.max(1),
        };
        for (t, seg) in (start..start + size).step_by(stride).enumerate() {
            let end = (seg + stride).min(start + size);
            let m = match step.window {
                Window::Par => t,
                Window::Pnar => 0,
                Window::Last(m) => m.min(t),
            };
            let own = seg - m * stride..seg;
            passes.push(Pass {
                layer,
                writes: seg..end,
                sees: merge(&[0..start, own]),
            });
        }
        start += size;
    }
    Ok(passes)
}

/// Stride infinity: the whole target in one pass, seeing no target tokens.
pub fn single_pass(layer_sizes: &[usize]) -> Vec<Pass> {
    vec![Pass {
        layer: 0,
        writes: 0..layer_sizes.iter().sum(),
        sees: Vec::new(),
    }]
}

/// One in-context example of Eq. 10: a condition (e.g. "an image of 7:", LLM tokens) and its
/// target (codebook word ids).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub condition: Vec<u32>,
    pub target: Vec<u32>,
}

/// Eq. 11's prompt for one pass: every example as its condition, its target words at the
/// positions the pass sees and then at those it writes, and `separator`; then the query condition
/// and the query's target words at the positions the pass sees. Words are spelled in the LLM's
/// tokens by `words`; a word the codebook does not have is an error.
pub fn pass_prompt(
    examples: &[Example],
    query: &[u32],
    target: &[u32],
    pass: &Pass,
    separator: &[u32],
    words: &Spellings,
) -> Result<Vec<u32>, LlmError> {
    let visible = |t: &[u32]| -> Vec<u32> {
        pass.sees
            .iter()
            .flat_map(|r| t[r.clone()].iter().copied())
            .collect()
    };
    let mut prompt = Vec::new();
    for e in examples {
        prompt.extend_from_slice(&e.condition);
        prompt.extend(words.spell(&visible(&e.target))?);
        prompt.extend(words.spell(&e.target[pass.writes.clone()])?);
        prompt.extend_from_slice(separator);
    }
    prompt.extend_from_slice(query);
    prompt.extend(words.spell(&visible(target))?);
    Ok(prompt)
}

/// What the queries of one [`decode`] share: the examples, the target length (every example's
/// target must hold `total` words), the words a pass may write and the separator after each
/// example.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub examples: &'a [Example],
    pub total: usize,
    pub words: &'a Spellings,
    pub separator: &'a [u32],
}

/// Eq. 10 with Eq. 11's passes: writes each query's `total` target words, each pass constrained
/// to the codebook's words and to exactly its segment's length. The queries run pass by pass, so
/// that the examples' part of a pass's prompt, the same for every query, is processed once
/// (prefix reuse); `progress` is called after every write.
pub fn decode(
    backend: &mut dyn Backend,
    ctx: Context,
    queries: &[Query],
    passes: &[Pass],
    log: &mut dyn RunLog<WriteKey, Written>,
    mut progress: impl FnMut(),
) -> Result<Vec<Vec<u32>>, TaskError> {
    for e in ctx.examples {
        if e.target.len() != ctx.total {
            return Err(LlmError::Context(format!(
                "an example's target has {} words, the pyramid {}",
                e.target.len(),
                ctx.total
            ))
            .into());
        }
        ctx.words
            .spell(&e.target)
            .map_err(|err| LlmError::Context(format!("an example's target is corrupted: {err}")))?;
    }
    let mut targets = vec![vec![ctx.words.ids()[0]; ctx.total]; queries.len()];
    for (p, pass) in passes.iter().enumerate() {
        for (query, target) in queries.iter().zip(&mut targets) {
            let key = WriteKey {
                item: query.item.clone(),
                pass: p,
            };
            let out = match log.done(&key).into_iter().next() {
                Some(w) if w.words.len() == pass.writes.len() => w.words,
                Some(w) => {
                    return Err(TaskError::Data(format!(
                        "the run journal's pass {p} of {} wrote {} words, the pass writes {}",
                        query.item,
                        w.words.len(),
                        pass.writes.len()
                    )))
                }
                None => {
                    let prompt = pass_prompt(
                        ctx.examples,
                        &query.ids,
                        target,
                        pass,
                        ctx.separator,
                        ctx.words,
                    )?;
                    let words = backend.write(&prompt, pass.writes.len(), ctx.words)?;
                    log.record(
                        &key,
                        0,
                        &Written {
                            words: words.clone(),
                        },
                    )?;
                    words
                }
            };
            target[pass.writes.clone()].copy_from_slice(&out);
            progress();
        }
    }
    Ok(targets)
}

/// A query to write an image for: its prompt ids and its name in a run journal (unique in the
/// run, e.g. its index, or a task and an image).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub item: String,
    pub ids: Vec<u32>,
}

/// Which query and pass a run journal's written words belong to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WriteKey {
    pub item: String,
    pub pass: usize,
}

/// The codebook words one pass wrote for one query (all a resumed run needs: later passes'
/// prompts are built from them again, and with aligned prompt chunks a prompt's answer does not
/// depend on what the backend had cached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    pub words: Vec<u32>,
}

/// The context length [`decode`] needs: the longest pass prompt plus its writes, over `queries`,
/// counting every query word as the longest spelling.
pub fn context_needed(ctx: Context, queries: &[Query], passes: &[Pass]) -> Result<usize, LlmError> {
    let target = vec![ctx.words.longest(); ctx.total];
    let longest = ctx.words.max_len();
    let mut need = 0;
    for p in passes {
        for q in queries {
            let prompt = pass_prompt(ctx.examples, &q.ids, &target, p, ctx.separator, ctx.words)?;
            need = need.max(prompt.len() + p.writes.len() * longest);
        }
    }
    Ok(need)
}

/// The context length a generation asks for: what its longest pass needs ([`context_needed`]),
/// at least 2048, in multiples of 256.
pub fn n_ctx(ctx: Context, queries: &[Query], passes: &[Pass]) -> Result<u32, LlmError> {
    let need = context_needed(ctx, queries, passes)?.max(2048);
    Ok(need.next_multiple_of(256) as u32)
}

/// Increasing ranges, empty ones dropped and touching ones joined.
fn merge(ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for r in ranges.iter().filter(|r| !r.is_empty()) {
        match out.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => out.push(r.clone()),
        }
    }
    out
}

#[cfg(test)]
// The expected `sees` lists are vectors of ranges, one range long in many cases.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn step(stride: Option<usize>, window: Window) -> LayerStep {
        LayerStep { stride, window }
    }

    /// (writes, sees) of each pass.
    type Seen = Vec<(Range<usize>, Vec<Range<usize>>)>;

    fn seen(passes: &[Pass]) -> Seen {
        passes
            .iter()
            .map(|p| (p.writes.clone(), p.sees.clone()))
            .collect()
    }

    #[test]
    fn par_sees_everything_before_it() {
        // Pyramid 1 + 4 + 4 words, stride 2, PAR everywhere.
        let p = plan(&[1, 4, 4], &[step(Some(2), Window::Par); 3]).unwrap();
        assert_eq!(
            seen(&p),
            vec![
                (0..1, vec![]),
                (1..3, vec![0..1]),
                (3..5, vec![0..3]),
                (5..7, vec![0..5]),
                (7..9, vec![0..7]),
            ]
        );
        assert_eq!(
            p.iter().map(|p| p.layer).collect::<Vec<_>>(),
            [0, 1, 1, 2, 2]
        );
    }

    #[test]
    fn pnar_sees_only_earlier_layers_and_windows_cut_in_between() {
        // The paper's recipe on 1 + 4 + 6 words, stride 2: the last layer's passes see layers
        // 1-2 only, so they are independent.
        let p = plan(&[1, 4, 6], &paper_recipe(3, Some(2))).unwrap();
        assert_eq!(
            seen(&p)[3..].to_vec(),
            vec![(5..7, vec![0..5]), (7..9, vec![0..5]), (9..11, vec![0..5])]
        );
        // m = 1: the previous segment only.
        let p = plan(
            &[1, 6],
            &[step(None, Window::Par), step(Some(2), Window::Last(1))],
        )
        .unwrap();
        assert_eq!(
            seen(&p),
            vec![
                (0..1, vec![]),
                (1..3, vec![0..1]),
                (3..5, vec![0..3]),
                (5..7, vec![0..1, 3..5]),
            ]
        );
        // A last segment shorter than the stride.
        let p = plan(&[5], &[step(Some(2), Window::Par)]).unwrap();
        assert_eq!(p.last().unwrap().writes, 4..5);
    }

    #[test]
    fn a_pass_prompt_by_hand() {
        // Target of 3 tokens; the pass writes position 2 and sees 0..1 (PNAR after a 1-token
        // layer). Example: condition [100], target [1, 2, 3]; query [200], so far [7, 8, _].
        let pass = Pass {
            layer: 1,
            writes: 2..3,
            sees: vec![0..1],
        };
        let ex = Example {
            condition: vec![100],
            target: vec![1, 2, 3],
        };
        let words = Spellings::own(&[1, 2, 3, 7, 8]).unwrap();
        let p = pass_prompt(
            &[ex.clone(), ex.clone()],
            &[200],
            &[7, 8, 1],
            &pass,
            &[9],
            &words,
        );
        assert_eq!(p.unwrap(), vec![100, 1, 3, 9, 100, 1, 3, 9, 200, 7]);
        // Spelled by another LLM: word 1 is tokens [50, 51], word 3 is [52], word 7 is [53].
        let other = Spellings::new(vec![(1, vec![50, 51]), (3, vec![52]), (7, vec![53])]).unwrap();
        let p = pass_prompt(&[ex], &[200], &[7, 8, 1], &pass, &[9], &other);
        assert_eq!(p.unwrap(), vec![100, 50, 51, 52, 9, 200, 53]);
        // A word the codebook does not have (a corrupted example).
        let bad = Example {
            condition: vec![100],
            target: vec![1, 2, 4],
        };
        assert!(pass_prompt(&[bad], &[200], &[7, 8, 1], &pass, &[9], &words).is_err());
    }

    #[test]
    fn context_needed_by_hand() {
        // Two examples of condition 1 + target 3, separator 1; the query's condition is 2.
        let ex = Example {
            condition: vec![100],
            target: vec![1, 2, 3],
        };
        let examples = [ex.clone(), ex];
        let words = Spellings::own(&[1, 2, 3]).unwrap();
        let ctx = Context {
            examples: &examples,
            total: 3,
            words: &words,
            separator: &[9],
        };
        let q = [Query {
            item: "0".into(),
            ids: vec![200, 201],
        }];
        // Single pass: 2 x (1 + 3 + 1) + 2 prompt tokens, 3 written.
        assert_eq!(context_needed(ctx, &q, &single_pass(&[1, 2])).unwrap(), 15);
        // Stride 1, PAR: the last pass sees 2 and writes 1: 2 x (1 + 2 + 1 + 1) + 2 + 2, + 1.
        let p = plan(&[1, 2], &[step(Some(1), Window::Par); 2]).unwrap();
        assert_eq!(context_needed(ctx, &q, &p).unwrap(), 15);
        let p = plan(&[1, 2], &[step(Some(1), Window::Pnar); 2]).unwrap();
        assert_eq!(context_needed(ctx, &q, &p).unwrap(), 2 * 4 + 3 + 1);
        // Spelled by another LLM, word 1 in two tokens: the examples hold 2 x (1 + 4 + 1), the
        // query 2, and the 3 words written count as the longest spelling (2 tokens each).
        let other = Spellings::new(vec![(1, vec![50, 51]), (2, vec![52]), (3, vec![53])]).unwrap();
        let ctx = Context {
            words: &other,
            ..ctx
        };
        assert_eq!(
            context_needed(ctx, &q, &single_pass(&[1, 2])).unwrap(),
            12 + 2 + 6
        );
    }

    #[test]
    fn stride_all_and_single_pass() {
        let p = plan(&[1, 4, 16], &[step(None, Window::Par); 3]).unwrap();
        assert_eq!(
            seen(&p),
            vec![(0..1, vec![]), (1..5, vec![0..1]), (5..21, vec![0..5])]
        );
        assert_eq!(seen(&single_pass(&[1, 4, 16])), vec![(0..21, vec![])]);
        assert_eq!(
            plan(&[1, 4], &[step(Some(0), Window::Par); 2]),
            Err(PlanError::Stride(0))
        );
        assert_eq!(
            plan(&[1, 4], &[step(None, Window::Par)]),
            Err(PlanError::Layers {
                steps: 1,
                layers: 2
            })
        );
    }
}
