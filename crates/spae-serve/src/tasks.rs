//! The endpoints beyond encode / decode: nearest words in the codebook (`POST /v1/nearest`) and a
//! few-shot question to the frozen LLM (`POST /v1/fewshot`).

use std::time::Instant;

use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use spae::data::Fit;
use spae::pyramid::PyramidLayout;

use crate::request::Query;
use crate::routes::{upload_pixels, ApiResponse};
use crate::{ApiError, Model, Service};
use spae_icl::fewshot::question::Question;

/// Most support images a few-shot request may send.
pub const MAX_SUPPORT: usize = 32;
/// Most classes of a few-shot request.
pub const MAX_CLASSES: usize = 16;
/// Most nearest words one request may ask for.
pub const MAX_NEAREST: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NearestBody {
    word: String,
    #[serde(default = "eight")]
    k: usize,
}

fn eight() -> usize {
    8
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    label: String,
    /// Base64 of a PNG, JPEG or WebP file (a `data:` URL's prefix is allowed).
    image: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FewshotBody {
    support: Vec<Example>,
    query: String,
    /// Pyramid layers whose words stand for an image.
    #[serde(default = "two")]
    layers: usize,
    #[serde(default = "yes")]
    induction: bool,
}

fn two() -> usize {
    2
}

fn yes() -> bool {
    true
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))
}

/// Base64 (or a base64 `data:` URL) to the bytes of an image file.
fn base64_image(text: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    let b64 = match text.strip_prefix("data:") {
        Some(url) => url.split_once(',').map_or("", |(_, d)| d),
        None => text,
    };
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| ApiError::bad_request(format!("{what}: not base64: {e}")))
}

impl Service {
    /// A base64 image of a few-shot request (`what` names it in errors) as `m`'s input pixels,
    /// resized to its canvas.
    fn base64_pixels(&self, m: &Model, text: &str, what: &str) -> Result<Vec<f32>, ApiError> {
        let bytes = base64_image(text, what)?;
        Ok(upload_pixels(m, &self.limits, &bytes, what, Fit::Resize)?.1)
    }

    /// `POST /v1/nearest[?model=M]` with `{"word": " cat", "k": 8}`: the codebook words nearest
    /// to a word by cosine similarity of their LLM input embeddings.
    pub(crate) fn nearest(&self, body: &[u8], query: &Query) -> Result<ApiResponse, ApiError> {
        let m = self.model(query)?;
        let b: NearestBody = json_body(body)?;
        if b.k == 0 || b.k > MAX_NEAREST {
            return Err(ApiError::bad_request(format!(
                "k={}: 1 to {MAX_NEAREST}",
                b.k
            )));
        }
        let cb = m.tokenizer.codebook();
        let near = cb
            .neighbors(&b.word, b.k)
            .map_err(|e| ApiError::unprocessable("unknown_word", e.to_string()))?;
        let near: Vec<_> = near
            .iter()
            .map(|(w, cos)| json!({"word": w.text, "id": w.id, "cosine": cos}))
            .collect();
        Ok(ApiResponse::json(
            json!({"model": m.name, "word": b.word, "nearest": near}),
        ))
    }

    /// `POST /v1/fewshot[?model=M]`: labelled support images and a query image (base64), the
    /// frozen LLM's answer among the labels (Table 1's prompt, constrained decoding).
    pub(crate) fn fewshot(&self, body: &[u8], query: &Query) -> Result<ApiResponse, ApiError> {
        let m = self.model(query)?;
        let llm = self.llm.as_ref().ok_or_else(|| {
            ApiError::new(
                501,
                "no_llm",
                "this server runs no LLM: start it with --llm to answer few-shot questions",
            )
        })?;
        let b: FewshotBody = json_body(body)?;
        if b.support.is_empty() || b.support.len() > MAX_SUPPORT {
            return Err(ApiError::unprocessable(
                "bad_support",
                format!("{} support images: 1 to {MAX_SUPPORT}", b.support.len()),
            ));
        }
        let n_layers = m.tokenizer.pyramid().layer_sizes().len();
        if b.layers == 0 || b.layers > n_layers {
            return Err(ApiError::unprocessable(
                "bad_layers",
                format!("layers={}: this model has 1 to {n_layers}", b.layers),
            ));
        }
        let mut class_names: Vec<String> = Vec::new();
        let mut labels = Vec::new();
        let mut px = Vec::new();
        for (i, ex) in b.support.iter().enumerate() {
            let label = ex.label.trim();
            if label.is_empty() || label.len() > 64 || label.contains(['\n', '\r']) {
                return Err(ApiError::unprocessable(
                    "bad_labels",
                    format!("support {i}: a label is 1 to 64 characters on one line"),
                ));
            }
            let c = match class_names.iter().position(|n| n == label) {
                Some(c) => c,
                None => {
                    class_names.push(label.to_string());
                    class_names.len() - 1
                }
            };
            labels.push(c as u32);
            px.extend(self.base64_pixels(m, &ex.image, &format!("support {i}"))?);
        }
        if class_names.len() < 2 || class_names.len() > MAX_CLASSES {
            return Err(ApiError::unprocessable(
                "bad_labels",
                format!(
                    "{} different labels: a question needs 2 to {MAX_CLASSES}",
                    class_names.len()
                ),
            ));
        }
        px.extend(self.base64_pixels(m, &b.query, "query")?);
        let t = Instant::now();
        let mut words = m
            .tokenizer
            .word_ids(&px, b.layers)
            .map_err(|e| ApiError::unprocessable("bad_tokens", e.to_string()))?;
        let query_words = words.pop().unwrap_or_default();
        let answer = llm.ask(Question {
            class_names: class_names.clone(),
            support: words.into_iter().zip(labels).collect(),
            query: query_words,
            induction: b.induction,
        })?;
        Ok(ApiResponse::json(json!({
            "model": m.name,
            "llm": llm.name,
            "answer": class_names[answer.class],
            "classes": class_names,
            "layers": b.layers,
            "prompt": answer.prompt,
            "prompt_tokens": answer.prompt_tokens,
            "seconds": t.elapsed().as_secs_f64(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_data_urls() {
        assert_eq!(base64_image("aGk=", "x").unwrap(), b"hi");
        assert_eq!(
            base64_image("data:image/png;base64,aGk=", "x").unwrap(),
            b"hi"
        );
        let e = base64_image("not base64!", "support 3").unwrap_err();
        assert!(e.message.starts_with("support 3: not base64"), "{e}");
    }
}
