//! Which labels a tokenizer's training signal used. SPAE's claim is that a frozen LLM learns
//! *new* visual concepts in context, so a few-shot figure must say whether its classes were seen
//! labelled in training: a tokenizer trained with the label scorer has a supervised classifier's
//! output as its top word for its own classes (an upper bound, not the claim), while its words
//! for other classes, or those of a label-free scorer, test the claim. A checkpoint's
//! `state.json` records this as `labels`; a warm-started run adds the labels of the model it
//! started from.

use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::{same_name, ImageSet};
use crate::semantic::ScorerKind;

/// What kind of label text the semantic loss was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelKind {
    /// No labels of the training data (no semantic loss, or a label-free scorer).
    None,
    /// The class name of every training image (the `label` scorer).
    ClassNames,
    /// Every training image's own name or caption (the `name` scorer, e.g. emoji names).
    ImageNames,
}

/// The labels one training run (or a chain of warm-started runs) used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelsUsed {
    pub dataset: String,
    pub kind: LabelKind,
    /// The distinct class names or image names the semantic loss saw (empty for `none`).
    pub names: Vec<String>,
    /// Labels the scorer itself was trained with elsewhere (e.g. EfficientNet-Lite0's
    /// ImageNet-1k classes), which make up its open vocabulary; not labels of this data set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorer_pretraining: Option<String>,
}

/// Everything a tokenizer's weights were trained with: one entry per run of the warm-start
/// chain (this run last).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelsSeen {
    pub runs: Vec<LabelsUsed>,
}

/// What a scorer was pretrained on, by `semantic.scorer`.
fn scorer_pretraining(scorer: &ScorerKind) -> Option<String> {
    match scorer {
        ScorerKind::Bridge => Some(
            "ImageNet-1k class names (EfficientNet-Lite0's training labels), read through MiniLM"
                .into(),
        ),
        ScorerKind::Clip(_) => Some("CLIP's web image-text pretraining".into()),
        ScorerKind::Label | ScorerKind::Name => None,
    }
}

impl LabelsUsed {
    /// The labels of a run of `cfg` over its training set `set`.
    pub fn of_run(cfg: &TrainConfig, set: &ImageSet) -> Self {
        let sem = &cfg.semantic;
        let guided = sem.weight > 0.0;
        let kind = match sem.scorer {
            _ if !guided => LabelKind::None,
            ScorerKind::Label => LabelKind::ClassNames,
            ScorerKind::Name => LabelKind::ImageNames,
            ScorerKind::Bridge | ScorerKind::Clip(_) => LabelKind::None,
        };
        let mut names: Vec<String> = match kind {
            LabelKind::None => Vec::new(),
            LabelKind::ClassNames => set
                .labels
                .iter()
                .map(|&l| set.class_names[l as usize].clone())
                .collect(),
            LabelKind::ImageNames => set.names.clone(),
        };
        names.sort();
        names.dedup();
        LabelsUsed {
            dataset: cfg.data.dataset.to_string(),
            kind,
            names,
            scorer_pretraining: guided.then(|| scorer_pretraining(&sem.scorer)).flatten(),
        }
    }
}

impl LabelsSeen {
    /// The chain of a run that started from a model with labels `init` (empty for a fresh
    /// start) and used `this`.
    pub fn chain(init: Option<&LabelsSeen>, this: LabelsUsed) -> Self {
        let mut runs = init.map(|l| l.runs.clone()).unwrap_or_default();
        runs.push(this);
        LabelsSeen { runs }
    }

    /// Whether a class of this name was seen labelled in training: it is one of the class or
    /// image names any run of the chain used (case-insensitive, `_` read as a space).
    pub fn saw(&self, class: &str) -> bool {
        self.runs
            .iter()
            .any(|r| r.names.iter().any(|n| same_name(n, class)))
    }

    /// No run used labels of its training data.
    pub fn label_free(&self) -> bool {
        self.runs.iter().all(|r| r.kind == LabelKind::None)
    }

    /// One line for reports: "label-free" or what was seen.
    pub fn summary(&self) -> String {
        let used: Vec<String> = self
            .runs
            .iter()
            .filter(|r| r.kind != LabelKind::None)
            .map(|r| match r.kind {
                LabelKind::ClassNames => {
                    format!("{} class names {}", r.dataset, r.names.join(", "))
                }
                _ => format!("{} names of {} images", r.dataset, r.names.len()),
            })
            .collect();
        let external: Vec<&str> = self
            .runs
            .iter()
            .filter_map(|r| r.scorer_pretraining.as_deref())
            .collect();
        let mut s = if used.is_empty() {
            "label-free (no labels of the training data)".to_string()
        } else {
            format!("trained with labels: {}", used.join("; "))
        };
        if let Some(e) = external.first() {
            s.push_str(&format!("; scorer pretrained on {e}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ImageSet {
        ImageSet {
            width: 1,
            height: 1,
            channels: 1,
            pixels: vec![0; 4],
            labels: vec![2, 0, 2, 0],
            class_names: ["T-shirt", "trouser", "ankle boot"]
                .map(String::from)
                .to_vec(),
            names: ["a cat", "a dog", "a cat", "a hat"]
                .map(String::from)
                .to_vec(),
            source: None,
        }
    }

    fn cfg(weight: f32, scorer: &str) -> TrainConfig {
        let mut c = TrainConfig::default();
        c.semantic.weight = weight;
        c.semantic.scorer = scorer.parse().unwrap();
        c
    }

    #[test]
    fn what_each_scorer_saw() {
        let s = set();
        let label = LabelsUsed::of_run(&cfg(10.0, "label"), &s);
        assert_eq!(label.kind, LabelKind::ClassNames);
        // Only the classes present in the training set, sorted, once each.
        assert_eq!(label.names, ["T-shirt", "ankle boot"]);
        let name = LabelsUsed::of_run(&cfg(10.0, "name"), &s);
        assert_eq!((name.kind, name.names.len()), (LabelKind::ImageNames, 3));
        let bridge = LabelsUsed::of_run(&cfg(10.0, "bridge"), &s);
        assert_eq!(bridge.kind, LabelKind::None);
        assert!(bridge.names.is_empty());
        assert!(bridge.scorer_pretraining.unwrap().contains("ImageNet"));
        // The label scorer with the semantic loss off sees nothing.
        let off = LabelsUsed::of_run(&cfg(0.0, "label"), &s);
        assert_eq!((off.kind, off.scorer_pretraining), (LabelKind::None, None));
    }

    #[test]
    fn seen_by_name_through_the_warm_start_chain() {
        let s = set();
        let appearance = LabelsSeen::chain(None, LabelsUsed::of_run(&cfg(0.0, "label"), &s));
        assert!(appearance.label_free());
        assert!(!appearance.saw("ankle boot"));
        let guided = LabelsSeen::chain(
            Some(&appearance),
            LabelsUsed::of_run(&cfg(10.0, "label"), &s),
        );
        assert_eq!(guided.runs.len(), 2);
        assert!(!guided.label_free());
        assert!(guided.saw("Ankle_Boot") && guided.saw(" t-shirt"));
        assert!(
            !guided.saw("trouser"),
            "a class without training images is unseen"
        );
        // A label-free run on top of a labelled one still carries the labels.
        let open = LabelsSeen::chain(Some(&guided), LabelsUsed::of_run(&cfg(10.0, "bridge"), &s));
        assert!(open.saw("ankle boot") && !open.label_free());
        assert!(open.summary().contains("class names T-shirt, ankle boot"));
        assert!(appearance.summary().starts_with("label-free"));
    }
}
