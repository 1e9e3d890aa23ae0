//! A request's parts as the endpoints read them: the query string, the image of an encode body
//! (raw or a multipart form), the tokens of a decode body. Pure parsing over outside bytes, no
//! model: what the `serve_request` fuzz target runs.

use serde::Deserialize;
use serde_json::json;
use spae::tokenizer::{parse_tokens, LayerTokens};

use crate::{multipart, ApiError};

/// The image bytes of an encode request: the file part of a `multipart/form-data` body, else the
/// body itself; an empty one is refused.
pub fn image_bytes<'a>(content_type: Option<&str>, body: &'a [u8]) -> Result<&'a [u8], ApiError> {
    let ct = content_type.unwrap_or("");
    let bytes = if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        multipart::image_part(body, multipart::boundary(ct)?)?
    } else {
        body
    };
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty body: send an image (PNG, JPEG or WebP) or a multipart form with one",
        ));
    }
    Ok(bytes)
}

/// The layers of a decode request: `{"layers": [...]}` or a token file's text.
pub fn parse_layers(text: &str) -> Result<Vec<LayerTokens>, ApiError> {
    #[derive(Deserialize)]
    struct Layers {
        layers: Vec<LayerTokens>,
    }
    let bad = |m: String| ApiError::unprocessable("bad_tokens", m);
    if text.trim_start().starts_with('{') {
        let l: Layers =
            serde_json::from_str(text).map_err(|e| bad(format!("bad token JSON: {e}")))?;
        // The same checks as a token file's (numbered 1, 2, ... in order).
        let as_file = serde_json::to_string(&json!([{"image": "", "layers": l.layers}]))
            .map_err(|e| bad(e.to_string()))?;
        parse_tokens(&as_file, 0).map_err(|e| bad(e.to_string()))
    } else {
        parse_tokens(text, 0).map_err(|e| bad(e.to_string()))
    }
}

/// The query parameters the endpoints read; any other is refused by name.
#[derive(Debug, Default)]
pub struct Query {
    pub model: Option<String>,
    pub depth: Option<usize>,
    pub resize: bool,
}

impl Query {
    pub fn parse(q: &str) -> Result<Self, ApiError> {
        let mut out = Query {
            resize: true,
            ..Default::default()
        };
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "model" => out.model = Some(v.to_string()),
                "depth" => {
                    out.depth = Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!("depth={v} is not a layer count"))
                    })?)
                }
                "resize" => {
                    out.resize = match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(ApiError::bad_request(format!("resize={v}: true or false")))
                        }
                    }
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown query parameter '{other}' (model, depth, resize)"
                    )))
                }
            }
        }
        Ok(out)
    }
}

/// The fuzz target `serve_request` and its seed test: `QUERY \n CONTENT-TYPE \n BODY` parsed as
/// the endpoints parse it; bad input must be a 4xx naming the problem, never a panic.
pub fn fuzz(data: &[u8]) {
    fn check<T>(r: &Result<T, ApiError>) {
        if let Err(e) = r {
            assert!(
                (400..500).contains(&e.status) && !e.message.is_empty(),
                "{e}"
            );
        }
    }
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let content_type = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    check(&Query::parse(&query));
    let image = image_bytes(Some(&content_type), body);
    check(&image);
    if let Ok(bytes) = image {
        assert!(!bytes.is_empty() && bytes.len() <= body.len());
    }
    if let Ok(text) = std::str::from_utf8(body) {
        check(&parse_layers(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_by_hand() {
        let q = Query::parse("model=a&depth=3&resize=false").unwrap();
        assert_eq!(
            (q.model.as_deref(), q.depth, q.resize),
            (Some("a"), Some(3), false)
        );
        assert!(Query::parse("").unwrap().resize);
        let e = Query::parse("depth=x").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(Query::parse("colour=red")
            .unwrap_err()
            .message
            .contains("'colour'"));
    }

    #[test]
    fn token_bodies() {
        let e = parse_layers("{\"layers\": []}").unwrap_err();
        assert!(e.message.contains("no layers") && e.status == 422, "{e}");
        let e = parse_layers("{nope").unwrap_err();
        assert!(e.message.contains("bad token JSON"), "{e}");
    }
}
