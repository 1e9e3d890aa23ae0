//! What `spae generate` shows: the grid, the HTML page and the printed table.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use spae::data::{tile_images, write_png};

use super::Report;

pub(super) fn write_outputs(
    out: &Path,
    report: &Report,
    pixels: &[f32],
    size: usize,
) -> Result<()> {
    let json = out.join("generate.json");
    spae::io::write_atomic(&json, &serde_json::to_vec_pretty(report)?)?;
    let plane = size * size;
    let cols = 10;
    let rows: Vec<Vec<f32>> = pixels.chunks(cols * plane).map(|r| r.to_vec()).collect();
    let grid = tile_images(&rows, cols, 1, size);
    write_png(
        &out.join("grid.png"),
        &grid,
        1,
        rows.len() * size,
        cols * size,
    )?;
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>spae generate</title>\n<style>body{font-family:sans-serif}td{padding:4px 10px}img{width:64px;image-rendering:pixelated}</style>\n",
    );
    let _ = writeln!(
        html,
        "<h1>In-context text-to-image</h1><p>{} examples, depth {} ({} words), plan {}, {} of {} judged images show the intended digit ({:.1}%).</p>",
        report.run.examples,
        report.run.depth,
        report.run.words_per_image,
        serde_json::to_string(&report.run.plan)?.trim_matches('"'),
        report.run.correct,
        report.run.judged,
        100.0 * report.run.accuracy
    );
    html.push_str("<table><tr><th>query</th><th>image</th><th>intended</th><th>classified</th><th>nearest example (RMSE, tokens)</th></tr>\n");
    for g in &report.run.images {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td><img src=\"{}\"></td><td>{}</td><td>{}{}</td><td>{:.3}, {}</td></tr>",
            escape(&g.query),
            g.image,
            g.intended.map_or("-".into(), |d| d.to_string()),
            g.classified,
            match g.correct {
                Some(true) => " &#10003;",
                Some(false) => " &#10007;",
                None => "",
            },
            g.nearest_example_rmse,
            g.nearest_example_token_distance
        );
    }
    html.push_str("</table>\n");
    let page = out.join("index.html");
    spae::io::write_atomic(&page, html.as_bytes())?;
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn print_report(r: &Report) {
    println!(
        "{} examples, depth {} ({} words per image), plan {} with stride {}: {} passes",
        r.run.examples,
        r.run.depth,
        r.run.words_per_image,
        serde_json::to_string(&r.run.plan)
            .unwrap_or_default()
            .trim_matches('"'),
        r.run.stride,
        r.run.passes
    );
    if r.run.images.len() <= 20 {
        for g in &r.run.images {
            println!(
                "{:<45} -> classified {}{}  (nearest example: RMSE {:.3}, {} tokens apart)  {}",
                g.query,
                g.classified,
                g.intended
                    .map_or(String::new(), |d| format!(", intended {d}")),
                g.nearest_example_rmse,
                g.nearest_example_token_distance,
                g.image
            );
        }
    }
    println!("| queries | judged | intended digit | share |");
    println!("|---|---:|---:|---:|");
    for k in &r.run.by_kind {
        println!(
            "| {} | {} | {} | {:.1}% |",
            k.kind,
            k.queries,
            k.correct,
            100.0 * k.accuracy
        );
    }
    println!(
        "| all | {} | {} | {:.1}% (95% CI {:.1}-{:.1}; chance 10%) |",
        r.run.judged,
        r.run.correct,
        100.0 * r.run.accuracy,
        100.0 * r.run.ci95.0,
        100.0 * r.run.ci95.1
    );
    println!(
        "classifier: {:.2}% on held-out digits, {:.1}% on their depth-{} reconstructions; {} images identical to an example, mean nearest-example RMSE {:.3}",
        100.0 * r.classifier_test_accuracy.unwrap_or(f64::NAN),
        100.0 * r.classifier_on_reconstructions,
        r.run.depth,
        r.run.identical_to_an_example,
        r.run.mean_nearest_example_rmse
    );
    println!(
        "{:.0} s; {} prompt tokens processed ({} reused), {} written",
        r.run.seconds,
        r.run.stats.prompt_tokens,
        r.run.stats.reused_tokens,
        r.run.stats.generated_tokens
    );
}
