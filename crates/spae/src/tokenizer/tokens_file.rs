//! Token files, as `spae encode` writes them and `spae decode` reads them: the JSON list of
//! encoded images (`spae encode --json`) or the plain form, one line a layer
//! (`layer N (HxW): w1 w2 ...`). Parsing only; [`super::ImageTokenizer::decode`] checks the
//! words against its codebook and pyramid.

use serde::{Deserialize, Serialize};

use super::{LayerTokens, TokenizerError};

/// One encoded image of a JSON token file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedImage {
    pub image: String,
    pub layers: Vec<LayerTokens>,
}

fn bad(what: String) -> TokenizerError {
    TokenizerError::Tokens(what)
}

/// The layers of image `index` of a token file's text (JSON or plain form): at least one, numbered
/// 1, 2, ... in order.
pub fn parse_tokens(text: &str, index: usize) -> Result<Vec<LayerTokens>, TokenizerError> {
    let layers = if text.trim_start().starts_with('[') {
        let mut all: Vec<EncodedImage> =
            serde_json::from_str(text).map_err(|e| bad(format!("bad token JSON: {e}")))?;
        if index >= all.len() {
            return Err(bad(format!("holds {} images, no index {index}", all.len())));
        }
        all.swap_remove(index).layers
    } else {
        parse_plain(text)?
    };
    // Both forms (found by fuzzing: the JSON form accepted an empty or shuffled list).
    if layers.is_empty() {
        return Err(bad(format!("image {index} has no layers")));
    }
    if let Some((i, l)) = layers.iter().enumerate().find(|(i, l)| l.layer != i + 1) {
        return Err(bad(format!(
            "layer {} out of order (position {})",
            l.layer,
            i + 1
        )));
    }
    Ok(layers)
}

/// The plain form's layer lines (`layer N (HxW): w1 w2 ...`), in file order.
fn parse_plain(text: &str) -> Result<Vec<LayerTokens>, TokenizerError> {
    text.lines()
        .filter(|l| l.starts_with("layer "))
        .map(|line| {
            let (head, words) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("line '{line}' has no ':'")))?;
            let n: usize = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(format!("bad layer header '{head}'")))?;
            Ok(LayerTokens {
                layer: n,
                grid: [0, 0],
                positions: Vec::new(),
                ids: Vec::new(),
                words: words.split_whitespace().map(|w| format!(" {w}")).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_json_forms() {
        let plain = "a.png\nlayer 1 (1x1): Sand\nlayer 2 (2x2): a b c d\n";
        let l = parse_tokens(plain, 0).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].words, [" a", " b", " c", " d"]);
        let json = serde_json::to_string(&vec![EncodedImage {
            image: "a.png".into(),
            layers: l.clone(),
        }])
        .unwrap();
        assert_eq!(parse_tokens(&json, 0).unwrap(), l);
        for (text, index, want) in [
            (json.as_str(), 1, "no index 1"),
            ("layer 2 (1x1): x", 0, "out of order"),
            ("layer x: y", 0, "bad layer header"),
            ("layer 1 no colon", 0, "no ':'"),
            ("nothing", 0, "no layers"),
            ("[{]", 0, "bad token JSON"),
            (r#"[{"image": "a", "layers": []}]"#, 0, "has no layers"),
        ] {
            let e = parse_tokens(text, index).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
