//! The endpoints, as a function of a request's parts: no sockets here, so every route can be
//! tested (and fuzzed) without a server.

use std::path::Path;

use serde_json::json;
use spae::data::{decode_image_within, encode_png, model_image, Fit, Image};
use spae::pyramid::PyramidLayout;
use spae::tokenizer::{PyramidEncoding, TokenizerError};

use crate::request::{image_bytes, parse_layers, Query};
use crate::{ApiError, Limits, Model, Service};

/// A request as the routes see it.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: String,
    /// The path without its query.
    pub path: String,
    /// The query string after `?` (may be empty).
    pub query: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// An answer: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub(crate) fn json(value: serde_json::Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_vec(&value).unwrap_or_default(),
        }
    }

    pub fn error(e: &ApiError) -> Self {
        Self {
            status: e.status,
            content_type: "application/json",
            body: e.body(),
        }
    }
}

/// The pyramid viewer (plain HTML and JavaScript, no build step), served at `/`.
pub const VIEWER: &str = include_str!("viewer.html");

/// The endpoints, for 404 answers.
pub const ENDPOINTS: &str =
    "GET / (the viewer), GET /healthz, GET /v1/models, POST /v1/encode, POST /v1/decode, \
                             POST /v1/nearest, POST /v1/fewshot";

impl Service {
    /// Answers one request.
    pub fn handle(&self, req: &ApiRequest) -> ApiResponse {
        match self.route(req) {
            Ok(r) => r,
            Err(e) => ApiResponse::error(&e),
        }
    }

    fn route(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let allowed = match req.path.as_str() {
            "/" | "/healthz" | "/v1/models" => "GET",
            "/v1/encode" | "/v1/decode" | "/v1/nearest" | "/v1/fewshot" => "POST",
            other => {
                return Err(ApiError::new(
                    404,
                    "not_found",
                    format!("no endpoint {other}; there are {ENDPOINTS}"),
                ))
            }
        };
        if req.method != allowed {
            return Err(ApiError::new(
                405,
                "method_not_allowed",
                format!("{} takes {allowed}, not {}", req.path, req.method),
            ));
        }
        let query = Query::parse(&req.query)?;
        match req.path.as_str() {
            "/" => Ok(ApiResponse {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: VIEWER.as_bytes().to_vec(),
            }),
            "/healthz" => Ok(ApiResponse::json(
                json!({"status": "ok", "models": self.models.len()}),
            )),
            "/v1/models" => Ok(ApiResponse::json(json!({
                "models": self.models.iter().map(describe).collect::<Vec<_>>(),
                "llm": self.llm.as_ref().map(|l| l.name.clone()),
            }))),
            "/v1/encode" => self.encode(req, &query),
            "/v1/decode" => self.decode(req, &query),
            "/v1/nearest" => self.nearest(&req.body, &query),
            _ => self.fewshot(&req.body, &query),
        }
    }

    /// The model a query names (`model=`), or the first one served.
    pub(crate) fn model(&self, query: &Query) -> Result<&Model, ApiError> {
        match &query.model {
            None => Ok(&self.models[0]),
            Some(name) => self.models.iter().find(|m| &m.name == name).ok_or_else(|| {
                let names: Vec<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
                ApiError::new(
                    404,
                    "unknown_model",
                    format!("no model '{name}'; this server has {}", names.join(", ")),
                )
            }),
        }
    }

    /// `POST /v1/encode[?model=M][&resize=false]`: an image (PNG, JPEG or WebP as the body, or
    /// the file part of a multipart form) to its token pyramid.
    fn encode(&self, req: &ApiRequest, query: &Query) -> Result<ApiResponse, ApiError> {
        let m = self.model(query)?;
        let bytes = image_bytes(req.content_type.as_deref(), &req.body)?;
        let fit = match query.resize {
            true => Fit::Resize,
            false => Fit::Strict,
        };
        let (img, px) = upload_pixels(m, &self.limits, bytes, "image", fit)?;
        let (size, ch) = m.tokenizer.image_shape();
        let enc = m.tokenizer.encode(&px).map_err(tokens_error)?;
        Ok(ApiResponse::json(json!({
            "model": m.name,
            "image": {"width": img.width, "height": img.height, "channels": img.channels},
            "canvas": [size, size, ch],
            "layers": enc.layers(0),
        })))
    }

    /// `POST /v1/decode[?model=M][&depth=K]`: tokens (the encode answer, `{"layers": [...]}`,
    /// or a token file of `spae encode`) to a PNG of the first K layers (default: all given).
    fn decode(&self, req: &ApiRequest, query: &Query) -> Result<ApiResponse, ApiError> {
        let m = self.model(query)?;
        let text = std::str::from_utf8(&req.body)
            .map_err(|_| ApiError::bad_request("the tokens are not UTF-8 text"))?;
        let layers = parse_layers(text)?;
        let depth = query.depth.unwrap_or(layers.len());
        let enc = PyramidEncoding::from_layers(vec![layers]);
        let px = m.tokenizer.decode(&enc, depth).map_err(tokens_error)?;
        let (size, ch) = m.tokenizer.image_shape();
        let png = encode_png(&px, ch, size, size).map_err(|e| ApiError::new(500, "internal", e))?;
        Ok(ApiResponse {
            status: 200,
            content_type: "image/png",
            body: png,
        })
    }
}

/// An uploaded image (`what` names it in errors) decoded and brought to `m`'s canvas by `fit`:
/// the decoded image and the model's input pixels. Bad bytes or sizes are 422.
pub(crate) fn upload_pixels(
    m: &Model,
    limits: &Limits,
    bytes: &[u8],
    what: &str,
    fit: Fit,
) -> Result<(Image, Vec<f32>), ApiError> {
    let path = Path::new(what);
    let bad = |e: spae::data::DataError| ApiError::unprocessable("bad_image", e.to_string());
    let img = decode_image_within(bytes, path, limits.max_image_pixels).map_err(bad)?;
    let (size, ch) = m.tokenizer.image_shape();
    let px = model_image(&img, size, ch, fit, path).map_err(bad)?;
    Ok((img, px))
}

/// Tokenizer errors from what a request sent are 422; the pyramid's own (depth) too.
fn tokens_error(e: TokenizerError) -> ApiError {
    ApiError::unprocessable("bad_tokens", e.to_string())
}

/// What `GET /v1/models` says of a model.
fn describe(m: &Model) -> serde_json::Value {
    let (size, ch) = m.tokenizer.image_shape();
    let p = m.tokenizer.pyramid();
    let cb = m.tokenizer.codebook();
    json!({
        "name": m.name,
        "source": m.source,
        "canvas": [size, size, ch],
        "layer_sizes": p.layer_sizes(),
        "first_decodable_depth": p.first_decodable_depth(),
        "codebook": {"llm": cb.source.name, "words": cb.words.len()},
    })
}
