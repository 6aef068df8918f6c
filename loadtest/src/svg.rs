//! The latency plot: one percentile curve per kind of event, written as plain SVG (no plotting crate).
//!
//! The x axis is the percentile on the usual HdrHistogram scale, −log10(1 − p), so 90 %, 99 %, 99.9 % ... are
//! evenly spaced and the tail is visible; the y axis is latency in milliseconds.

use std::collections::BTreeMap;
use std::fmt::Write;

use hdrhistogram::Histogram;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// Up to 99.999 %.
const NINES: f64 = 5.0;
const STEPS: usize = 250;
const COLOURS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// The plot, or `None` if nothing was recorded.
pub fn latency_plot(title: &str, histograms: &BTreeMap<String, Histogram<u64>>) -> Option<String> {
    let curves: Vec<(&String, Vec<(f64, f64)>)> =
        histograms.iter().filter(|(_, h)| !h.is_empty()).map(|(k, h)| (k, curve(h))).collect();
    if curves.is_empty() {
        return None;
    }
    let top_ms = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.1)).fold(0.0, f64::max);
    let y_max = nice_ceiling(top_ms.max(0.001));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{LEFT}" y="22" font-size="14">{}</text>"#, escape(title));
    axes(&mut s, y_max);
    for (i, (kind, points)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points.iter().map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y, y_max))).collect();
        let _ =
            writeln!(s, r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#, path.join(" "));
        let ly = TOP + 16.0 + 18.0 * i as f64;
        let lx = WIDTH - RIGHT + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/>"#,
            lx + 20.0
        );
        let _ = writeln!(s, r#"<text x="{}" y="{}">{}</text>"#, lx + 26.0, ly + 4.0, escape(kind));
    }
    s.push_str("</svg>\n");
    Some(s)
}

/// (x on the nines scale, latency in ms) from 0 % up to the percentile the sample count supports.
fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let supported = (h.len() as f64).log10().clamp(0.0, NINES);
    (0..=STEPS)
        .map(|i| supported * i as f64 / STEPS as f64)
        .map(|x| (x, h.value_at_quantile(1.0 - 10f64.powf(-x)) as f64 / 1000.0))
        .collect()
}

fn axes(s: &mut String, y_max: f64) {
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    let _ = writeln!(
        s,
        r##"<rect x="{x0}" y="{y1}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        x1 - x0,
        y0 - y1
    );
    for (n, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"].iter().enumerate() {
        let x = px(n as f64);
        let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{y0}" stroke="#ddd"/>"##);
        let _ = writeln!(s, r#"<text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"#, y0 + 18.0);
    }
    for i in 0..=5 {
        let v = y_max * i as f64 / 5.0;
        let y = py(v, y_max);
        let _ = writeln!(s, r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/>"##);
        let _ = writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#, x0 - 6.0, y + 4.0, fmt_ms(v));
    }
    let _ =
        writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle">percentile</text>"#, (x0 + x1) / 2.0, HEIGHT - 10.0);
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">latency (ms)</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
}

fn px(x: f64) -> f64 {
    LEFT + (WIDTH - LEFT - RIGHT) * x / NINES
}

fn py(ms: f64, y_max: f64) -> f64 {
    HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * (ms / y_max).min(1.0)
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|c| *c >= v).unwrap_or(10.0 * magnitude)
}

fn fmt_ms(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::new_histogram;

    #[test]
    fn the_plot_has_one_curve_per_kind() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        for v in 1..=1000u64 {
            a.record(v * 10).expect("in range");
            b.record(v * 20).expect("in range");
        }
        let plot = latency_plot("t <1>", &BTreeMap::from([("ask".into(), a), ("vote".into(), b)])).expect("plot");
        assert_eq!(plot.matches("<polyline").count(), 2);
        assert!(plot.contains("t &lt;1&gt;") && plot.ends_with("</svg>\n"));
        assert!(latency_plot("empty", &BTreeMap::new()).is_none());
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(0.7), 1.0);
    }
}
