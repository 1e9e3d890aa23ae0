//! A batch of images as token pyramids: what [`ImageTokenizer::encode`](super::ImageTokenizer::encode)
//! gives and [`ImageTokenizer::decode`](super::ImageTokenizer::decode) takes back.

use super::LayerTokens;

/// Token pyramids of a batch of images: per image and layer its grid, positions, LLM ids and
/// words.
#[derive(Debug, Clone, PartialEq)]
pub struct PyramidEncoding {
    images: Vec<Vec<LayerTokens>>,
}

impl PyramidEncoding {
    /// Pyramids given layer by layer (e.g. read back from `spae encode --json`); every image
    /// must have its layers in order from layer 1.
    pub fn from_layers(images: Vec<Vec<LayerTokens>>) -> Self {
        PyramidEncoding { images }
    }

    /// Images encoded.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Image `i`'s layers (layer 1 first).
    pub fn layers(&self, i: usize) -> &[LayerTokens] {
        &self.images[i]
    }

    /// Every image's layers.
    pub fn images(&self) -> &[Vec<LayerTokens>] {
        &self.images
    }

    /// Each image's LLM ids of layers 1..=`depth`, layer after layer (as a prompt gives them).
    pub fn ids(&self, depth: usize) -> Vec<Vec<u32>> {
        self.flat(depth, |l| &l.ids)
    }

    /// Each image's words of layers 1..=`depth`, layer after layer.
    pub fn words(&self, depth: usize) -> Vec<Vec<String>> {
        self.flat(depth, |l| &l.words)
    }

    /// One field of every layer 1..=`depth`, concatenated per image.
    fn flat<T: Clone>(&self, depth: usize, field: impl Fn(&LayerTokens) -> &[T]) -> Vec<Vec<T>> {
        self.images
            .iter()
            .map(|layers| {
                layers
                    .iter()
                    .take(depth)
                    .flat_map(|l| field(l).to_vec())
                    .collect()
            })
            .collect()
    }

    /// The flat latent positions (`row * width + col`) of layer `layer` (1-based), the same for
    /// every image; `None` past the pyramid or for an empty batch.
    pub fn positions(&self, layer: usize) -> Option<&[usize]> {
        let first = self.images.first()?;
        layer
            .checked_sub(1)
            .and_then(|l| first.get(l))
            .map(|l| l.positions.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(layer: usize, ids: &[u32], words: &[&str]) -> LayerTokens {
        LayerTokens {
            layer,
            grid: [1, ids.len()],
            positions: (0..ids.len()).collect(),
            ids: ids.to_vec(),
            words: words.iter().map(|w| w.to_string()).collect(),
        }
    }

    #[test]
    fn ids_and_words_by_depth() {
        let enc = PyramidEncoding::from_layers(vec![
            vec![layer(1, &[7], &[" a"]), layer(2, &[8, 9], &[" b", " c"])],
            vec![layer(1, &[5], &[" d"]), layer(2, &[6, 4], &[" e", " f"])],
        ]);
        assert_eq!(enc.len(), 2);
        assert_eq!(enc.ids(1), vec![vec![7], vec![5]]);
        assert_eq!(enc.ids(2), vec![vec![7, 8, 9], vec![5, 6, 4]]);
        assert_eq!(enc.words(2)[1], vec![" d", " e", " f"]);
        assert_eq!(enc.positions(2), Some(&[0, 1][..]));
        assert_eq!(enc.positions(3), None);
        assert_eq!(enc.positions(0), None);
    }
}
