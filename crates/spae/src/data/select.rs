//! Parts of an [`ImageSet`]: chosen images, chosen classes (a class-disjoint split, like
//! mini-ImageNet's: a tokenizer trained on some classes, evaluated on the others) and
//! class-balanced random samples (FID floors).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::ImageSet;

impl ImageSet {
    /// Images `indices`, in that order, with their labels and names.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let decoded = self.source.is_none();
        let mut out = ImageSet {
            pixels: Vec::with_capacity(indices.len() * self.image_len() * usize::from(decoded)),
            labels: Vec::with_capacity(indices.len()),
            class_names: self.class_names.clone(),
            names: Vec::new(),
            source: self.source.as_ref().map(|s| s.subset(indices)),
            ..*self
        };
        for &i in indices {
            if decoded {
                out.pixels.extend_from_slice(self.image(i));
            }
            out.labels.push(self.labels[i]);
            if let Some(name) = self.names.get(i) {
                out.names.push(name.clone());
            }
        }
        out
    }

    /// The label of each class name in `names` (case-insensitive, `_` read as a space); an
    /// unknown name is an error that lists the set's classes.
    pub fn class_labels(&self, names: &[String]) -> Result<Vec<u32>, String> {
        names
            .iter()
            .map(|n| {
                self.class_names
                    .iter()
                    .position(|c| same_name(c, n))
                    .map(|p| p as u32)
                    .ok_or_else(|| {
                        format!(
                            "no class '{n}' (the classes are: {})",
                            self.class_names.join(", ")
                        )
                    })
            })
            .collect()
    }

    /// The images of the classes `labels` only (labels and class names unchanged, so a class
    /// keeps its name and number).
    pub fn with_labels(&self, labels: &[u32]) -> ImageSet {
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| labels.contains(&self.labels[i]))
            .collect();
        self.subset(&keep)
    }

    /// `n` images drawn at random (seeded) with the classes as equal as the set allows: each
    /// class contributes `n / classes` images (the first classes one more for the remainder),
    /// a class with too few gives all it has and the rest is drawn from the others. For
    /// statistics that must not depend on the set's storage order (e.g. the MNIST digits are
    /// stored class by class).
    pub fn balanced_sample(&self, n: usize, seed: u64) -> Vec<usize> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.class_names.len().max(1)];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[l as usize].push(i);
        }
        by_class.retain(|c| !c.is_empty());
        by_class.iter_mut().for_each(|c| c.shuffle(&mut rng));
        let n = n.min(self.len());
        let mut out = Vec::with_capacity(n);
        let mut taken = vec![0usize; by_class.len()];
        // Round robin over the classes: every class gives one image per round while it has any.
        while out.len() < n {
            for (c, imgs) in by_class.iter().enumerate() {
                if out.len() < n && taken[c] < imgs.len() {
                    out.push(imgs[taken[c]]);
                    taken[c] += 1;
                }
            }
        }
        out.sort_unstable();
        out
    }
}

/// Whether two class names are the same name: case-insensitive, `_` read as a space, outer
/// spaces ignored.
pub fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().replace('_', " ").to_lowercase();
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ImageSet {
        ImageSet {
            width: 1,
            height: 1,
            channels: 1,
            pixels: (0..10).collect(),
            labels: vec![0, 0, 0, 0, 0, 0, 1, 1, 2, 2],
            class_names: ["ankle boot", "bag", "coat"].map(String::from).to_vec(),
            names: Vec::new(),
            source: None,
        }
    }

    #[test]
    fn classes_by_name() {
        let s = set();
        assert_eq!(
            s.class_labels(&["Ankle_Boot".into(), " coat".into()]),
            Ok(vec![0, 2])
        );
        let e = s.class_labels(&["shoe".into()]).unwrap_err();
        assert!(
            e.contains("'shoe'") && e.contains("ankle boot, bag, coat"),
            "{e}"
        );
        let only = s.with_labels(&[1, 2]);
        assert_eq!(only.labels, vec![1, 1, 2, 2]);
        assert_eq!(only.pixels, vec![6, 7, 8, 9]);
        assert_eq!(only.class_names.len(), 3);
    }

    #[test]
    fn balanced_sample_by_hand() {
        let s = set();
        // 6 images over 3 classes: 2 each.
        let pick = s.balanced_sample(6, 0);
        let count = |c| pick.iter().filter(|&&i| s.labels[i] == c).count();
        assert_eq!((count(0), count(1), count(2)), (2, 2, 2));
        // 8 images: classes 1 and 2 have only 2, so class 0 gives the other 4.
        let pick = s.balanced_sample(8, 1);
        assert_eq!(
            (pick.len(), pick.iter().filter(|&&i| i < 6).count()),
            (8, 4)
        );
        // More than the set: all of it, each once.
        assert_eq!(s.balanced_sample(99, 2), (0..10).collect::<Vec<_>>());
        assert_eq!(s.balanced_sample(6, 3), s.balanced_sample(6, 3));
    }
}
