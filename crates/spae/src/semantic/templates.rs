//! The zero-shot ImageNet prompt templates of CLIP (Radford et al., 2021), used by Eq. 5.

/// The 80 templates of CLIP's ImageNet zero-shot evaluation; `{}` stands for the word.
pub const IMAGENET_80: [&str; 80] = [
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
];

/// The 7-template subset CLIP's authors found nearly as good (their prompt-engineering
/// notebook): a cheaper choice on CPUs.
pub const IMAGENET_7: [&str; 7] = [
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
];

/// Eq. 5's named template sets (`templates = "imagenet-80"` in TOML).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TemplateSet {
    /// CLIP's 80 ImageNet prompt templates (method.md's default).
    #[default]
    #[serde(rename = "imagenet-80")]
    Imagenet80,
    /// CLIP's 7-template ImageNet ensemble (cheaper on CPUs).
    #[serde(rename = "imagenet-7")]
    Imagenet7,
}

impl TemplateSet {
    pub fn templates(self) -> &'static [&'static str] {
        match self {
            TemplateSet::Imagenet80 => &IMAGENET_80,
            TemplateSet::Imagenet7 => &IMAGENET_7,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateSet::Imagenet80 => "imagenet-80",
            TemplateSet::Imagenet7 => "imagenet-7",
        }
    }
}

impl std::fmt::Display for TemplateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TemplateSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "imagenet-80" => Ok(TemplateSet::Imagenet80),
            "imagenet-7" => Ok(TemplateSet::Imagenet7),
            _ => Err(format!("unknown templates '{s}' (imagenet-80, imagenet-7)")),
        }
    }
}

/// A template filled with a word.
pub fn fill(template: &str, word: &str) -> String {
    template.replacen("{}", word, 1)
}
