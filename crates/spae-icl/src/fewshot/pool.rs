//! Which images few-shot episodes draw from, and whether the tokenizer saw their classes
//! labelled in training (class-disjoint evaluation: SPAE's claim is about classes it never saw).

use serde::{Deserialize, Serialize};
use spae::data::ImageSet;
use spae::labels::LabelsSeen;

use super::FewshotError;

/// Choosing the episodes' classes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassChoice {
    /// Episode classes only from these class names (comma-separated).
    pub classes: Vec<String>,
    /// Episode classes only from those the tokenizer never saw labelled in training (its
    /// `state.json` labels, by name): the class-disjoint protocol.
    pub unseen: bool,
}

/// A class of the pool, as reports record it.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PoolClass {
    pub name: String,
    /// Whether the tokenizer's training signal used this class name.
    pub seen_in_training: bool,
    /// Images of the class in the pool.
    pub images: usize,
}

/// The pool's classes, and what the tokenizer saw.
#[derive(Serialize, Clone, Debug)]
pub struct PoolLabels {
    /// The tokenizer's training labels, in a line.
    pub tokenizer_labels: String,
    pub tokenizer_label_free: bool,
    pub classes: Vec<PoolClass>,
    /// Every class episodes can draw was unseen in training.
    pub all_unseen: bool,
}

impl PoolLabels {
    pub fn line(&self) -> String {
        let seen: Vec<&str> = self
            .classes
            .iter()
            .filter(|c| c.seen_in_training)
            .map(|c| c.name.as_str())
            .collect();
        let verdict = match (seen.len(), self.all_unseen) {
            (_, true) => "all unseen in training".to_string(),
            (n, _) if n == self.classes.len() => {
                "ALL SEEN labelled in training (a supervised upper bound)".to_string()
            }
            _ => format!("seen labelled in training: {}", seen.join(", ")),
        };
        format!(
            "episode classes: {} ({verdict}); tokenizer {}",
            self.classes.len(),
            self.tokenizer_labels
        )
    }
}

/// The first `n` images of `set` whose classes `choice` allows, and the record of the pool's
/// classes against `labels`.
pub fn select(
    set: &ImageSet,
    labels: &LabelsSeen,
    choice: &ClassChoice,
    n: usize,
) -> Result<(ImageSet, PoolLabels), FewshotError> {
    let mut allowed: Vec<u32> = if choice.classes.is_empty() {
        (0..set.class_names.len() as u32).collect()
    } else {
        set.class_labels(&choice.classes)
            .map_err(|e| FewshotError::Data(format!("--classes: {e}")))?
    };
    if choice.unseen {
        allowed.retain(|&c| !labels.saw(&set.class_names[c as usize]));
    }
    let keep: Vec<usize> = (0..set.len())
        .filter(|&i| allowed.contains(&set.labels[i]))
        .take(n)
        .collect();
    let pool = set.subset(&keep);
    let classes: Vec<PoolClass> = allowed
        .iter()
        .map(|&c| PoolClass {
            name: set.class_names[c as usize].clone(),
            seen_in_training: labels.saw(&set.class_names[c as usize]),
            images: pool.labels.iter().filter(|&&l| l == c).count(),
        })
        .filter(|c| c.images > 0)
        .collect();
    if classes.len() < 2 {
        return Err(FewshotError::Data(format!(
            "episodes need at least 2 classes with images; {} left after --classes / --unseen (tokenizer {})",
            classes.len(),
            labels.summary()
        )));
    }
    Ok((
        pool,
        PoolLabels {
            tokenizer_labels: labels.summary(),
            tokenizer_label_free: labels.label_free(),
            all_unseen: classes.iter().all(|c| !c.seen_in_training),
            classes,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spae::labels::{LabelKind, LabelsUsed};

    fn set() -> ImageSet {
        ImageSet {
            width: 1,
            height: 1,
            channels: 1,
            pixels: (0..8).collect(),
            labels: vec![0, 1, 2, 3, 0, 1, 2, 3],
            class_names: ["T-shirt", "trouser", "sandal", "bag"]
                .map(String::from)
                .to_vec(),
            names: Vec::new(),
            source: None,
        }
    }

    fn saw(names: &[&str]) -> LabelsSeen {
        LabelsSeen::chain(
            None,
            LabelsUsed {
                dataset: "fashion-mnist".into(),
                kind: LabelKind::ClassNames,
                names: names.iter().map(|s| s.to_string()).collect(),
                scorer_pretraining: None,
            },
        )
    }

    #[test]
    fn unseen_classes_only() {
        let labels = saw(&["T-shirt", "trouser"]);
        let choice = ClassChoice {
            unseen: true,
            ..ClassChoice::default()
        };
        let (pool, rec) = select(&set(), &labels, &choice, 100).unwrap();
        assert_eq!(pool.labels, vec![2, 3, 2, 3]);
        assert!(rec.all_unseen);
        assert_eq!(
            rec.classes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["sandal", "bag"]
        );
        assert!(rec.line().contains("all unseen"), "{}", rec.line());
        // Without the filter, the record says which classes were seen.
        let (pool, rec) = select(&set(), &labels, &ClassChoice::default(), 6).unwrap();
        assert_eq!(pool.len(), 6);
        assert!(!rec.all_unseen);
        assert!(rec.classes[0].seen_in_training && !rec.classes[2].seen_in_training);
        assert!(rec
            .line()
            .contains("seen labelled in training: T-shirt, trouser"));
    }

    #[test]
    fn named_classes_and_refusals() {
        let labels = saw(&["T-shirt", "trouser", "sandal"]);
        let choice = ClassChoice {
            classes: vec!["bag".into(), "Trouser".into()],
            unseen: false,
        };
        let (pool, rec) = select(&set(), &labels, &choice, 100).unwrap();
        assert_eq!(pool.labels, vec![1, 3, 1, 3]);
        assert_eq!(rec.classes.len(), 2);
        let e = select(
            &set(),
            &labels,
            &ClassChoice {
                unseen: true,
                ..choice.clone()
            },
            100,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("at least 2 classes") && e.contains("1 left"),
            "{e}"
        );
        let e = select(
            &set(),
            &labels,
            &ClassChoice {
                classes: vec!["shoe".into()],
                unseen: false,
            },
            100,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--classes: no class 'shoe'"), "{e}");
    }
}
