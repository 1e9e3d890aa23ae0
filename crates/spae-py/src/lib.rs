//! `spae._spae`, the compiled part of the Python package `spae` (crates/spae-py/python/spae wraps
//! it for NumPy and PIL): tokenizers, codebooks, and through `tasks` the frozen LLM's few-shot
//! answers and progressive decoding. Images cross as raw bytes with their shapes, token pyramids
//! as JSON (the `spae encode --json` layers); every heavy call releases the GIL; every error is a
//! `spae.SpaeError` with the library's message.

mod tasks;

use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use spae::assets::Assets;
use spae::codebook::{Codebook, CodebookConfig};
use spae::data::{model_image, Fit, Image};
use spae::device::DeviceSpec;
use spae::pyramid::PyramidLayout;
use spae::tokenizer::{ImageTokenizer, LayerTokens, PyramidEncoding};

create_exception!(
    _spae,
    SpaeError,
    PyException,
    "An error of the spae library (bad image, unknown word, missing file, ...): its message is the library's."
);

/// Any library error as a `SpaeError` with its message.
pub(crate) fn err(e: impl std::fmt::Display) -> PyErr {
    SpaeError::new_err(e.to_string())
}

fn assets(dir: Option<PathBuf>) -> Assets {
    dir.map_or_else(Assets::from_env, Assets::at)
}

/// A trained SPAE tokenizer: images to token pyramids of LLM words and back.
#[pyclass(name = "ImageTokenizer", module = "spae._spae", frozen)]
pub struct PyTokenizer {
    pub(crate) tok: ImageTokenizer,
    path: String,
}

impl PyTokenizer {
    /// Images as the model's input pixels: `data` holds `shapes.len()` 8-bit images back to back,
    /// each `h x w x c` (c = 1, 3 or 4), brought to the canvas by the library's rule.
    fn pixels_u8(
        &self,
        data: &[u8],
        shapes: &[(usize, usize, usize)],
        resize: bool,
    ) -> Result<Vec<f32>, String> {
        let (size, ch) = self.tok.image_shape();
        let fit = if resize { Fit::Resize } else { Fit::Strict };
        let mut out = Vec::with_capacity(shapes.len() * ch * size * size);
        let mut at = 0;
        for (i, &(h, w, c)) in shapes.iter().enumerate() {
            if !matches!(c, 1 | 3 | 4) || h == 0 || w == 0 {
                return Err(format!(
                    "image {i}: shape {h} x {w} x {c} (1, 3 or 4 channels)"
                ));
            }
            let n = h * w * c;
            let pixels = data
                .get(at..at + n)
                .ok_or_else(|| format!("image {i}: {n} bytes past the data's end"))?
                .to_vec();
            at += n;
            let img = Image {
                width: w,
                height: h,
                channels: c,
                pixels,
            };
            let name = PathBuf::from(format!("image {i}"));
            out.extend(model_image(&img, size, ch, fit, &name).map_err(|e| e.to_string())?);
        }
        if at != data.len() {
            return Err(format!("{} bytes for images of {at}", data.len()));
        }
        Ok(out)
    }

    /// Float images already on the canvas (`n x C x S x S`, little-endian f32 in [0, 1]).
    fn pixels_f32(&self, data: &[u8], n: usize) -> Result<Vec<f32>, String> {
        let (size, ch) = self.tok.image_shape();
        let want = n * ch * size * size * 4;
        if data.len() != want {
            return Err(format!(
                "{} bytes for {n} images of {ch} x {size} x {size} floats ({want})",
                data.len()
            ));
        }
        let px: Vec<f32> = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(v) = px.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(format!("a float pixel is {v}; floats must be in [0, 1]"));
        }
        Ok(px)
    }

    /// Pixels given as 8-bit images (`shapes`) or floats on the canvas (`shapes` empty, `n`).
    pub(crate) fn pixels(
        &self,
        data: &[u8],
        shapes: &[(usize, usize, usize)],
        n: usize,
        resize: bool,
    ) -> PyResult<Vec<f32>> {
        match shapes.is_empty() {
            true => self.pixels_f32(data, n),
            false => self.pixels_u8(data, shapes, resize),
        }
        .map_err(err)
    }
}

fn to_bytes(py: Python<'_>, px: &[f32]) -> Py<PyBytes> {
    let raw: Vec<u8> = px.iter().flat_map(|v| v.to_le_bytes()).collect();
    PyBytes::new(py, &raw).unbind()
}

#[pymethods]
impl PyTokenizer {
    /// Loads a checkpoint folder, a run folder (its latest checkpoint) or a released model onto
    /// `device` ("cpu", or a GPU name in a build with that backend). Its codebook is built
    /// from the installed LLM when missing (`assets`: the asset folder, default $SPAE_ASSETS or
    /// ./assets).
    #[staticmethod]
    #[pyo3(signature = (path, device = "cpu", assets = None))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        device: &str,
        assets: Option<PathBuf>,
    ) -> PyResult<Self> {
        let device = DeviceSpec::resolve(Some(device))
            .and_then(DeviceSpec::device)
            .map_err(err)?;
        let a = self::assets(assets);
        let tok = py
            .detach(|| spae_llm::codebooks::load_tokenizer(&path, &a, &device, &mut |_, _| {}))
            .map_err(err)?;
        Ok(Self {
            tok,
            path: path.display().to_string(),
        })
    }

    /// The model's square canvas side in pixels.
    #[getter]
    fn image_size(&self) -> usize {
        self.tok.image_shape().0
    }

    /// 1 (gray) or 3 (RGB).
    #[getter]
    fn channels(&self) -> usize {
        self.tok.image_shape().1
    }

    /// Words per pyramid layer.
    #[getter]
    fn layer_sizes(&self) -> Vec<usize> {
        self.tok.pyramid().layer_sizes()
    }

    /// The fewest layers whose words cover every latent position (decodable).
    #[getter]
    fn first_decodable_depth(&self) -> usize {
        self.tok.pyramid().first_decodable_depth()
    }

    /// The codebook's words (leading space included), in codebook order.
    fn words(&self) -> Vec<String> {
        self.tok
            .codebook()
            .words
            .iter()
            .map(|w| w.text.clone())
            .collect()
    }

    fn __repr__(&self) -> String {
        let (s, c) = self.tok.image_shape();
        format!(
            "ImageTokenizer('{}', {s}x{s}x{c}, layers {:?})",
            self.path,
            self.layer_sizes()
        )
    }

    /// Token pyramids of images as JSON (a list per image of `spae encode --json` layers). Images:
    /// 8-bit `data` with `shapes` (h, w, c) each, resized by the library's rule unless
    /// `resize` is false; or, with `shapes` empty, `n` float images already on the canvas.
    #[pyo3(signature = (data, shapes, n = 0, resize = true))]
    fn _encode(
        &self,
        py: Python<'_>,
        data: Vec<u8>,
        shapes: Vec<(usize, usize, usize)>,
        n: usize,
        resize: bool,
    ) -> PyResult<String> {
        py.detach(|| {
            let px = self.pixels(&data, &shapes, n, resize)?;
            let enc = self.tok.encode(&px).map_err(err)?;
            serde_json::to_string(enc.images()).map_err(err)
        })
    }

    /// Pixels (`n x C x S x S` little-endian f32) of token pyramids given as JSON (a list per
    /// image of layers), from their first `depth` layers.
    fn _decode(&self, py: Python<'_>, layers_json: String, depth: usize) -> PyResult<Py<PyBytes>> {
        let px = py.detach(|| {
            let images: Vec<Vec<LayerTokens>> = serde_json::from_str(&layers_json)
                .map_err(|e| err(format!("bad token JSON: {e}")))?;
            self.tok
                .decode(&PyramidEncoding::from_layers(images), depth)
                .map_err(err)
        })?;
        Ok(to_bytes(py, &px))
    }

    /// Pixels of flat id sequences (layers 1..=depth in order, as an LLM writes them).
    fn _decode_ids(
        &self,
        py: Python<'_>,
        ids: Vec<Vec<u32>>,
        depth: usize,
    ) -> PyResult<Py<PyBytes>> {
        let px = py.detach(|| self.tok.decode_ids(&ids, depth).map_err(err))?;
        Ok(to_bytes(py, &px))
    }
}

/// A frozen language codebook: the words of an LLM's vocabulary and their input embeddings.
#[pyclass(name = "Codebook", module = "spae._spae", frozen)]
pub struct PyCodebook {
    cb: Codebook,
}

#[pymethods]
impl PyCodebook {
    /// Loads a codebook folder (`codebook.safetensors` + `codebook.vocab.json`).
    #[staticmethod]
    fn load(py: Python<'_>, dir: PathBuf) -> PyResult<Self> {
        let cb = py.detach(|| Codebook::load(&dir)).map_err(err)?;
        Ok(Self { cb })
    }

    /// Builds the codebook of a GGUF LLM with the default rule (single-token words of at least
    /// two ASCII letters after one leading space, checked to round-trip through the LLM's
    /// tokenizer) and saves it in `out`.
    #[staticmethod]
    fn from_gguf(py: Python<'_>, path: PathBuf, out: PathBuf) -> PyResult<Self> {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let cb = py
            .detach(|| {
                spae_llm::codebooks::build_codebook(
                    &path,
                    &name,
                    &CodebookConfig::default(),
                    &out,
                    &mut |_, _| {},
                )
            })
            .map_err(err)?;
        Ok(Self { cb })
    }

    fn __len__(&self) -> usize {
        self.cb.words.len()
    }

    /// The words (leading space included), in codebook order.
    fn words(&self) -> Vec<String> {
        self.cb.words.iter().map(|w| w.text.clone()).collect()
    }

    /// The LLM vocabulary id of each word, in codebook order.
    fn ids(&self) -> Vec<u32> {
        self.cb.words.iter().map(|w| w.id).collect()
    }

    /// The `k` words nearest to `word` (with or without its leading space) by cosine similarity
    /// of their embeddings, best first, as (word, cosine).
    #[pyo3(signature = (word, k = 8))]
    fn nearest(&self, py: Python<'_>, word: &str, k: usize) -> PyResult<Vec<(String, f32)>> {
        py.detach(|| {
            self.cb
                .neighbors(word, k)
                .map(|v| v.into_iter().map(|(w, c)| (w.text.clone(), c)).collect())
                .map_err(err)
        })
    }

    /// The source LLM's file name and sha256.
    #[getter]
    fn source(&self) -> (String, String) {
        (self.cb.source.name.clone(), self.cb.source.sha256.clone())
    }
}

#[pymodule]
fn _spae(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SpaeError", m.py().get_type::<SpaeError>())?;
    m.add_class::<PyTokenizer>()?;
    m.add_class::<PyCodebook>()?;
    m.add_class::<tasks::PyLlm>()?;
    Ok(())
}
