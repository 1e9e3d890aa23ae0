//! In-context text-to-image, the paper's MNIST task: examples "an image of {digit}: {words}" and
//! queries such as "an image of 1+7" or "an image of the number of legs of a cat", whose intended
//! digit is known so that a classifier can judge what the frozen LLM wrote.

mod task;
pub use task::{
    choose_examples, reconstruction_ceiling, rmse, GenerateConfig, GenerateReport, Generated,
    Generation, KindSummary,
};

use serde::Serialize;

use spae_llm::LlmError;

/// Where a condition template takes its subject.
pub const PLACEHOLDER: &str = "{}";
/// The paper's condition.
pub const DEFAULT_TEMPLATE: &str = "an image of {}:";

/// A query subject and the digit it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigitQuery {
    /// What fills the template, e.g. "1+7".
    pub subject: String,
    /// The digit a correct image shows, if known.
    pub digit: Option<usize>,
    /// digit, sum, difference, product or riddle.
    pub kind: &'static str,
}

/// Questions whose answer is a digit (the paper's "the number of legs of a cat").
pub const RIDDLES: [(&str, usize); 20] = [
    ("the number of legs of a cat", 4),
    ("the number of legs of a spider", 8),
    ("the number of legs of a bird", 2),
    ("the number of legs of an insect", 6),
    ("the number of days in a week", 7),
    ("the number of sides of a triangle", 3),
    ("the number of sides of a square", 4),
    ("the number of sides of a pentagon", 5),
    ("the number of sides of a hexagon", 6),
    ("the number of wheels of a bicycle", 2),
    ("the number of wheels of a tricycle", 3),
    ("the number of fingers on one hand", 5),
    ("the number of arms of an octopus", 8),
    ("the number of eyes of a person", 2),
    ("the number of noses on a face", 1),
    ("the number of continents", 7),
    ("the number of lives of a cat", 9),
    ("the number of planets in the solar system", 8),
    ("the number of colors in a rainbow", 7),
    ("the number of strings on a violin", 4),
];

/// The template with `subject` in its placeholder; a template without exactly one placeholder is
/// an error.
pub fn condition(template: &str, subject: &str) -> Result<String, LlmError> {
    match template.matches(PLACEHOLDER).count() {
        1 => Ok(template.replace(PLACEHOLDER, subject)),
        n => Err(LlmError::Template(format!(
            "'{template}' has {n} '{PLACEHOLDER}' placeholders, not one"
        ))),
    }
}

/// The subject of a user's query: the text itself, or what fills the template's placeholder when
/// the text is a whole condition ("an image of 1+7" or "an image of 1+7:" -> "1+7").
pub fn subject_of(template: &str, text: &str) -> String {
    let text = text.trim();
    let (pre, post) = template.split_once(PLACEHOLDER).unwrap_or((template, ""));
    let (pre, post) = (pre.trim(), post.trim());
    let inner = text.strip_prefix(pre).unwrap_or(text);
    let inner = if post.is_empty() {
        inner
    } else {
        inner.strip_suffix(post).unwrap_or(inner)
    };
    inner.trim().to_string()
}

/// The digit a subject means, if it is known: a digit, an expression of single digits with
/// `+ - *` (usual precedence) whose value is a digit, or one of the [`RIDDLES`].
pub fn intended_digit(subject: &str) -> Option<usize> {
    let s = subject.trim().to_lowercase();
    if let Some(&(_, d)) = RIDDLES.iter().find(|(q, _)| *q == s) {
        return Some(d);
    }
    let v = evaluate(&s)?;
    (0..=9).contains(&v).then_some(v as usize)
}

/// `a (op b)*` over non-negative integers with `+ - *`, `*` first; `None` for anything else.
fn evaluate(s: &str) -> Option<i64> {
    let mut sum = 0i64;
    for (i, term) in split_keep(s, &['+', '-']).into_iter().enumerate() {
        let (sign, body) = match term.chars().next() {
            Some('-') if i > 0 => (-1, &term[1..]),
            Some('+') if i > 0 => (1, &term[1..]),
            _ if i == 0 => (1, term),
            _ => return None,
        };
        let mut product = 1i64;
        for factor in body.split('*') {
            let f = factor.trim();
            if f.is_empty() || !f.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            product = product.checked_mul(f.parse().ok()?)?;
        }
        sum += sign * product;
    }
    Some(sum)
}

/// `s` cut before each of `ops` (each piece but the first starts with its operator).
fn split_keep<'a>(s: &'a str, ops: &[char]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if i > 0 && ops.contains(&c) {
            out.push(&s[start..i]);
            start = i;
        }
    }
    out.push(&s[start..]);
    out
}

/// The benchmark queries: every digit once, then sums `a+b` and differences `a-b` of single
/// digits whose value is a digit (`a, b >= 1`), products `a*b` of digits >= 2 up to 9, and the
/// riddles: 10 + 36 + 45 + 6 + 20 = 117 queries.
pub fn mnist_queries() -> Vec<DigitQuery> {
    let q = |subject: String, digit: usize, kind| DigitQuery {
        subject,
        digit: Some(digit),
        kind,
    };
    let mut out: Vec<DigitQuery> = (0..10).map(|d| q(d.to_string(), d, "digit")).collect();
    for a in 1..=8 {
        for b in 1..=9 - a {
            out.push(q(format!("{a}+{b}"), a + b, "sum"));
        }
    }
    for a in 1..=9 {
        for b in 1..=a {
            out.push(q(format!("{a}-{b}"), a - b, "difference"));
        }
    }
    for a in 2..=4 {
        for b in 2..=9 / a {
            out.push(q(format!("{a}*{b}"), a * b, "product"));
        }
    }
    out.extend(RIDDLES.iter().map(|&(s, d)| q(s.to_string(), d, "riddle")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_and_subjects() {
        assert_eq!(
            condition(DEFAULT_TEMPLATE, "1+7").unwrap(),
            "an image of 1+7:"
        );
        assert!(condition("an image", "7").is_err());
        assert!(condition("{} and {}", "7").is_err());
        assert_eq!(subject_of(DEFAULT_TEMPLATE, "an image of 1+7"), "1+7");
        assert_eq!(subject_of(DEFAULT_TEMPLATE, " an image of 9-5: "), "9-5");
        assert_eq!(subject_of(DEFAULT_TEMPLATE, "3*3"), "3*3");
    }

    #[test]
    fn intended_digits_by_hand() {
        assert_eq!(intended_digit("1+7"), Some(8));
        assert_eq!(intended_digit("9-5"), Some(4));
        assert_eq!(intended_digit("2+3*2"), Some(8));
        assert_eq!(intended_digit("9 - 2 - 3"), Some(4));
        assert_eq!(intended_digit("7"), Some(7));
        assert_eq!(intended_digit("The number of legs of a cat"), Some(4));
        assert_eq!(intended_digit("5+5"), None, "10 is not a digit");
        assert_eq!(intended_digit("2-5"), None);
        assert_eq!(intended_digit("a cat"), None);
        assert_eq!(intended_digit("1++2"), None);
        assert_eq!(intended_digit(""), None);
    }

    #[test]
    fn the_benchmark_set() {
        let qs = mnist_queries();
        assert_eq!(qs.len(), 117);
        for q in &qs {
            assert_eq!(intended_digit(&q.subject), q.digit, "{}", q.subject);
        }
        let kinds = |k| qs.iter().filter(|q| q.kind == k).count();
        assert_eq!(
            [
                kinds("digit"),
                kinds("sum"),
                kinds("difference"),
                kinds("product"),
                kinds("riddle")
            ],
            [10, 36, 45, 6, 20]
        );
    }
}
