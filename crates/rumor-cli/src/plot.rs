//! `--plot FILE.svg`: the infection curve of every run in a report (the
//! share of agents holding an update against the time since it was
//! written), with each run's update-to-all p50, p90 and p99 marked.

use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;

use crate::report::Report;

/// Where the log-scaled time axis starts: earlier points are drawn here.
const FLOOR_MS: f64 = 0.1;

const COLORS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// Writes the plot of `report` to `path` as SVG.
pub(crate) fn write_svg(report: &Report, path: &Path) -> anyhow::Result<()> {
    let svg = render(report).map_err(|e| anyhow::anyhow!("could not draw the plot: {e}"))?;
    std::fs::write(path, svg)
        .with_context(|| format!("could not write the plot to {}", path.display()))
}

/// Fails at once, before a long run, when `path` cannot be written.
pub(crate) fn check_writable(path: &Path) -> anyhow::Result<()> {
    std::fs::File::create(path)
        .map(drop)
        .with_context(|| format!("could not write the plot to {}", path.display()))
}

fn render(report: &Report) -> Result<String, Box<dyn std::error::Error>> {
    let end = report
        .runs
        .iter()
        .filter_map(|r| r.curve.last().map(|p| p.ms))
        .fold(1.0_f64, f64::max);
    let agents = report.runs.first().map_or(0, |r| r.agents);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 540)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "rumor {}: {agents} agents, share holding an update vs time since it was written",
                    report.command
                ),
                ("sans-serif", 18),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(56)
            // A log scale: eager spreads in milliseconds, anti-entropy in seconds.
            .build_cartesian_2d((FLOOR_MS..end * 1.2).log_scale(), 0.0..100.0)?;
        chart
            .configure_mesh()
            .x_desc("ms since the write (log scale)")
            .y_desc("% of (update, live agent) pairs held")
            .draw()?;
        for (i, run) in report.runs.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let points = run
                .curve
                .iter()
                .map(|p| (p.ms.max(FLOOR_MS), p.share * 100.0));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(run.strategy.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            let Some(p) = run.updates.to_all_ms else {
                continue;
            };
            let row = f64::from(u32::try_from(i).unwrap_or(0)) * 15.0;
            for (k, (name, at)) in [("p50", p.p50), ("p90", p.p90), ("p99", p.p99)]
                .into_iter()
                .enumerate()
            {
                let at = at.max(FLOOR_MS);
                let dashed = color.mix(0.5).stroke_width(1);
                chart.draw_series(std::iter::once(PathElement::new(
                    [(at, 0.0), (at, 100.0)],
                    dashed,
                )))?;
                let height = 95.0 - row - 4.0 * f64::from(u32::try_from(k).unwrap_or(0));
                chart.draw_series(std::iter::once(Text::new(
                    name,
                    (at, height),
                    ("sans-serif", 12).into_font().color(&color),
                )))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}
