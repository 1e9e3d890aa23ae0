//! How the bridge scorer reads images (configuration only: a leaf that `semantic`'s
//! configuration names without importing the scorers).

use serde::{Deserialize, Serialize};

/// When to show a gray image inverted (dark object on a light ground) to the classifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Invert {
    /// As stored (the plain bridge scorer).
    #[default]
    Never,
    /// When the image's border is darker than mid-gray (Fashion-MNIST, MNIST: light on black),
    /// as ImageNet's product photos are dark on light.
    Auto,
    Always,
}

/// How the bridge scorer reads images; the defaults are the plain scorer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BridgeOptions {
    pub invert: Invert,
    /// Test-time augmentation: the mean of the probabilities of the image and its mirror image.
    pub flip: bool,
    /// Only the `top_classes` most probable ImageNet classes, renormalised, make up `f_img`
    /// (0: all 1000): mixtures of many classes all point near the mean class embedding.
    pub top_classes: usize,
    /// Subtract the mean `f_img` of the scored images (the training set) before normalising:
    /// `s(I, k) - mean_J s(I_J, k) = (f_img(I) - mean f_img) . t(k)`, so Eq. 6 ranks words by how
    /// much better they fit this image than the average one, and generic words that fit every
    /// image ("something") drop out of the pools. Uses no label.
    pub center: bool,
    /// Replace every image's `f_img` by the mean over its `neighbours` nearest scored images
    /// (itself included; cosine of the classifier's features), before centring: images that look
    /// alike get the same pools, so the words they are pulled towards agree. 0: off. Uses no
    /// label.
    pub neighbours: usize,
    /// Replace every image's `f_img` by the centroid of its cluster among `clusters` spherical
    /// k-means clusters of the scored images (after `neighbours`, before centring): images of one
    /// cluster share one pool, so the words they are pulled towards are the same, as the label
    /// scorer's are within a class, without any label (the clusters are found, not given). 0: off.
    pub clusters: usize,
}

impl BridgeOptions {
    /// Whether these are the plain scorer's (for leaving them out of configuration files).
    pub fn is_plain(&self) -> bool {
        *self == BridgeOptions::default()
    }
}
