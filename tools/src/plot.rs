// SPDX-License-Identifier: GPL-2.0-only
//! Shared plotting (plotters): every chart is written twice, `STEM.svg` and `STEM.png`.
//!
//! Text in the PNG is drawn with DejaVu Sans embedded in the binary (assets/DejaVuSans.ttf,
//! Bitstream Vera licence in assets/DejaVuSans.LICENSE) through plotters' `ab_glyph` backend, so
//! no fontconfig, freetype or system font is needed: it works on a bare Debian machine. The SVG
//! names the font family "DejaVu Sans, sans-serif" and leaves rendering to the viewer.
//!
//! Two charts cover what the commands plot:
//! - [`bar_chart`]: horizontal bars, one row per category, one bar per series in each row
//!   (coverage per kernel file, agreement per kernel, ...);
//! - [`box_plot`]: per group a box (quartiles), the median, whiskers (min..max) and every sample
//!   as a point (time to exposure per engine or mutator, ...), optionally on a log axis, with an
//!   optional reference line (e.g. the time cap).

use plotters::coord::combinators::IntoLinspace;
use plotters::coord::ranged1d::{KeyPointHint, Ranged};
use plotters::prelude::*;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family the charts ask for; registered for the bitmap backend, named in the SVG.
const FAMILY: &str = "DejaVu Sans";

/// Series colours (colour-blind safe, Okabe-Ito).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(120, 120, 120),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded font is a valid TrueType file (checked by a test); registration cannot
        // fail otherwise.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Horizontal grouped bars.
#[derive(Clone, Debug, Default)]
pub struct Bars {
    pub title: String,
    /// The value axis' caption (e.g. "decisions reached (%)").
    pub x_label: String,
    /// One row per category, top to bottom.
    pub categories: Vec<String>,
    /// (series name, one value per category). One series draws no legend.
    pub series: Vec<(String, Vec<f64>)>,
    /// The value axis' end (default: the largest value plus 10 %).
    pub x_max: Option<f64>,
    /// Print each bar's value at its end, with this many decimals.
    pub value_decimals: Option<usize>,
}

/// Box and strip plot: groups left to right.
#[derive(Clone, Debug, Default)]
pub struct Boxes {
    pub title: String,
    pub y_label: String,
    /// (group name, samples).
    pub groups: Vec<(String, Vec<f64>)>,
    /// Logarithmic value axis (samples must be > 0).
    pub log_y: bool,
    /// A dashed horizontal reference line and its label (e.g. the cap of a campaign).
    pub reference: Option<(f64, String)>,
    /// Groups come in runs of these series, in this order (e.g. "field", "bytes" per finding):
    /// each series has one colour and a legend entry. Empty: every group its own colour.
    pub series: Vec<String>,
}

/// Write `stem.svg` and `stem.png`; returns both paths.
pub fn bar_chart(stem: &Path, b: &Bars) -> Result<Vec<PathBuf>, String> {
    if b.categories.is_empty() || b.series.is_empty() {
        return Err(format!("{}: nothing to plot", b.title));
    }
    if let Some((name, v)) = b.series.iter().find(|s| s.1.len() != b.categories.len()) {
        return Err(format!(
            "{}: series {name} has {} values for {} categories",
            b.title,
            v.len(),
            b.categories.len()
        ));
    }
    let rows = b.categories.len() * b.series.len().max(1);
    let label_w = b
        .categories
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(4) as u32;
    let w = 640 + 8 * label_w;
    let h = 120
        + (rows as u32) * 22
        + if b.series.len() > 1 {
            18 * b.series.len() as u32
        } else {
            0
        };
    write_both(stem, (w, h), &BarsChart(b, label_w))
}

/// Write `stem.svg` and `stem.png`; returns both paths.
pub fn box_plot(stem: &Path, b: &Boxes) -> Result<Vec<PathBuf>, String> {
    if b.groups.is_empty() || b.groups.iter().all(|g| g.1.is_empty()) {
        return Err(format!("{}: nothing to plot", b.title));
    }
    if b.log_y
        && b.groups
            .iter()
            .flat_map(|g| &g.1)
            .any(|&v| !(v > 0.0 && v.is_finite()))
    {
        return Err(format!("{}: a log axis needs samples above 0", b.title));
    }
    let per = if b.series.is_empty() { 110 } else { 56 };
    let w = 240 + per * b.groups.len() as u32;
    write_both(stem, (w.max(520), 440), &BoxesChart(b))
}

/// A chart that can draw itself on any backend (SVG and bitmap).
trait Chart {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> Result<(), String>;
}

type Area<DB> = DrawingArea<DB, plotters::coord::Shift>;

struct BarsChart<'a>(&'a Bars, u32);
struct BoxesChart<'a>(&'a Boxes);

impl Chart for BarsChart<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> Result<(), String> {
        draw_bars(area, self.0, self.1)
    }
}

impl Chart for BoxesChart<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &Area<DB>) -> Result<(), String> {
        draw_boxes(area, self.0)
    }
}

/// `stem.EXT`: a stem's own dots stay (a variant name such as `v6.15` is not an extension); a
/// stem given as `x.svg` or `x.png` has that extension replaced.
fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    match stem.extension().and_then(|e| e.to_str()) {
        Some("svg" | "png") => stem.with_extension(ext),
        _ => PathBuf::from(format!("{}.{ext}", stem.display())),
    }
}

fn write_both(stem: &Path, size: (u32, u32), chart: &impl Chart) -> Result<Vec<PathBuf>, String> {
    register_font();
    if let Some(d) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let (svg, png) = (with_ext(stem, "svg"), with_ext(stem, "png"));
    {
        let area = SVGBackend::new(&svg, size).into_drawing_area();
        chart.draw(&area)?;
        area.present()
            .map_err(|e| format!("cannot write {}: {e}", svg.display()))?;
    }
    {
        let area = BitMapBackend::new(&png, size).into_drawing_area();
        chart.draw(&area)?;
        area.present()
            .map_err(|e| format!("cannot write {}: {e}", png.display()))?;
    }
    Ok(vec![svg, png])
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("plot: {e}")
}

/// A linear f64 axis whose labels sit at the given points only (category centres).
#[derive(Clone)]
struct Centres {
    range: Range<f64>,
    points: Vec<f64>,
}

impl Ranged for Centres {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.range.start, self.range.end);
        let f = (v - a) / (b - a);
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }
    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.points.clone()
    }
    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

fn draw_bars<DB: DrawingBackend>(area: &Area<DB>, b: &Bars, label_w: u32) -> Result<(), String> {
    area.fill(&WHITE).map_err(err)?;
    let n = b.categories.len();
    let max = b.x_max.unwrap_or_else(|| {
        let m = b
            .series
            .iter()
            .flat_map(|s| s.1.iter().copied())
            .fold(0.0f64, f64::max);
        if m > 0.0 {
            m * 1.1
        } else {
            1.0
        }
    });
    // Room right of the largest bar for its value label.
    let room = if b.value_decimals.is_some() {
        max * 0.1
    } else {
        0.0
    };
    // Several series: a legend row under the title, clear of the bars.
    let k = b.series.len();
    let (legend, area) = if k > 1 {
        let (top, rest) = area.split_vertically(20 + 18 * k as u32);
        (Some(top), rest)
    } else {
        (None, area.clone())
    };
    let area = &area;
    if let Some(top) = &legend {
        top.draw(&Text::new(b.title.clone(), (12, 6), font(18.0)))
            .map_err(err)?;
        for (si, (name, _)) in b.series.iter().enumerate() {
            let c = PALETTE[si % PALETTE.len()];
            let y = 30 + 18 * si as i32;
            let x = 40 + 7 * label_w as i32;
            top.draw(&Rectangle::new([(x, y), (x + 14, y + 12)], c.filled()))
                .map_err(err)?;
            top.draw(&Text::new(name.clone(), (x + 20, y), font(13.0)))
                .map_err(err)?;
        }
    }
    let y = Centres {
        range: 0.0..n as f64,
        points: (0..n).map(|i| i as f64 + 0.5).collect(),
    };
    let mut builder = ChartBuilder::on(area);
    if legend.is_none() {
        builder.caption(&b.title, font(18.0));
    }
    let mut chart = builder
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(16 + 7 * label_w)
        .build_cartesian_2d((0.0..max * 1.0001 + room).step(max / 10.0).use_round(), y)
        .map_err(err)?;
    let cats = b.categories.clone();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(b.x_label.as_str())
        .axis_desc_style(font(14.0))
        .label_style(font(12.0))
        .y_label_formatter(&|v: &f64| {
            // Row i is drawn top to bottom: centre (n - 1 - i) + 0.5.
            let i = n as f64 - 0.5 - v;
            cats.get(i.round() as usize).cloned().unwrap_or_default()
        })
        .x_label_formatter(&|v: &f64| {
            if *v > max * 1.0001 {
                String::new()
            } else if max < 10.0 {
                // Small ranges (the lab's disagreement in %): ticks are fractions.
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        })
        .draw()
        .map_err(err)?;
    let band = 0.8 / k as f64;
    for (si, (_, vals)) in b.series.iter().enumerate() {
        let colour = PALETTE[si % PALETTE.len()];
        let rects = vals.iter().enumerate().map(|(ci, &v)| {
            let top = (n - 1 - ci) as f64 + 0.9 - si as f64 * band;
            Rectangle::new([(0.0, top - band), (v.min(max), top)], colour.filled())
        });
        chart.draw_series(rects).map_err(err)?;
        if let Some(d) = b.value_decimals {
            let texts = vals.iter().enumerate().map(|(ci, &v)| {
                let top = (n - 1 - ci) as f64 + 0.9 - si as f64 * band;
                Text::new(
                    format!(" {v:.d$}"),
                    (v.min(max), top - band / 2.0),
                    font(11.0).pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Center,
                    )),
                )
            });
            chart.draw_series(texts).map_err(err)?;
        }
    }
    Ok(())
}

/// (q1, median, q3, min, max) of a non-empty sample.
pub fn quartiles(v: &[f64]) -> (f64, f64, f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        let x = p * (s.len() - 1) as f64;
        let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
        s[lo] + (s[hi] - s[lo]) * (x - lo as f64)
    };
    (q(0.25), q(0.5), q(0.75), s[0], s[s.len() - 1])
}

fn draw_boxes<DB: DrawingBackend>(area: &Area<DB>, b: &Boxes) -> Result<(), String> {
    area.fill(&WHITE).map_err(err)?;
    let tf = |v: f64| if b.log_y { v.log10() } else { v };
    let all: Vec<f64> = b
        .groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .chain(b.reference.iter().map(|r| r.0))
        .map(tf)
        .collect();
    let (lo, hi) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, z), &v| (a.min(v), z.max(v)));
    let (lo, hi) = if b.log_y {
        (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
    } else {
        (0.0f64.min(lo), if hi > 0.0 { hi * 1.1 } else { 1.0 })
    };
    let n = b.groups.len();
    let x = Centres {
        range: 0.0..n as f64,
        points: (0..n).map(|i| i as f64 + 0.5).collect(),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&b.title, font(18.0))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x, lo..hi)
        .map_err(err)?;
    let names: Vec<String> = b.groups.iter().map(|g| g.0.clone()).collect();
    let log = b.log_y;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(b.y_label.as_str())
        .axis_desc_style(font(14.0))
        .label_style(font(12.0))
        .x_label_formatter(&|v: &f64| names.get(v.floor() as usize).cloned().unwrap_or_default())
        .y_labels(if log { (hi - lo) as usize + 1 } else { 10 })
        .y_label_formatter(&|v: &f64| {
            if log {
                let x = 10f64.powf(*v);
                if x >= 1.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x}")
                }
            } else {
                format!("{v:.0}")
            }
        })
        .draw()
        .map_err(err)?;
    for (gi, (_, vals)) in b.groups.iter().enumerate() {
        if vals.is_empty() {
            continue;
        }
        let cycle = if b.series.is_empty() {
            PALETTE.len()
        } else {
            b.series.len().min(PALETTE.len())
        };
        let colour = PALETTE[gi % cycle];
        let c = gi as f64 + 0.5;
        let (q1, med, q3, mn, mx) = quartiles(vals);
        let (q1, med, q3, mn, mx) = (tf(q1), tf(med), tf(q3), tf(mn), tf(mx));
        chart
            .draw_series([
                Rectangle::new([(c - 0.25, q1), (c + 0.25, q3)], colour.mix(0.25).filled()),
                Rectangle::new([(c - 0.25, q1), (c + 0.25, q3)], colour.stroke_width(2)),
            ])
            .map_err(err)?;
        chart
            .draw_series([
                PathElement::new(
                    vec![(c - 0.25, med), (c + 0.25, med)],
                    colour.stroke_width(3),
                ),
                PathElement::new(vec![(c, mn), (c, q1)], colour.stroke_width(1)),
                PathElement::new(vec![(c, q3), (c, mx)], colour.stroke_width(1)),
                PathElement::new(vec![(c - 0.1, mn), (c + 0.1, mn)], colour.stroke_width(1)),
                PathElement::new(vec![(c - 0.1, mx), (c + 0.1, mx)], colour.stroke_width(1)),
            ])
            .map_err(err)?;
        // Every sample, spread deterministically across the box so equal values stay visible.
        let k = vals.len().max(2) as f64;
        chart
            .draw_series(vals.iter().enumerate().map(|(i, &v)| {
                let dx = -0.18 + 0.36 * i as f64 / (k - 1.0);
                Circle::new((c + dx, tf(v)), 3, BLACK.mix(0.7).filled())
            }))
            .map_err(err)?;
    }
    for (si, name) in b.series.iter().enumerate().take(PALETTE.len()) {
        // The legend: one coloured swatch and name per series, in a row at the top right,
        // above a reference line at the top of the data.
        let colour = PALETTE[si];
        let y = hi - (hi - lo) * 0.04;
        let x = n as f64 - 1.3 * (b.series.len() - si) as f64;
        chart
            .draw_series([
                PathElement::new(vec![(x, y), (x + 0.25, y)], colour.stroke_width(6)),
                PathElement::new(vec![(x, y), (x, y)], colour.stroke_width(1)),
            ])
            .map_err(err)?;
        chart
            .draw_series([Text::new(
                name.clone(),
                (x + 0.35, y),
                font(12.0).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Left,
                    plotters::style::text_anchor::VPos::Center,
                )),
            )])
            .map_err(err)?;
    }
    if let Some((v, label)) = &b.reference {
        let v = tf(*v);
        chart
            .draw_series((0..40).map(|i| {
                // A dashed line: 40 dashes across the plot.
                let x0 = n as f64 * i as f64 / 40.0;
                PathElement::new(
                    vec![(x0, v), (x0 + n as f64 / 80.0, v)],
                    RGBColor(200, 0, 0).stroke_width(1),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series([Text::new(
                label.clone(),
                (0.05, v),
                font(11.0)
                    .color(&RED)
                    .pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Bottom,
                    )),
            )])
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stem_keeps_its_dots() {
        let p = |s: &str, e: &str| with_ext(Path::new(s), e).display().to_string();
        assert_eq!(
            p("out/b-tte-v6.15-libfuzzer", "svg"),
            "out/b-tte-v6.15-libfuzzer.svg"
        );
        assert_eq!(
            p("out/b-tte-v6.12-libfuzzer", "png"),
            "out/b-tte-v6.12-libfuzzer.png"
        );
        assert_eq!(p("x.svg", "png"), "x.png");
        assert_eq!(p("x", "svg"), "x.svg");
    }

    #[test]
    fn the_embedded_font_parses() {
        assert!(plotters::style::register_font("test-font", FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn quartiles_of_a_sample() {
        assert_eq!(
            quartiles(&[1.0, 2.0, 3.0, 4.0, 5.0]),
            (2.0, 3.0, 4.0, 1.0, 5.0)
        );
        assert_eq!(quartiles(&[7.0]), (7.0, 7.0, 7.0, 7.0, 7.0));
    }

    #[test]
    fn charts_write_svg_and_png() {
        let dir = std::env::temp_dir().join(format!("diofuzz-plot-{}", std::process::id()));
        let b = Bars {
            title: "bars".into(),
            x_label: "percent".into(),
            categories: vec!["fs/iomap/direct-io.c".into(), "fs/ext4/file.c".into()],
            series: vec![("reached".into(), vec![40.0, 75.0])],
            x_max: Some(100.0),
            value_decimals: Some(0),
        };
        let out = bar_chart(&dir.join("bars"), &b).unwrap();
        let svg = std::fs::read_to_string(&out[0]).unwrap();
        assert!(
            svg.contains("fs/ext4/file.c") && svg.contains("<rect"),
            "{svg}"
        );
        let png = std::fs::read(&out[1]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let x = Boxes {
            title: "boxes".into(),
            y_label: "seconds".into(),
            groups: vec![("a".into(), vec![1.0, 2.0, 30.0]), ("b".into(), vec![5.0])],
            log_y: true,
            reference: Some((60.0, "cap".into())),
            series: vec!["field".into(), "bytes".into()],
        };
        let out = box_plot(&dir.join("boxes"), &x).unwrap();
        assert!(std::fs::read_to_string(&out[0]).unwrap().contains("cap"));
        // Bad input is an error naming the chart, not a panic.
        let bad = Bars {
            series: vec![("s".into(), vec![1.0])],
            ..b.clone()
        };
        assert!(bar_chart(&dir.join("bad"), &bad)
            .unwrap_err()
            .contains("bars"));
        let neg = Boxes {
            groups: vec![("a".into(), vec![0.0])],
            ..x
        };
        assert!(box_plot(&dir.join("neg"), &neg).is_err());
        if std::env::var_os("DIOFUZZ_KEEP_PLOTS").is_none() {
            std::fs::remove_dir_all(&dir).ok();
        }
    }
}
