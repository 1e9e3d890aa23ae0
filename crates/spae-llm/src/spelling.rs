//! How an LLM spells the codebook's words, for reading and for writing them.
//!
//! With the codebook's own LLM a word is its one token. An LLM of another vocabulary (Qwen,
//! Gemma, ...) spells a word's text (" seven") in its own tokens, one or several. Prompts carry
//! the spellings of an image's words; writing follows a trie of the spellings, so that whatever
//! the LLM writes is a sequence of codebook words, and it ends exactly after the words asked for.

use std::borrow::Cow;

use spae::codebook::{Codebook, VocabTokenizer};

use crate::LlmError;

/// Every codebook word with its spelling in one LLM's tokens, and the trie of those spellings.
#[derive(Debug, Clone)]
pub struct Spellings {
    /// Codebook word ids, sorted.
    ids: Vec<u32>,
    /// `tokens[i]`: the LLM tokens of word `ids[i]`.
    tokens: Vec<Vec<u32>>,
    /// Trie over the spellings; `nodes[0]` is the root (no token yet).
    nodes: Vec<Node>,
    /// The root's tokens (every word's first token), sorted.
    first: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// (token, child node), sorted by token.
    children: Vec<(u32, usize)>,
    /// The word (index into `ids`) whose spelling ends here.
    word: Option<usize>,
}

impl Spellings {
    /// The codebook's own LLM: each word is its one token.
    pub fn own(ids: &[u32]) -> Result<Self, LlmError> {
        Self::new(ids.iter().map(|&id| (id, vec![id])).collect())
    }

    /// Words (codebook id, LLM tokens). Refuses no words, a repeated id, an empty spelling and
    /// two words spelled alike (the reader could not tell them apart).
    pub fn new(mut words: Vec<(u32, Vec<u32>)>) -> Result<Self, LlmError> {
        let bad = |m: String| Err(LlmError::Choices(m));
        if words.is_empty() {
            return bad("no words to spell".into());
        }
        words.sort_by_key(|(id, _)| *id);
        let mut nodes = vec![Node::default()];
        for (i, (id, spelling)) in words.iter().enumerate() {
            if i > 0 && words[i - 1].0 == *id {
                return bad(format!("word {id} is given twice"));
            }
            if spelling.is_empty() {
                return bad(format!("word {id} is spelled with no tokens"));
            }
            let mut node = 0;
            for &t in spelling {
                node = match nodes[node].children.binary_search_by_key(&t, |c| c.0) {
                    Ok(k) => nodes[node].children[k].1,
                    Err(k) => {
                        nodes.push(Node::default());
                        let child = nodes.len() - 1;
                        nodes[node].children.insert(k, (t, child));
                        child
                    }
                };
            }
            if let Some(other) = nodes[node].word {
                return bad(format!(
                    "words {} and {id} are spelled alike ({spelling:?})",
                    words[other].0
                ));
            }
            nodes[node].word = Some(i);
        }
        let first = nodes[0].children.iter().map(|c| c.0).collect();
        let (ids, tokens) = words.into_iter().unzip();
        Ok(Spellings {
            ids,
            tokens,
            nodes,
            first,
        })
    }

    /// Codebook word ids, sorted.
    /// How `llm` spells a codebook's words: each word its own token (`as_text` false: the
    /// codebook was built from `llm`'s vocabulary), or each word's text (" seven") in `llm`'s
    /// tokens, one or several (an LLM of another vocabulary).
    pub fn of_codebook(
        llm: &dyn VocabTokenizer,
        codebook: &Codebook,
        as_text: bool,
    ) -> Result<Self, LlmError> {
        Self::new(
            codebook
                .words
                .iter()
                .map(|w| match as_text {
                    true => (w.id, llm.tokenize(&w.text)),
                    false => (w.id, vec![w.id]),
                })
                .collect(),
        )
    }

    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The most tokens of one word.
    pub fn max_len(&self) -> usize {
        self.tokens.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// The longest-spelled word, the lowest id of those (the one to assume when a length bound
    /// is needed).
    pub fn longest(&self) -> u32 {
        let i = (0..self.ids.len())
            .min_by_key(|&i| std::cmp::Reverse(self.tokens[i].len()))
            .unwrap_or(0);
        self.ids[i]
    }

    /// The word tokens themselves when every word is one token (the codebook's own LLM or a
    /// lucky other one), sorted by word id; `None` otherwise.
    pub fn single_tokens(&self) -> Option<Vec<u32>> {
        self.tokens
            .iter()
            .map(|t| (t.len() == 1).then_some(t[0]))
            .collect()
    }

    /// The LLM tokens of a sequence of codebook words; a word the codebook does not have is an
    /// error (a corrupted context).
    pub fn spell(&self, words: &[u32]) -> Result<Vec<u32>, LlmError> {
        let mut out = Vec::with_capacity(words.len());
        for w in words {
            let i = self.ids.binary_search(w).map_err(|_| {
                LlmError::Context(format!("word id {w} is not one of the codebook's words"))
            })?;
            out.extend_from_slice(&self.tokens[i]);
        }
        Ok(out)
    }

    /// A greedy writer of `n` words (n >= 1).
    pub fn writer(&self, n: usize) -> Writer<'_> {
        Writer {
            spellings: self,
            n,
            node: 0,
            words: Vec::with_capacity(n),
        }
    }
}

/// What the caller does with the token it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Evaluate it and choose the next one among [`Writer::allowed`].
    Feed,
    /// The words are written (this token, if it starts another word, is not part of them).
    Done,
}

/// Writes words token by token. A spelling that is a prefix of a longer one (" cat" and
/// " cat" + "s") ends when the LLM prefers the first token of a next word to continuing it,
/// so the last word too looks one token ahead.
pub struct Writer<'s> {
    spellings: &'s Spellings,
    n: usize,
    /// Trie node of the word being written (0: between words).
    node: usize,
    words: Vec<u32>,
}

impl Writer<'_> {
    /// The tokens the LLM may choose next (sorted, unique); between words, every word's first
    /// token, borrowed (the per-token case of the codebook's own LLM).
    pub fn allowed(&self) -> Cow<'_, [u32]> {
        let s = self.spellings;
        let here = &s.nodes[self.node];
        if self.node == 0 {
            return Cow::Borrowed(&s.first);
        }
        let mut out: Vec<u32> = here.children.iter().map(|c| c.0).collect();
        if here.word.is_some() {
            out.extend_from_slice(&s.first);
            out.sort_unstable();
            out.dedup();
        }
        Cow::Owned(out)
    }

    /// Takes the chosen token (one of [`Writer::allowed`]; continuing the current word wins
    /// over starting another when a token could do both).
    pub fn push(&mut self, token: u32) -> Result<Step, LlmError> {
        let s = self.spellings;
        let child = |node: usize| {
            s.nodes[node]
                .children
                .binary_search_by_key(&token, |c| c.0)
                .ok()
                .map(|k| s.nodes[node].children[k].1)
        };
        let next = match child(self.node) {
            Some(next) => next,
            None => {
                let ended = s.nodes[self.node].word.filter(|_| self.node != 0);
                match (ended, child(0)) {
                    (Some(word), Some(next)) => {
                        self.words.push(s.ids[word]);
                        if self.words.len() == self.n {
                            return Ok(Step::Done);
                        }
                        next
                    }
                    _ => {
                        return Err(LlmError::Choices(format!(
                            "token {token} continues no word here"
                        )))
                    }
                }
            }
        };
        self.node = next;
        let here = &s.nodes[next];
        if let (Some(word), true) = (here.word, here.children.is_empty()) {
            self.words.push(s.ids[word]);
            self.node = 0;
            if self.words.len() == self.n {
                return Ok(Step::Done);
            }
        }
        Ok(Step::Feed)
    }

    /// The words written.
    pub fn words(self) -> Vec<u32> {
        self.words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a writer with a fixed token script: the tokens it is offered and what it wrote.
    fn run(s: &Spellings, n: usize, script: &[u32]) -> (Vec<Vec<u32>>, Vec<u32>) {
        let mut w = s.writer(n);
        let mut offered = Vec::new();
        for &t in script {
            offered.push(w.allowed().into_owned());
            if w.push(t).unwrap() == Step::Done {
                return (offered, w.words());
            }
        }
        panic!("the script ended before {n} words");
    }

    #[test]
    fn own_words_are_their_tokens() {
        let s = Spellings::own(&[7, 3, 5]).unwrap();
        assert_eq!(s.ids(), [3, 5, 7]);
        assert_eq!(s.single_tokens(), Some(vec![3, 5, 7]));
        assert_eq!(s.spell(&[5, 5, 3]).unwrap(), vec![5, 5, 3]);
        assert!(s.spell(&[4]).is_err());
        let (offered, words) = run(&s, 2, &[5, 7]);
        assert_eq!(offered, vec![vec![3, 5, 7]; 2]);
        assert_eq!(words, vec![5, 7]);
    }

    #[test]
    fn multi_token_words_by_hand() {
        // Word 10 = [1], word 11 = [1, 2] (its prefix is word 10), word 12 = [3, 4].
        let s = Spellings::new(vec![(11, vec![1, 2]), (10, vec![1]), (12, vec![3, 4])]).unwrap();
        assert_eq!(s.single_tokens(), None);
        assert_eq!((s.max_len(), s.longest()), (2, 11));
        assert_eq!(s.spell(&[12, 10, 11]).unwrap(), vec![3, 4, 1, 1, 2]);
        // [3, 4] is word 12 (a leaf: ends at once); 1 then 2 is word 11.
        let (offered, words) = run(&s, 2, &[3, 4, 1, 2]);
        assert_eq!(words, vec![12, 11]);
        assert_eq!(
            offered,
            vec![vec![1, 3], vec![4], vec![1, 3], vec![1, 2, 3]]
        );
        // 1 then 3: word 10 ended, 3 starts word 12.
        assert_eq!(run(&s, 2, &[1, 3, 4]).1, vec![10, 12]);
        // The last word looks ahead: 1 then 1 ends it as word 10 (the second 1 is not written).
        assert_eq!(run(&s, 1, &[1, 1]).1, vec![10]);
        // A token that continues nothing is an error.
        let mut w = s.writer(1);
        w.push(3).unwrap();
        assert!(w.push(1).is_err());
    }

    #[test]
    fn bad_spellings_are_refused() {
        assert!(Spellings::new(vec![]).is_err());
        assert!(Spellings::new(vec![(1, vec![])]).is_err());
        assert!(Spellings::new(vec![(1, vec![5]), (1, vec![6])]).is_err());
        assert!(Spellings::new(vec![(1, vec![5, 6]), (2, vec![5, 6])]).is_err());
    }
}
