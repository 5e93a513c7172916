//! Bar charts drawn on the server as inline SVG (no script, no image request): the dashboard's
//! last 24 hours. Each chart names itself for screen readers (`<title>`, `<desc>` with the
//! totals) and carries a text legend, so colour is never the only way to read it.

use std::fmt::Write as _;

use crate::html::escape;

/// One stacked series: its name, fill colour and one value per bar.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: &'static str,
    pub colour: &'static str,
    pub values: Vec<f64>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 190.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// A tick value at or above `max` that reads well (1, 2, 5 × 10ⁿ).
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// Stacked bars, one per label; `description` is what a screen reader hears.
pub fn stacked_bars(
    id: &str,
    title: &str,
    description: &str,
    labels: &[String],
    series: &[Series],
    unit: &str,
) -> String {
    let n = labels.len().max(1);
    let totals: Vec<f64> = (0..n)
        .map(|i| series.iter().filter_map(|s| s.values.get(i)).sum())
        .collect();
    let top = nice_ceiling(totals.iter().copied().fold(0.0, f64::max));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let bar = (slot * 0.75).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure class=\"chart\"><svg id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        escape(title),
        escape(description)
    );
    // Axis and gridlines at 0, half and the top.
    for fraction in [0.0, 0.5, 1.0] {
        let y = TOP + plot_h * (1.0 - fraction);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#8a8a8a\" \
             stroke-width=\"0.5\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            number(top * fraction),
            escape(unit)
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut base = TOP + plot_h;
        for s in series {
            let value = s.values.get(i).copied().unwrap_or(0.0);
            if value <= 0.0 {
                continue;
            }
            let h = plot_h * value / top;
            base -= h;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{base:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" \
                 fill=\"{}\"><title>{} {}: {}{}</title></rect>",
                s.colour,
                escape(label),
                escape(s.name),
                number(value),
                escape(unit)
            );
        }
        // Every third hour is labelled; the rest would overlap.
        if i % 3 == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                HEIGHT - 6.0,
                escape(label)
            );
        }
    }
    svg.push_str("</svg><figcaption>");
    let _ = write!(svg, "<strong>{}</strong>", escape(title));
    for s in series {
        let _ = write!(
            svg,
            " <span class=\"key\"><svg width=\"12\" height=\"12\" aria-hidden=\"true\">\
             <rect width=\"12\" height=\"12\" fill=\"{}\"/></svg> {}</span>",
            s.colour,
            escape(s.name)
        );
    }
    svg.push_str("</figcaption></figure>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_tops_out_at_a_round_number() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
    }

    #[test]
    fn a_chart_has_one_bar_per_nonzero_value_and_names_itself() {
        let labels: Vec<String> = ["00", "01", "02"].iter().map(|s| s.to_string()).collect();
        let svg = stacked_bars(
            "c",
            "Sessions <per hour>",
            "3 sessions",
            &labels,
            &[
                Series {
                    name: "succeeded",
                    colour: "#1d6b22",
                    values: vec![1.0, 0.0, 1.0],
                },
                Series {
                    name: "failed",
                    colour: "#a40000",
                    values: vec![0.0, 0.0, 1.0],
                },
            ],
            "",
        );
        assert_eq!(svg.matches("<rect x=").count(), 3, "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"c-t\">Sessions &lt;per hour&gt;</title>"));
        assert!(svg.contains("<desc id=\"c-d\">3 sessions</desc>"));
        assert!(svg.contains("02 failed: 1"));
    }
}
