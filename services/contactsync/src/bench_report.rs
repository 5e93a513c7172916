//! What `contactsync bench --report FILE.html` draws: the charts a scenario hands back with its
//! figure, so a reader sees the shape of a run (a latency distribution, throughput over time),
//! not only its numbers.

use gateway::html::escape;

/// One chart of a scenario.
#[derive(Debug, Clone)]
pub enum Chart {
    /// How samples are distributed (latencies, say), one series per kind (a direction).
    Distribution {
        title: String,
        /// The samples' unit (`ms`).
        unit: String,
        series: Vec<Series>,
    },
    /// A value over the run's time (contacts written per second), one series per kind.
    OverTime {
        title: String,
        /// The value's unit (`contacts/s`); time is in seconds from the start.
        unit: String,
        /// Each series' samples are `(seconds since start, value)`.
        series: Vec<Series>,
    },
}

/// A named series: samples of a distribution, or `(t, value)` points over time.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub samples: Vec<f64>,
    /// Over time: the seconds each sample was taken at (same length as `samples`).
    pub at_seconds: Vec<f64>,
}

/// One row of the report: a scenario's outcome and its charts.
pub struct Row<'a> {
    pub name: &'a str,
    pub figure: f64,
    pub unit: &'a str,
    pub floor: f64,
    pub ratio: f64,
    pub target: f64,
    pub charts: &'a [Chart],
}

impl Row<'_> {
    fn met(&self) -> bool {
        self.ratio >= self.target
    }
}

/// The page: a table of every row, then each scenario's charts as inline SVG. Self-contained:
/// no script, no stylesheet or font fetched, nothing that needs the network.
pub fn render(rows: &[Row]) -> String {
    let mut page = String::from(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<title>contactsync bench</title>\n<style>\n",
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\n",
        "table{border-collapse:collapse}\n",
        "th,td{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:right}\n",
        "th:first-child,td:first-child{text-align:left}\n",
        ".met{color:#1a7f37}.missed{color:#c0392b;font-weight:bold}\n",
        "figure{margin:1em 0}svg{font-size:11px}\n",
        "</style>\n</head>\n<body>\n<h1>contactsync bench</h1>\n",
        "<p>Each figure against its floor, measured or counted in the same run (SPEC §5): ",
        "the ratio is 1.0 at the floor, and a scenario meets its goal when the ratio reaches ",
        "its target.</p>\n<table>\n<thead><tr><th>scenario</th><th>figure</th><th>unit</th>",
        "<th>floor</th><th>ratio</th><th>target</th><th>goal</th></tr></thead>\n<tbody>\n",
    ));
    for (i, row) in rows.iter().enumerate() {
        let name = escape(row.name);
        let name = if row.charts.is_empty() {
            name
        } else {
            format!("<a href=\"#scenario-{i}\">{name}</a>")
        };
        let (class, verdict) = if row.met() {
            ("met", "met")
        } else {
            ("missed", "not met")
        };
        page.push_str(&format!(
            "<tr><td>{name}</td><td>{:.1}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td>\
             <td>{:.2}</td><td class=\"{class}\">{verdict}</td></tr>\n",
            row.figure,
            escape(row.unit),
            row.floor,
            row.ratio,
            row.target,
        ));
    }
    page.push_str("</tbody>\n</table>\n");
    for (i, row) in rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.charts.is_empty())
    {
        page.push_str(&format!(
            "<section id=\"scenario-{i}\">\n<h2>{}</h2>\n",
            escape(row.name)
        ));
        for chart in row.charts {
            page.push_str(&format!(
                "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
                svg(chart),
                escape(chart.caption())
            ));
        }
        page.push_str("</section>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

impl Chart {
    fn caption(&self) -> &str {
        match self {
            Chart::Distribution { title, .. } | Chart::OverTime { title, .. } => title,
        }
    }
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 340.0;
/// The plot area's margins: left (y labels), right, top (legend), bottom (x labels).
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 45.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];
/// Points of a distribution's CDF line (quantiles), whatever its number of samples.
const CDF_POINTS: usize = 400;

/// A series' name and its points (x, y).
type Line<'a> = (&'a str, Vec<(f64, f64)>);

/// A line per series: a distribution as its cumulative distribution (the share of samples at
/// or below each value), a value over time as it is.
fn svg(chart: &Chart) -> String {
    let (lines, x_label, y_label): (Vec<Line>, String, String) = match chart {
        Chart::Distribution { unit, series, .. } => (
            series
                .iter()
                .map(|s| (s.name.as_str(), cdf(&s.samples)))
                .collect(),
            unit.clone(),
            "share of samples at or below".to_owned(),
        ),
        Chart::OverTime { unit, series, .. } => (
            series
                .iter()
                .map(|s| {
                    let points = s
                        .at_seconds
                        .iter()
                        .zip(&s.samples)
                        .map(|(t, v)| (*t, *v))
                        .filter(|(t, v)| t.is_finite() && v.is_finite())
                        .collect();
                    (s.name.as_str(), points)
                })
                .collect(),
            "seconds".to_owned(),
            unit.clone(),
        ),
    };
    let all = || lines.iter().flat_map(|(_, points)| points.iter());
    let mut out = format!(
        "<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"{}\">\n",
        escape(chart.caption())
    );
    if all().next().is_none() {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no samples</text>\n</svg>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        ));
        return out;
    }
    let x_ticks = ticks(
        all().map(|p| p.0).fold(f64::INFINITY, f64::min),
        all().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
    );
    let y_ticks = match chart {
        Chart::Distribution { .. } => vec![0.0, 0.25, 0.5, 0.75, 1.0],
        Chart::OverTime { .. } => ticks(
            all().map(|p| p.1).fold(0.0, f64::min),
            all().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
        ),
    };
    let scale = Scale::new(&x_ticks, &y_ticks);
    // Axes, grid and tick labels.
    for &x in &x_ticks {
        let px = scale.x(x);
        out.push_str(&format!(
            "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>\
             <text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 15.0,
            label(x, &x_ticks)
        ));
    }
    for &y in &y_ticks {
        let py = scale.y(y);
        out.push_str(&format!(
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#eee\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            WIDTH - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            label(y, &y_ticks)
        ));
    }
    out.push_str(&format!(
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" \
         stroke=\"#999\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n\
         <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        WIDTH - LEFT - RIGHT,
        HEIGHT - TOP - BOTTOM,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 8.0,
        escape(&x_label),
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        escape(&y_label)
    ));
    // The series, and the legend above the plot.
    let mut legend_x = LEFT;
    for (i, (name, points)) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", scale.x(x), scale.y(y)))
            .collect();
        out.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\n\
             <rect x=\"{legend_x:.1}\" y=\"12\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"22\">{}</text>\n",
            path.join(" "),
            legend_x + 16.0,
            escape(name)
        ));
        legend_x += 16.0 + 7.0 * name.chars().count() as f64 + 18.0;
    }
    out.push_str("</svg>");
    out
}

/// The cumulative distribution of `samples` as up to [`CDF_POINTS`] + 1 points (value, share);
/// samples that are not finite are left out.
fn cdf(samples: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let steps = CDF_POINTS.min(n);
    // From nothing at the least sample, then the share at or below each quantile.
    std::iter::once((sorted[0], 0.0))
        .chain((1..=steps).map(|k| {
            let at = k * n / steps;
            (sorted[at - 1], at as f64 / n as f64)
        }))
        .collect()
}

/// Round tick values covering `[low, high]`: about five steps of 1, 2 or 5 × 10ⁿ.
fn ticks(low: f64, high: f64) -> Vec<f64> {
    let (low, high) = if high > low {
        (low, high)
    } else {
        (
            low - 0.5 * low.abs().max(1.0),
            high + 0.5 * high.abs().max(1.0),
        )
    };
    let rough = (high - low) / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude);
    let first = (low / step).floor() as i64;
    let last = (high / step).ceil() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A tick's label with as many decimals as its step needs.
fn label(value: f64, ticks: &[f64]) -> String {
    let step = match ticks {
        [a, b, ..] => (b - a).abs(),
        _ => 1.0,
    };
    // The fewest decimals that write the step exactly (0.25 needs two).
    let decimals = (0..6)
        .find(|&d| {
            let scaled = step * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6) as usize;
    format!("{value:.decimals$}")
}

/// Data to pixels, over the domain the ticks span.
struct Scale {
    x: (f64, f64),
    y: (f64, f64),
}

impl Scale {
    fn new(x_ticks: &[f64], y_ticks: &[f64]) -> Scale {
        let span = |ticks: &[f64]| {
            let low = ticks.first().copied().unwrap_or(0.0);
            let high = ticks.last().copied().unwrap_or(1.0);
            (low, if high > low { high } else { low + 1.0 })
        };
        Scale {
            x: span(x_ticks),
            y: span(y_ticks),
        }
    }

    fn x(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0) * (HEIGHT - TOP - BOTTOM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, samples: Vec<f64>, at_seconds: Vec<f64>) -> Series {
        Series {
            name: name.to_owned(),
            samples,
            at_seconds,
        }
    }

    fn page() -> String {
        let latencies = [Chart::Distribution {
            title: "Round trips".to_owned(),
            unit: "ms".to_owned(),
            series: vec![
                series("ours", vec![3.0, 1.0, 2.0, 8.5], Vec::new()),
                series("raw <lapin>", vec![1.0, 1.5], Vec::new()),
            ],
        }];
        let over_time = [
            Chart::OverTime {
                title: "Contacts written per second".to_owned(),
                unit: "contacts/s".to_owned(),
                series: vec![series(
                    "session",
                    vec![0.0, 40.0, 38.0],
                    vec![0.5, 1.0, 1.5],
                )],
            },
            Chart::OverTime {
                title: "Nothing sampled".to_owned(),
                unit: "MiB".to_owned(),
                series: Vec::new(),
            },
        ];
        render(&[
            Row {
                name: "broker_round_trip_p99",
                figure: 4.0,
                unit: "ms",
                floor: 2.0,
                ratio: 0.5,
                target: 0.67,
                charts: &latencies,
            },
            Row {
                name: "mirror \"<b>&'",
                figure: 10.0,
                unit: "s",
                floor: 9.0,
                ratio: 0.9,
                target: 0.67,
                charts: &over_time,
            },
            Row {
                name: "reconcile_10k_links_1k_changes",
                figure: 20.0,
                unit: "ms",
                floor: 50.0,
                ratio: 2.5,
                target: 1.0,
                charts: &[],
            },
        ])
    }

    #[test]
    fn the_page_holds_a_row_per_scenario_with_its_verdict() {
        let page = page();
        let rows: Vec<&str> = page.lines().filter(|l| l.starts_with("<tr><td>")).collect();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].contains("broker_round_trip_p99") && rows[0].contains("not met"));
        assert!(rows[0].contains("<td>4.0</td>") && rows[0].contains("<td>0.50</td>"));
        assert!(rows[1].contains(">met<"), "{}", rows[1]);
        assert!(rows[2].contains("reconcile_10k_links_1k_changes") && rows[2].contains(">met<"));
    }

    #[test]
    fn the_page_draws_an_svg_per_chart_with_a_line_per_series() {
        let page = page();
        assert_eq!(page.matches("<svg ").count(), 3);
        // Two distribution series and one over time; the empty chart says so.
        assert_eq!(page.matches("<polyline ").count(), 3);
        assert!(page.contains("no samples"));
        // Only scenarios with charts get a section.
        assert_eq!(page.matches("<section ").count(), 2);
    }

    #[test]
    fn names_are_escaped() {
        let page = page();
        assert!(page.contains("mirror &quot;&lt;b&gt;&amp;&#39;"));
        assert!(page.contains("raw &lt;lapin&gt;"));
        assert!(!page.contains("<b>") && !page.contains("<lapin>"));
    }

    #[test]
    fn the_page_needs_no_network_and_runs_no_script() {
        let page = page();
        assert!(!page.contains("<script"));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("src="));
    }

    #[test]
    fn ticks_are_round_and_cover_the_values() {
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(3.2, 97.0);
        assert!(t[0] <= 3.2 && t.last().is_some_and(|last| *last >= 97.0));
        assert_eq!(t[1] - t[0], 20.0);
        // A single value still gets an axis.
        assert!(ticks(5.0, 5.0).len() >= 2);
    }

    #[test]
    fn tick_labels_write_their_step_exactly() {
        let quarters = [0.0, 0.25, 0.5, 0.75, 1.0];
        assert_eq!(label(0.25, &quarters), "0.25");
        assert_eq!(label(1.0, &quarters), "1.00");
        assert_eq!(label(40.0, &[0.0, 20.0, 40.0]), "40");
        assert_eq!(label(0.6000000000000001, &[0.4, 0.6000000000000001]), "0.6");
    }

    #[test]
    fn a_cdf_rises_to_one_through_the_sorted_samples() {
        let points = cdf(&[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!(points.first(), Some(&(1.0, 0.0)));
        assert_eq!(points.last(), Some(&(3.0, 1.0)));
        assert!(
            points
                .windows(2)
                .all(|p| p[0].0 <= p[1].0 && p[0].1 <= p[1].1)
        );
        assert_eq!(
            cdf(&(0..10_000).map(f64::from).collect::<Vec<_>>()).len(),
            CDF_POINTS + 1
        );
    }
}
