//! The level pie: each level's share of the events in the range, with a
//! legend that gives the counts (a pie alone hides small slices).
//!
//! [`slices`] is the arithmetic, free of drawing; [`draw`] puts it on any
//! plotters drawing area, so the PNG, the SVG and the HTML page share it.

use std::f64::consts::TAU;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::{font, DrawResult, FAMILY};
use super::{LevelCount, Report, NO_LEVEL};

/// One slice: angles in radians, clockwise from twelve o'clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub level: String,
    pub count: u64,
    /// Fraction of the whole, 0..=1.
    pub share: f64,
    pub start: f64,
    pub end: f64,
}

/// The slices of the levels with events, in the order given. Each angle
/// comes from the running count (not a sum of rounded angles), so the
/// last slice ends exactly at a full turn.
pub fn slices(levels: &[LevelCount]) -> Vec<Slice> {
    let total: u64 = levels.iter().map(|l| l.count).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut before = 0u64;
    levels
        .iter()
        .filter(|l| l.count > 0)
        .map(|l| {
            let start = TAU * before as f64 / total as f64;
            before += l.count;
            Slice {
                level: l.level.clone(),
                count: l.count,
                share: l.count as f64 / total as f64,
                start,
                end: TAU * before as f64 / total as f64,
            }
        })
        .collect()
}

/// The colour of a level: warm for trouble, cool for routine, the same in
/// every report.
pub fn level_colour(level: &str, fallback_index: usize) -> RGBColor {
    match level.to_ascii_uppercase().as_str() {
        "FATAL" => RGBColor(0x7b, 0x10, 0x2a),
        "ERROR" => RGBColor(0xd6, 0x27, 0x28),
        "WARN" | "WARNING" => RGBColor(0xf5, 0xa6, 0x23),
        "INFO" => RGBColor(0x1f, 0x77, 0xb4),
        "DEBUG" => RGBColor(0x2c, 0xa0, 0x2c),
        "TRACE" => RGBColor(0x8c, 0x8c, 0x8c),
        _ if level == NO_LEVEL => RGBColor(0xc8, 0xc8, 0xc8),
        _ => {
            let c = Palette99::pick(fallback_index + 20).to_rgba();
            RGBColor(c.0, c.1, c.2)
        }
    }
}

/// A point at `angle` (clockwise from the top) on the circle.
fn on_circle(c: (i32, i32), r: f64, angle: f64) -> (i32, i32) {
    (
        c.0 + (r * angle.sin()).round() as i32,
        c.1 - (r * angle.cos()).round() as i32,
    )
}

/// Draws the pie and its legend into `area` (any size; about 640×320 fits).
pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, report: &Report) -> DrawResult<DB> {
    font();
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let title = (FAMILY, 18).into_font().color(&BLACK);
    area.draw_text("Events per level", &title, (16, 10))?;
    let parts = slices(&report.levels);
    if parts.is_empty() {
        area.draw_text(
            "no events in the range",
            &(FAMILY, 16).into_font().color(&BLACK.mix(0.6)),
            (16, 48),
        )?;
        return Ok(());
    }
    // room on the left and right for the slice names, then the legend
    let r = ((h - 80) / 2).clamp(20, 110);
    let centre = (100 + r, 40 + (h - 40) / 2);
    for (i, s) in parts.iter().enumerate() {
        let colour = level_colour(&s.level, i);
        // one vertex per degree or so keeps the edge smooth at any size
        let steps = ((s.end - s.start) / TAU * 360.0).ceil().max(2.0) as usize;
        let mut pts = vec![centre];
        pts.extend((0..=steps).map(|k| {
            on_circle(
                centre,
                r as f64,
                s.start + (s.end - s.start) * k as f64 / steps as f64,
            )
        }));
        area.draw(&Polygon::new(pts, colour.filled()))?;
    }
    // slice borders in white, so neighbouring colours stay apart
    if parts.len() > 1 {
        for s in &parts {
            area.draw(&PathElement::new(
                vec![centre, on_circle(centre, r as f64, s.start)],
                WHITE.stroke_width(2),
            ))?;
        }
    }
    // names outside the slices big enough to carry one
    let label = (FAMILY, 14).into_font().color(&BLACK);
    for s in parts.iter().filter(|s| s.share >= 0.03) {
        let mid = (s.start + s.end) / 2.0;
        let (x, y) = on_circle(centre, r as f64 + 10.0, mid);
        let h_pos = if mid.sin() >= 0.0 {
            HPos::Left
        } else {
            HPos::Right
        };
        let v_pos = if mid.cos() >= 0.3 {
            VPos::Bottom
        } else if mid.cos() <= -0.3 {
            VPos::Top
        } else {
            VPos::Center
        };
        area.draw_text(
            &format!("{} {}", s.level, percent(s.share)),
            &label.pos(Pos::new(h_pos, v_pos)),
            (x, y),
        )?;
    }
    // the legend, with counts: what the slices are in numbers
    let x0 = (centre.0 + r + 100).min(w - 235);
    let row = 24;
    let y0 = (centre.1 - (parts.len() as i32 * row) / 2).max(40);
    let text = (FAMILY, 15).into_font().color(&BLACK);
    for (i, s) in parts.iter().enumerate() {
        let y = y0 + i as i32 * row;
        area.draw(&Rectangle::new(
            [(x0, y + 3), (x0 + 14, y + 17)],
            level_colour(&s.level, i).filled(),
        ))?;
        area.draw_text(&s.level, &text, (x0 + 22, y + 2))?;
        area.draw_text(
            &s.count.to_string(),
            &text.pos(Pos::new(HPos::Right, VPos::Top)),
            (x0 + 150, y + 2),
        )?;
        area.draw_text(
            &percent(s.share),
            &text
                .color(&BLACK.mix(0.6))
                .pos(Pos::new(HPos::Right, VPos::Top)),
            (x0 + 215, y + 2),
        )?;
    }
    Ok(())
}

/// A share as a percentage for labels: one decimal below 10 %.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 10.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lc(level: &str, count: u64) -> LevelCount {
        LevelCount {
            level: level.into(),
            count,
        }
    }

    #[test]
    fn slices_cover_the_whole_turn_without_gaps() {
        let levels = [
            lc("INFO", 700),
            lc("WARN", 211),
            lc("ERROR", 88),
            lc("FATAL", 1),
        ];
        let s = slices(&levels);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].start, 0.0);
        assert_eq!(s.last().map(|x| x.end), Some(TAU));
        for pair in s.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        let angles: f64 = s.iter().map(|x| x.end - x.start).sum();
        assert!((angles - TAU).abs() < 1e-9, "{angles}");
        let shares: f64 = s.iter().map(|x| x.share).sum();
        assert!((shares - 1.0).abs() < 1e-12, "{shares}");
        // each angle is its share of the turn
        assert!((s[1].end - s[1].start - TAU * 0.211).abs() < 1e-9);
    }

    #[test]
    fn empty_levels_make_no_slices() {
        assert!(slices(&[]).is_empty());
        assert!(slices(&[lc("INFO", 0)]).is_empty());
        let one = slices(&[lc("ERROR", 0), lc("INFO", 5)]);
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].start, one[0].end, one[0].share), (0.0, TAU, 1.0));
    }

    #[test]
    fn percentages_keep_a_decimal_only_when_small() {
        assert_eq!(percent(0.5), "50 %");
        assert_eq!(percent(0.048), "4.8 %");
        assert_eq!(percent(0.0), "0 %");
    }

    #[test]
    fn known_levels_keep_their_colours() {
        assert_eq!(level_colour("error", 3), level_colour("ERROR", 0));
        assert_ne!(level_colour("ERROR", 0), level_colour("INFO", 0));
    }
}
