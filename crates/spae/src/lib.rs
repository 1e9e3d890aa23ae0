//! SPAE, the Semantic Pyramid AutoEncoder (Yu et al., NeurIPS 2023): images as words of a frozen
//! LLM's vocabulary.
//!
//! Modules follow the method: [`codebook`] (the frozen language codebook), [`pyramid`] (the
//! dilation subsampler, Eq. 1), [`quantizer`] (nearest-word search and the pyramid quantizers:
//! SAQ, Eqs. 2-3, and the RQ / VQ ablations), [`model`] (encoder and decoder), [`train`] (the
//! appearance loss, Eq. 8, and the training loop), [`tokenizer`] (a trained model as an image
//! tokenizer), [`eval`] (reconstruction metrics), with the readers
//! they stand on: [`gguf`] (LLM weights), [`data`] (image data sets) and [`assets`] (installed
//! models and data).

pub mod assets;
pub mod checkpoint;
pub mod codebook;
pub mod config;
pub mod data;
pub mod degrade;
pub mod device;
pub mod eval;
pub mod fuzz;
pub mod gguf;
pub mod io;
pub mod journal;
pub mod labels;
pub mod model;
pub mod pyramid;
pub mod quantizer;
pub mod scorer;
pub mod semantic;
pub mod setup;
pub mod tensor;
pub mod tokenizer;
pub mod train;
pub mod weights;
