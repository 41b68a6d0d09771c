//! Line plots as hand-written SVG, and the CSV of the numbers behind them: the figures that need a
//! curve (P8's growth, the P4 soak) write both next to each other, so BENCHMARKS.md can show the
//! picture and anyone can re-plot the data. No plotting crate: a few axes, ticks and polylines are
//! all these figures need.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Base 10; every value must be positive (others are not drawn).
    Log,
}

pub struct Series {
    pub name: String,
    /// (x, y) in data units, in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// One chart: axes, a grid, one polyline with markers per series, a legend on the right.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    /// Linear y only: start the axis at 0 (flat-or-growing questions want the zero in view).
    pub y_from_zero: bool,
    pub series: Vec<Series>,
}

const WIDTH: f64 = 820.0;
const PANEL_HEIGHT: f64 = 340.0;
const TITLE_HEIGHT: f64 = 36.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 52.0;
const COLOURS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// The panels stacked under one title, as a standalone SVG document.
pub fn svg(title: &str, panels: &[Panel]) -> String {
    let height = TITLE_HEIGHT + PANEL_HEIGHT * panels.len() as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    heading(&mut out, WIDTH / 2.0, 22.0, 15.0, title);
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut out, panel, TITLE_HEIGHT + PANEL_HEIGHT * i as f64);
    }
    out.push_str("</svg>\n");
    out
}

pub fn write_svg(path: &Path, title: &str, panels: &[Panel]) -> anyhow::Result<()> {
    create_parent(path)?;
    std::fs::write(path, svg(title, panels)).with_context(|| format!("write {}", path.display()))
}

/// A header and rows, comma-separated (the cells are numbers and plain labels: no quoting needed,
/// and a cell with a comma is refused rather than silently split).
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    create_parent(path)?;
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        anyhow::ensure!(!row.iter().any(|c| c.contains([',', '\n', '"'])), "a CSV cell with a separator: {row:?}");
        text.push_str(&row.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

fn create_parent(path: &Path) -> anyhow::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// One axis: the data range mapped onto pixels, and where its ticks go.
struct Axis {
    scale: Scale,
    /// The range in axis units (log10 of the value on a log axis).
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    fn new(scale: Scale, values: impl Iterator<Item = f64>, from_zero: bool) -> Axis {
        let values: Vec<f64> = values.filter(|v| v.is_finite() && (scale == Scale::Linear || *v > 0.0)).collect();
        match scale {
            Scale::Linear => {
                let mut lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                let mut hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if !lo.is_finite() {
                    (lo, hi) = (0.0, 1.0);
                }
                if from_zero {
                    lo = lo.min(0.0);
                }
                if hi - lo < 1e-12 {
                    hi = lo + if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
                }
                let step = nice_step((hi - lo) / 6.0);
                let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
                let count = ((hi - lo) / step).round() as usize;
                let ticks = (0..=count).map(|k| lo + step * k as f64).map(|v| (v, number(v, step))).collect();
                Axis { scale, lo, hi, ticks }
            }
            Scale::Log => {
                let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let (lo, hi) = if lo.is_finite() { (lo.log10().floor(), hi.log10().ceil()) } else { (0.0, 1.0) };
                let hi = if hi <= lo { lo + 1.0 } else { hi };
                let ticks = (lo as i32..=hi as i32)
                    .map(|e| {
                        let v = 10f64.powi(e);
                        (f64::from(e), number(v, v))
                    })
                    .collect();
                Axis { scale, lo, hi, ticks }
            }
        }
    }

    /// Where `value` falls, 0.0 (lo) to 1.0 (hi); None when it cannot be drawn.
    fn fraction(&self, value: f64) -> Option<f64> {
        let v = match self.scale {
            Scale::Linear => value,
            Scale::Log if value > 0.0 => value.log10(),
            Scale::Log => return None,
        };
        v.is_finite().then(|| (v - self.lo) / (self.hi - self.lo))
    }
}

fn draw_panel(out: &mut String, panel: &Panel, top: f64) {
    let (x0, x1) = (LEFT, WIDTH - RIGHT);
    let (y0, y1) = (top + PANEL_HEIGHT - BOTTOM, top + TOP);
    let points = || panel.series.iter().flat_map(|s| s.points.iter());
    let x_axis = Axis::new(panel.x_scale, points().map(|p| p.0), false);
    let y_axis = Axis::new(panel.y_scale, points().map(|p| p.1), panel.y_from_zero);
    let px = |x: f64| x_axis.fraction(x).map(|f| x0 + f * (x1 - x0));
    let py = |y: f64| y_axis.fraction(y).map(|f| y0 - f * (y0 - y1));

    heading(out, (x0 + x1) / 2.0, top + 20.0, 13.0, &panel.title);
    for (value, label) in &x_axis.ticks {
        let x = x0 + (value - x_axis.lo) / (x_axis.hi - x_axis.lo) * (x1 - x0);
        let _ = writeln!(out, r##"<line x1="{x:.1}" y1="{y1:.1}" x2="{x:.1}" y2="{y0:.1}" stroke="#e0e0e0"/>"##);
        let _ = writeln!(out, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, y0 + 16.0, escape(label));
    }
    for (value, label) in &y_axis.ticks {
        let y = y0 - (value - y_axis.lo) / (y_axis.hi - y_axis.lo) * (y0 - y1);
        let _ = writeln!(out, r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="#e0e0e0"/>"##);
        let _ =
            writeln!(out, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, x0 - 6.0, y + 4.0, escape(label));
    }
    let _ = writeln!(
        out,
        r##"<rect x="{x0:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#444444"/>"##,
        x1 - x0,
        y0 - y1
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        y0 + 38.0,
        escape(&panel.x_label)
    );
    let (ly, lx) = ((y0 + y1) / 2.0, x0 - 58.0);
    let _ = writeln!(
        out,
        r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" transform="rotate(-90 {lx:.1} {ly:.1})">{}</text>"#,
        escape(&panel.y_label)
    );

    for (i, series) in panel.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let drawn: Vec<(f64, f64)> = series.points.iter().filter_map(|&(x, y)| Some((px(x)?, py(y)?))).collect();
        if drawn.len() > 1 {
            let path: Vec<String> = drawn.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                path.join(" ")
            );
        }
        // Markers only where they stay readable (a stage per point, not a sample every 5 s).
        if drawn.len() <= 40 {
            for (x, y) in &drawn {
                let _ = writeln!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{colour}"/>"#);
            }
        }
        let legend_y = y1 + 10.0 + 20.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{:.1}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="{colour}" stroke-width="3"/>"#,
            x1 + 12.0,
            x1 + 32.0
        );
        let _ =
            writeln!(out, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, x1 + 38.0, legend_y + 4.0, escape(&series.name));
    }
}

/// Bold text centred on `x`; squeezed (SVG `textLength`) when it would run off the picture.
fn heading(out: &mut String, x: f64, y: f64, size: f64, text: &str) {
    // A generous guess at a bold sans-serif glyph's mean width; no font metrics here.
    let estimate = text.chars().count() as f64 * size * 0.66;
    let room = 2.0 * x.min(WIDTH - x) - 16.0;
    let fit = if estimate > room {
        format!(r#" textLength="{room:.0}" lengthAdjust="spacingAndGlyphs""#)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle" font-size="{size}" font-weight="bold"{fit}>{}</text>"#,
        escape(text)
    );
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = if raw > 0.0 && raw.is_finite() { raw } else { 1.0 };
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw * 0.999);
    step.unwrap_or(10.0 * magnitude)
}

/// A tick label: `10k`, `1M`, `2.5`, `0.25` — as many decimals as the step needs.
fn number(value: f64, step: f64) -> String {
    let abs = value.abs();
    if abs >= 1e6 && step >= 1e5 {
        return trim(format!("{:.1}", value / 1e6)) + "M";
    }
    if abs >= 1e3 && step >= 1e3 {
        return trim(format!("{:.1}", value / 1e3)) + "k";
    }
    let decimals = if step >= 1.0 { 0 } else { (-step.log10()).ceil() as usize };
    format!("{value:.decimals$}")
}

fn trim(text: String) -> String {
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels_are_round() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(33.0), 50.0);
        assert_eq!(number(10_000.0, 10_000.0), "10k");
        assert_eq!(number(10_000_000.0, 10_000_000.0), "10M");
        assert_eq!(number(0.25, 0.05), "0.25");
        assert_eq!(number(40.0, 10.0), "40");
        assert_eq!(number(8_000.0, 2_000.0), "8k");
    }

    #[test]
    fn a_log_axis_spans_whole_decades() {
        let axis = Axis::new(Scale::Log, [10_000.0, 1_000_000.0, 3_000_000.0].into_iter(), false);
        assert_eq!((axis.lo, axis.hi), (4.0, 7.0));
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["10k", "100k", "1M", "10M"]);
        assert_eq!(axis.fraction(100_000.0), Some(1.0 / 3.0));
        assert_eq!(axis.fraction(0.0), None);
    }

    #[test]
    fn a_linear_axis_can_start_at_zero() {
        let axis = Axis::new(Scale::Linear, [41.0, 57.0].into_iter(), true);
        assert_eq!(axis.lo, 0.0);
        assert!(axis.hi >= 57.0 && axis.hi <= 60.0, "{}", axis.hi);
    }

    #[test]
    fn the_document_has_a_line_per_series_and_escaped_text() {
        let panel = Panel {
            title: "p99 <ms> & more".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_scale: Scale::Log,
            y_scale: Scale::Linear,
            y_from_zero: true,
            series: vec![
                Series { name: "a".into(), points: vec![(1e4, 1.0), (1e5, 2.0)] },
                Series { name: "b".into(), points: vec![(1e4, 0.5), (1e5, 0.5)] },
            ],
        };
        let doc = svg("t", &[panel]);
        assert_eq!(doc.matches("<polyline").count(), 2);
        assert!(doc.contains("p99 &lt;ms&gt; &amp; more"));
        assert!(doc.starts_with("<svg") && doc.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn a_long_title_is_squeezed_into_the_picture() {
        assert!(!svg("short", &[]).contains("textLength"));
        assert!(svg(&"a very long title ".repeat(8), &[]).contains(r#"textLength="804""#));
    }
}
