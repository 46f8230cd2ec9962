//! The trend chart: events per interval, the smoothed line, the forecast
//! ahead with its 80 % and 95 % bands, and the anomalies marked where they
//! start. Draws on any plotters drawing area (PNG, SVG, the HTML page).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{font, DrawResult, FAMILY};
use super::{human_ms, Report, Section};

const COUNTS: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const SMOOTHED: RGBColor = RGBColor(0xe6, 0x6a, 0x00);
const FORECAST: RGBColor = RGBColor(0x6a, 0x3d, 0x9a);
const ANOMALY: RGBColor = RGBColor(0xd6, 0x27, 0x28);

/// Where the anomalies go on the count line: the interval each starts in,
/// at that interval's count. Several anomalies in one interval share one
/// marker; those outside the plotted intervals get none.
pub fn markers(counts: &[(i64, f64)], interval_ms: i64, starts: &[i64]) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for &s in starts {
        // counts are sorted by time: the last interval starting at or before s
        let i = counts.partition_point(|(t, _)| *t <= s);
        if i == 0 {
            continue;
        }
        let (t, v) = counts[i - 1];
        if s >= t + interval_ms.max(1) {
            continue;
        }
        if !out.iter().any(|(x, _)| *x == t) {
            out.push((t, v));
        }
    }
    out.sort_by_key(|p| p.0);
    out
}

/// Tick spacings a time axis may use, in ms: round numbers of a clock.
const TICK_STEPS_MS: [i64; 22] = [
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
    1_209_600_000,
    2_592_000_000,
];

/// Ticks on whole clock times (every 10 minutes, 3 hours, a day, ... in
/// UTC), at most `max` of them over `[x0, x1]`, and the step chosen.
pub fn time_ticks(x0: i64, x1: i64, max: usize) -> (Vec<i64>, i64) {
    let span = (x1 - x0).max(1);
    let max = max.max(1) as i64;
    let step = TICK_STEPS_MS
        .iter()
        .copied()
        .find(|s| span / s < max)
        .unwrap_or(TICK_STEPS_MS[TICK_STEPS_MS.len() - 1]);
    let first = x0 + (step - x0.rem_euclid(step)) % step;
    (
        (0..)
            .map(|i| first + i * step)
            .take_while(|t| *t <= x1)
            .collect(),
        step,
    )
}

/// Axis labels: the time of day, with the date when the range spans days.
fn time_label(ms: i64, span_ms: i64, step_ms: i64) -> String {
    let full = crate::generate::format_ts(ms); // yyyy-MM-dd HH:mm:ss
    let part = if step_ms >= 86_400_000 {
        full.get(5..10)
    } else if span_ms > 86_400_000 / 2 {
        full.get(5..16)
    } else if step_ms >= 60_000 {
        full.get(11..16)
    } else {
        full.get(11..19)
    };
    part.unwrap_or(&full).to_string()
}

/// Draws the trend chart into `area` (about 1200×420 or larger reads well).
pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, report: &Report) -> DrawResult<DB> {
    font();
    let iv = report.interval_ms.max(1);
    let forecast = report.forecast.ready();
    // values of an interval sit at its middle, over its bar
    let mid = |t: i64| t + iv / 2;
    let ahead: Vec<super::Band> = forecast.map_or_else(Vec::new, |f| {
        f.ahead
            .iter()
            .map(|b| super::Band {
                ts: mid(b.ts),
                ..*b
            })
            .collect()
    });
    let smoothed: Vec<(i64, f64)> = forecast.map_or_else(Vec::new, |f| {
        f.smoothed.iter().map(|&(t, v)| (mid(t), v)).collect()
    });
    let x0 = report
        .counts
        .first()
        .map_or(report.from_ms, |p| p.0.min(report.from_ms));
    let x1 = [
        report.to_ms,
        report.counts.last().map_or(0, |p| p.0 + iv),
        ahead.last().map_or(0, |b| b.ts - iv / 2 + iv),
    ]
    .into_iter()
    .max()
    .unwrap_or(report.to_ms)
    .max(x0 + 1);
    let y_max = report
        .counts
        .iter()
        .map(|p| p.1)
        .chain(smoothed.iter().map(|p| p.1))
        .chain(ahead.iter().map(|b| b.upper95))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let y_max = (y_max * 1.15).max(1.0);

    let model = match &report.forecast {
        Section::Ready(f) => format!("forecast: {}", f.model),
        Section::Unavailable(why) => why.clone(),
    };
    let (ticks, step) = time_ticks(x0, x1, 10);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Events per {}  ({model})", human_ms(iv)),
            (FAMILY, 18).into_font().color(&BLACK),
        )
        .margin_left(16)
        .margin_right(24)
        .margin_top(8)
        .margin_bottom(8)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).with_key_points(ticks), 0.0..y_max)?;
    let span = x1 - x0;
    chart
        .configure_mesh()
        .y_labels(6)
        .x_label_formatter(&|t| time_label(*t, span, step))
        .y_label_formatter(&|v| {
            if *v >= 10.0 || *v == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        })
        .x_desc("time (UTC)")
        .y_desc(format!("events per {}", human_ms(iv)))
        .label_style((FAMILY, 13).into_font().color(&BLACK))
        .axis_desc_style((FAMILY, 14).into_font().color(&BLACK))
        .light_line_style(BLACK.mix(0.05))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;

    // the bands first, so the lines stay on top of them; they start at the
    // last smoothed value, where the forecast takes over
    if !ahead.is_empty() {
        let anchor = smoothed.last().copied();
        let band = |lower: fn(&super::Band) -> f64, upper: fn(&super::Band) -> f64| {
            let mut pts: Vec<(i64, f64)> = anchor.into_iter().collect();
            pts.extend(ahead.iter().map(|b| (b.ts, upper(b).clamp(0.0, y_max))));
            pts.extend(
                ahead
                    .iter()
                    .rev()
                    .map(|b| (b.ts, lower(b).clamp(0.0, y_max))),
            );
            pts
        };
        chart
            .draw_series(std::iter::once(Polygon::new(
                band(|b| b.lower95, |b| b.upper95),
                FORECAST.mix(0.15).filled(),
            )))?
            .label("95 % band")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], FORECAST.mix(0.15).filled())
            });
        chart
            .draw_series(std::iter::once(Polygon::new(
                band(|b| b.lower80, |b| b.upper80),
                FORECAST.mix(0.3).filled(),
            )))?
            .label("80 % band")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], FORECAST.mix(0.3).filled())
            });
    }

    // counts as bars over their interval: distinct from the smoothed line
    // even where the two agree
    let gap = (iv / 8).min(iv - 1);
    chart
        .draw_series(report.counts.iter().map(|&(t, v)| {
            Rectangle::new(
                [(t + gap / 2, 0.0), (t + iv - gap / 2, v)],
                COUNTS.mix(0.45).filled(),
            )
        }))?
        .label("events")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], COUNTS.mix(0.45).filled()));

    if !smoothed.is_empty() {
        chart
            .draw_series(LineSeries::new(
                smoothed.iter().copied(),
                SMOOTHED.stroke_width(2),
            ))?
            .label("smoothed")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], SMOOTHED.stroke_width(2)));
    }

    if !ahead.is_empty() {
        let pts: Vec<(i64, f64)> = smoothed
            .last()
            .copied()
            .into_iter()
            .chain(ahead.iter().map(|b| (b.ts, b.forecast.clamp(0.0, y_max))))
            .collect();
        chart
            .draw_series(DashedLineSeries::new(pts, 8, 5, FORECAST.stroke_width(2)))?
            .label("forecast")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], FORECAST.stroke_width(2)));
    }

    if let Section::Ready(list) = &report.anomalies {
        let starts: Vec<i64> = list.iter().map(|a| a.start).collect();
        let marks = markers(&report.counts, iv, &starts);
        if !marks.is_empty() {
            chart
                .draw_series(marks.iter().map(|&(t, v)| {
                    EmptyElement::at((mid(t), v))
                        + Circle::new((0, 0), 7, WHITE.filled())
                        + Circle::new((0, 0), 5, ANOMALY.filled())
                }))?
                .label("anomaly")
                .legend(|(x, y)| Circle::new((x + 9, y), 5, ANOMALY.filled()));
        }
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 13).into_font().color(&BLACK))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomalies_mark_the_interval_they_start_in() {
        let counts = [(0, 5.0), (60_000, 9.0), (120_000, 40.0)];
        // two in the third interval share a marker; one before, one after
        // the plotted intervals get none
        let m = markers(&counts, 60_000, &[130_000, 179_999, -1, 180_000, 60_000]);
        assert_eq!(m, vec![(60_000, 9.0), (120_000, 40.0)]);
        assert!(markers(&[], 60_000, &[5]).is_empty());
    }

    #[test]
    fn labels_show_the_date_only_for_long_ranges() {
        let t = 1_764_000_000_000; // 2025-11-24 16:00:00 UTC
        assert_eq!(time_label(t, 3_600_000, 600_000), "16:00");
        assert_eq!(time_label(t, 86_400_000, 10_800_000), "11-24 16:00");
        assert_eq!(time_label(t, 14 * 86_400_000, 172_800_000), "11-24");
        assert_eq!(time_label(t, 60_000, 5_000), "16:00:00");
    }

    #[test]
    fn ticks_fall_on_whole_clock_times() {
        let t0 = 1_764_000_000_000 + 7 * 60_000 + 123; // 16:07:00.123
        let (ticks, step) = time_ticks(t0, t0 + 6 * 3_600_000, 10);
        assert_eq!(step, 3_600_000);
        assert_eq!(ticks.len(), 6);
        assert!(ticks.iter().all(|t| t % step == 0 && *t >= t0));
        assert_eq!(ticks[0], 1_764_000_000_000 + 3_600_000); // 17:00
        let (ticks, step) = time_ticks(t0, t0 + 24 * 3_600_000, 10);
        assert_eq!(step, 10_800_000);
        assert!(ticks.len() <= 10 && ticks.len() >= 7, "{ticks:?}");
        // an exact start is a tick itself
        assert_eq!(time_ticks(0, 60_000, 10).0.first(), Some(&0));
    }
}
