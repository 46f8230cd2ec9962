//! One image of a report, as PNG or SVG: a title with the index and the
//! range, the trend chart on top, the level pie and a short summary below.
//! Also the single charts as SVG text, for the HTML page.
//!
//! The font is compiled in (DejaVu Sans, `assets/fonts/`): plotters without
//! its `ttf` feature finds no system fonts, and a report should look the
//! same on every machine.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::bitmap::Bitmap;
use super::{human_ms, pie, trend, value_text, Report, ReportError, Section};

/// Size of the PNG and SVG image, in pixels.
pub const WIDTH: u32 = 1200;
/// Size of the PNG and SVG image, in pixels.
pub const HEIGHT: u32 = 800;
/// The trend chart alone (HTML page).
pub const TREND_SIZE: (u32, u32) = (1200, 460);
/// The level pie alone (HTML page).
pub const PIE_SIZE: (u32, u32) = (640, 320);

/// The font family name the charts ask for. In SVG it stays a generic CSS
/// family, so a browser shows the text in its own sans-serif.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// What drawing on a backend `DB` returns.
pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Registers the embedded font once; every drawing function calls it
/// first, since plotters cannot draw text without a registered font.
pub fn font() {
    static DONE: OnceLock<bool> = OnceLock::new();
    DONE.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok());
}

fn draw_error(chart: &'static str) -> impl Fn(String) -> ReportError {
    move |detail| ReportError::Draw { chart, detail }
}

/// The whole image as SVG text.
pub fn svg(report: &Report) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, report)
            .and_then(|_| root.present())
            .map_err(|e| draw_error("image")(e.to_string()))?;
    }
    Ok(out)
}

/// The whole image as a PNG file at `path`.
pub fn png(report: &Report, path: &Path) -> Result<(), ReportError> {
    let face = ab_glyph::FontRef::try_from_slice(DEJAVU_SANS)
        .map_err(|e| draw_error("image")(format!("the embedded font: {e}")))?;
    let root = Bitmap::new(BitMapBackend::new(path, (WIDTH, HEIGHT)), face).into_drawing_area();
    draw(&root, report).map_err(|e| draw_error("image")(e.to_string()))?;
    root.present().map_err(|e| ReportError::Write {
        path: path.to_path_buf(),
        cause: std::io::Error::other(e.to_string()),
    })
}

/// The trend chart alone as SVG text.
pub fn trend_svg(report: &Report) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, TREND_SIZE).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|_| trend::draw(&root, report))
            .and_then(|_| root.present())
            .map_err(|e| draw_error("trend chart")(e.to_string()))?;
    }
    Ok(out)
}

/// The level pie alone as SVG text.
pub fn pie_svg(report: &Report) -> Result<String, ReportError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, PIE_SIZE).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|_| pie::draw(&root, report))
            .and_then(|_| root.present())
            .map_err(|e| draw_error("level pie")(e.to_string()))?;
    }
    Ok(out)
}

/// The layout of the image: title band, trend, then pie and summary.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> DrawResult<DB> {
    font();
    root.fill(&WHITE)?;
    let (title, rest) = root.split_vertically(70);
    title.draw_text(
        &format!("logweave report: index {}", report.index),
        &(FAMILY, 26).into_font().color(&BLACK),
        (20, 12),
    )?;
    let query = if report.query.trim().is_empty() {
        "every event".to_string()
    } else {
        format!("query: {}", report.query)
    };
    title.draw_text(
        &format!(
            "{}  ·  {} events  ·  every {}  ·  {query}",
            report.range_text(),
            report.total,
            human_ms(report.interval_ms)
        ),
        &(FAMILY, 16).into_font().color(&BLACK.mix(0.7)),
        (20, 46),
    )?;
    let (top, bottom) = rest.split_vertically(420);
    trend::draw(&top, report)?;
    let (pie_area, summary) = bottom.split_horizontally(PIE_SIZE.0);
    pie::draw(&pie_area, report)?;
    draw_summary(&summary, report)
}

/// A few lines beside the pie: what the tables of the HTML report hold,
/// shortened so an image alone still tells the story.
fn draw_summary<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
) -> DrawResult<DB> {
    let (w, _) = area.dim_in_pixel();
    let head = (FAMILY, 18).into_font().color(&BLACK);
    let text = (FAMILY, 14).into_font().color(&BLACK);
    let grey = (FAMILY, 14).into_font().color(&BLACK.mix(0.6));
    // about 7.5 px per character at 14 px
    let max_chars = (w as usize).saturating_sub(30) * 2 / 15;
    let mut y = 10;
    for (kind, line) in summary_lines(report) {
        let (style, step) = match kind {
            Line::Head => {
                if y > 10 {
                    y += 10;
                }
                (&head, 26)
            }
            Line::Text => (&text, 20),
            Line::Quiet => (&grey, 20),
        };
        area.draw_text(&shorten(&line, max_chars), style, (10, y))?;
        y += step;
    }
    Ok(())
}

/// How a summary line looks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Line {
    Head,
    Text,
    Quiet,
}

fn summary_lines(report: &Report) -> Vec<(Line, String)> {
    let mut out = vec![(Line::Head, "Top patterns".to_string())];
    match &report.patterns {
        Section::Ready(list) if list.is_empty() => {
            out.push((Line::Quiet, "none in the range".into()))
        }
        Section::Ready(list) => out.extend(
            list.iter()
                .take(4)
                .map(|p| (Line::Text, format!("{:>7}  {}", p.count, p.template))),
        ),
        Section::Unavailable(why) => out.push((Line::Quiet, why.clone())),
    }
    out.push((Line::Head, "Anomalies".into()));
    match &report.anomalies {
        Section::Ready(list) if list.is_empty() => {
            out.push((Line::Quiet, "none in the range".into()))
        }
        Section::Ready(list) => {
            // the latest ones: what an incident report is about
            out.extend(list.iter().rev().take(3).map(|a| {
                (
                    Line::Text,
                    format!(
                        "{}  {} in {}: expected {}, seen {}",
                        crate::generate::format_ts(a.start).get(5..16).unwrap_or(""),
                        a.kind,
                        a.series,
                        value_text(a.expected),
                        value_text(a.observed)
                    ),
                )
            }));
            if list.len() > 3 {
                out.push((Line::Quiet, format!("... {} in all", list.len())));
            }
        }
        Section::Unavailable(why) => out.push((Line::Quiet, why.clone())),
    }
    out.push((Line::Head, "Alerts".into()));
    match &report.alerts {
        Section::Ready(a) => {
            let firing = a.active.iter().filter(|x| x.status == "firing").count();
            out.push((
                Line::Text,
                format!(
                    "{firing} firing, {} pending, {} resolved in the range",
                    a.active.len() - firing,
                    a.history.len()
                ),
            ));
            out.extend(a.active.iter().take(2).map(|x| {
                (
                    Line::Quiet,
                    format!("{} {}: {}", x.status, x.rule, value_text(x.value)),
                )
            }));
        }
        Section::Unavailable(why) => out.push((Line::Quiet, why.clone())),
    }
    out
}

/// `s` cut to `max` characters with an ellipsis.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_image_has_the_documented_size_and_the_levels() {
        let svg = svg(&crate::report::sample()).expect("rendering");
        assert!(svg.contains("width=\"1200\"") && svg.contains("height=\"800\""));
        for t in [
            "INFO",
            "ERROR",
            "(no level)",
            "Events per 1m",
            "app-&lt;logs&gt;-*",
        ] {
            assert!(svg.contains(t), "{t} not in the SVG");
        }
    }

    #[test]
    fn the_png_image_is_written_at_the_documented_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.png");
        png(&crate::report::sample(), &path).expect("rendering");
        let bytes = std::fs::read(&path).expect("reading the PNG");
        assert_eq!(&bytes[1..4], b"PNG");
        // IHDR: width and height, big-endian, at bytes 16..24
        assert_eq!(
            u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]),
            WIDTH
        );
        assert_eq!(
            u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
            HEIGHT
        );
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(shorten("abcdef", 10), "abcdef");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("ошибка диска", 6), "ошибк…");
    }
}
