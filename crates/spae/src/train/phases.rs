//! Where a training step's time goes: its phases, timed on the host.

use serde::{Deserialize, Serialize};

/// Wall time of a step's phases in milliseconds, each measured when its values are read or
/// handed on: exact on the CPU backend; on an asynchronous device queued work is counted in the
/// phase that waits for it (the search reads the encoder's output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepPhases {
    pub encoder: f64,
    /// The nearest-word search over the pyramid and the decoder input built from its words.
    pub search: f64,
    /// Decoder forward and every loss term (their values read).
    pub decoder_losses: f64,
    pub backward: f64,
    pub optimizer: f64,
    /// The discriminator's own step (GAN on).
    pub discriminator: f64,
}

impl StepPhases {
    /// Names and values, in step order.
    pub fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("encoder", self.encoder),
            ("search", self.search),
            ("decoder_losses", self.decoder_losses),
            ("backward", self.backward),
            ("optimizer", self.optimizer),
            ("discriminator", self.discriminator),
        ]
    }

    pub fn total(&self) -> f64 {
        self.named().iter().map(|(_, v)| v).sum()
    }
}

/// Milliseconds since `*t`, and `*t` moved to now.
pub(super) fn lap(t: &mut std::time::Instant) -> f64 {
    let now = std::time::Instant::now();
    let ms = (now - *t).as_secs_f64() * 1e3;
    *t = now;
    ms
}
