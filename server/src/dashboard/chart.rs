//! Charts as inline SVG, drawn on the server: a line chart for series over time and a bar
//! chart for counts per bucket. Every bucket has a hover target whose tooltip reads the exact
//! value, so the picture and the numbers agree.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

/// The drawing's height; widths are given per chart, near the width it is shown at, so text
/// keeps its size.
const HEIGHT: f64 = 220.0;
/// A chart across the page.
pub const WIDE: f64 = 940.0;
/// A chart in half of the page.
pub const HALF: f64 = 460.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Colours of successive series.
pub const PALETTE: &[&str] = &[
    "#635bff", "#00a37a", "#f5a623", "#e5484d", "#0091ff", "#8e4ec6",
];

/// One line: its name, colour and (bucket start, value) points.
pub struct Line<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: &'a [(i64, i64)],
}

/// The top of the value axis: four gridline steps of 1, 2 or 5 × 10ⁿ (at least 1), so every
/// gridline falls on a whole, round number.
fn nice_ceiling(max: f64) -> f64 {
    let wanted = (max / 4.0).max(1.0);
    let magnitude = 10f64.powf(wanted.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= wanted)
        .unwrap_or(10.0 * magnitude);
    4.0 * step
}

fn label_time(t: i64, hourly: bool) -> String {
    let at = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
    if hourly {
        at.format("%b %-d %H:00").to_string()
    } else {
        at.format("%b %-d").to_string()
    }
}

fn axis_time(t: i64, hourly: bool) -> String {
    let at = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
    if hourly {
        at.format("%H:00").to_string()
    } else {
        at.format("%b %-d").to_string()
    }
}

/// The frame shared by both charts: gridlines with value labels, and time labels.
fn frame(
    width: f64,
    buckets: &[i64],
    top: f64,
    hourly: bool,
    format: &dyn Fn(i64) -> String,
) -> Markup {
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = buckets.len().max(1) as f64;
    let step = (width - LEFT - RIGHT) / n;
    let every = (buckets.len() / if width > HALF { 8 } else { 5 }).max(1);
    html! {
        @for i in 0..=4 {
            @let value = top * f64::from(i) / 4.0;
            @let y = TOP + plot_h - plot_h * f64::from(i) / 4.0;
            line.grid x1=(LEFT) x2=(width - RIGHT) y1=(y) y2=(y) {}
            text.axis x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (format(value.round() as i64)) }
        }
        @for (i, t) in buckets.iter().enumerate() {
            @if i % every == 0 {
                text.axis x=(LEFT + step * (i as f64 + 0.5)) y=(HEIGHT - 8.0) text-anchor="middle" { (axis_time(*t, hourly)) }
            }
        }
    }
}

/// A line chart of `lines` over the same buckets.
pub fn lines(
    width: f64,
    lines: &[Line<'_>],
    hourly: bool,
    format: &dyn Fn(i64) -> String,
    label: &str,
) -> Markup {
    let buckets: Vec<i64> = lines
        .first()
        .map(|l| l.points.iter().map(|p| p.0).collect())
        .unwrap_or_default();
    let max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0);
    let top = nice_ceiling(max as f64);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = buckets.len().max(1) as f64;
    let step = (width - LEFT - RIGHT) / n;
    let x = |i: usize| LEFT + step * (i as f64 + 0.5);
    let y = |v: i64| TOP + plot_h - plot_h * (v as f64 / top);
    html! {
        svg.chart viewBox={ "0 0 " (width) " " (HEIGHT) } role="img" aria-label=(label) {
            (frame(width, &buckets, top, hourly, format))
            @for line in lines {
                @let path = line.points.iter().enumerate()
                    .map(|(i, p)| format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, x(i), y(p.1)))
                    .collect::<String>();
                @let area = format!("{path}L{:.1},{:.1}L{:.1},{:.1}Z", x(line.points.len().saturating_sub(1)), TOP + plot_h, x(0), TOP + plot_h);
                path d=(area) fill=(line.color) fill-opacity="0.08" stroke="none" {}
                path d=(path) fill="none" stroke=(line.color) stroke-width="2" stroke-linejoin="round" {}
            }
            @for (i, t) in buckets.iter().enumerate() {
                g.hover {
                    rect x=(LEFT + step * i as f64) y=(TOP) width=(step) height=(plot_h) fill="transparent" {}
                    title {
                        (label_time(*t, hourly))
                        @for line in lines {
                            "\n" (line.name) ": " (format(line.points.get(i).map_or(0, |p| p.1)))
                        }
                    }
                }
            }
        }
    }
}

/// A bar chart of one series.
pub fn bars(width: f64, points: &[(i64, i64)], color: &str, hourly: bool, name: &str) -> Markup {
    let buckets: Vec<i64> = points.iter().map(|p| p.0).collect();
    let max = points.iter().map(|p| p.1).max().unwrap_or(0);
    let top = nice_ceiling(max as f64);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = buckets.len().max(1) as f64;
    let step = (width - LEFT - RIGHT) / n;
    let format = |v: i64| super::layout::count(v);
    html! {
        svg.chart viewBox={ "0 0 " (width) " " (HEIGHT) } role="img" aria-label=(name) {
            (frame(width, &buckets, top, hourly, &format))
            @for (i, (t, v)) in points.iter().enumerate() {
                @let h = plot_h * (*v as f64 / top);
                g.hover {
                    rect x=(LEFT + step * i as f64 + step * 0.15) y=(TOP + plot_h - h) width=(step * 0.7) height=(h) rx="2" fill=(color) {}
                    rect x=(LEFT + step * i as f64) y=(TOP) width=(step) height=(plot_h) fill="transparent" {}
                    title { (label_time(*t, hourly)) "\n" (name) ": " (format(*v)) }
                }
            }
        }
    }
}

/// Horizontal bars, one per labelled count (customers per tier).
pub fn shares(rows: &[(String, i64)]) -> Markup {
    let total: i64 = rows.iter().map(|r| r.1).sum();
    let row_h = 30.0;
    let height = row_h * rows.len().max(1) as f64;
    let label_w = 120.0;
    let bar_w = 360.0 - label_w - 60.0;
    html! {
        svg.shares viewBox={ "0 0 360 " (height) } role="img" aria-label="Customers per tier" {
            @for (i, (label, n)) in rows.iter().enumerate() {
                @let y = row_h * i as f64;
                @let w = if total > 0 { bar_w * (*n as f64) / (total as f64) } else { 0.0 };
                text.axis x="0" y=(y + 19.0) { (label) }
                rect x=(label_w) y=(y + 8.0) width=(bar_w) height="14" rx="3" fill="#eef0f6" {}
                rect x=(label_w) y=(y + 8.0) width=(w) height="14" rx="3" fill=(PALETTE[i % PALETTE.len()]) {}
                text.value x=(label_w + bar_w + 8.0) y=(y + 19.0) { (super::layout::count(*n)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gridlines_fall_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 4.0);
        assert_eq!(nice_ceiling(2.0), 4.0);
        assert_eq!(nice_ceiling(7.0), 8.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(2100.0), 4000.0);
        assert_eq!(nice_ceiling(2900.0), 4000.0);
        assert_eq!(nice_ceiling(5000.0), 8000.0);
    }

    #[test]
    fn every_bucket_has_its_exact_value_in_a_tooltip() {
        let points = [(0, 3), (3600, 1234)];
        let svg = lines(
            WIDE,
            &[Line {
                name: "requests",
                color: PALETTE[0],
                points: &points,
            }],
            true,
            &|v| super::super::layout::count(v),
            "Usage",
        )
        .into_string();
        assert!(svg.contains("requests: 1,234"), "{svg}");
        assert!(svg.contains("requests: 3"), "{svg}");
        assert_eq!(svg.matches("<g class=\"hover\">").count(), 2);
    }
}
