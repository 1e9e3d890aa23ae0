//! A request to `spae serve` as its endpoints read it before any model runs
//! (`spae_serve::request::fuzz`: the query string, the image of an encode body, raw or the file
//! part of a multipart form, and the tokens of a decode body). spae-serve's build includes
//! llama.cpp (the few-shot LLM), so this target takes its parsing files alone.
#![no_main]

#[path = "../../crates/spae-serve/src/error.rs"]
#[allow(dead_code)]
mod error;
#[path = "../../crates/spae-serve/src/multipart.rs"]
#[allow(dead_code)]
mod multipart;
#[path = "../../crates/spae-serve/src/request.rs"]
#[allow(dead_code)]
mod request;

use error::ApiError;

libfuzzer_sys::fuzz_target!(|data: &[u8]| request::fuzz(data));
