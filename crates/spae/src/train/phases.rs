//! Where a training step's time goes: its phases, timed on the host.

use serde::{Deserialize, Serialize};

/// Wall time of a step's phases in milliseconds, each ended by waiting for the device to finish
/// its queued work (`lap`), so that on an asynchronous device (a GPU) every phase counts its
/// own work.
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

/// Milliseconds since `*t` once `device` has finished the work queued on it, and `*t` moved to
/// now. On the CPU backend the wait is a no-op; on a GPU it ends each phase where the PyTorch
/// twin's `torch.cuda.synchronize()` ends its, so the phases compare like for like. A failed wait
/// (a kernel that failed) is logged; the step's next read of a value reports it.
pub(super) fn lap(t: &mut std::time::Instant, device: &burn::tensor::Device) -> f64 {
    if let Err(e) = device.sync() {
        tracing::error!("waiting for the device to finish a training phase: {e:?}");
    }
    let now = std::time::Instant::now();
    let ms = (now - *t).as_secs_f64() * 1e3;
    *t = now;
    ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lap_waits_for_the_device_and_restarts_the_clock() {
        let device = burn::tensor::Device::flex();
        let mut t = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let before = t;
        assert!(lap(&mut t, &device) >= 5.0);
        assert!(t > before);
    }
}
