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

/// Columns and rows of the terminal plot.
const TERMINAL: (usize, usize) = (64, 10);

/// The infection curves as a small text plot, for after the table: share
/// held (rows) against the time since the write (columns, log scale), one
/// letter per run.
pub(crate) fn terminal(report: &Report) -> String {
    let (width, height) = TERMINAL;
    let end = report
        .runs
        .iter()
        .filter_map(|r| r.curve.last().map(|p| p.ms))
        .fold(FLOOR_MS * 10.0, f64::max);
    let span = (end / FLOOR_MS).ln();
    let time_at = |col: usize| FLOOR_MS * (span * col as f64 / (width - 1) as f64).exp();
    let mut grid = vec![vec![' '; width]; height];
    let mut legend = Vec::new();
    for run in &report.runs {
        let mark = run
            .strategy
            .chars()
            .next()
            .map_or('*', |c| c.to_ascii_uppercase());
        let mark = if run.strategy == "delta-optimized" {
            'O'
        } else {
            mark
        };
        legend.push(format!("{mark} {}", run.strategy));
        for (col, _) in (0..width).zip(0..) {
            let t = time_at(col);
            let held = run.curve.partition_point(|p| p.ms <= t);
            let share = if held == 0 {
                0.0
            } else {
                run.curve[held - 1].share
            };
            let row = ((1.0 - share) * (height - 1) as f64).round() as usize;
            // The first run drawn keeps a shared cell (the 0 % and 100 % rows are mostly shared).
            let cell = &mut grid[row.min(height - 1)][col];
            if *cell == ' ' {
                *cell = mark;
            }
        }
    }
    let mut out = String::from("\nshare of agents holding an update, by ms since the write:\n");
    for (i, line) in grid.iter().enumerate() {
        let label = match i {
            0 => "100%",
            _ if i == height / 2 => " 50%",
            _ if i == height - 1 => "  0%",
            _ => "    ",
        };
        out.push_str(label);
        out.push_str(" |");
        out.extend(line.iter());
        out.push('\n');
    }
    out.push_str("     +");
    out.push_str(&"-".repeat(width));
    out.push('\n');
    let (left, mid, right) = (
        crate::report::ms(FLOOR_MS),
        crate::report::ms(time_at(width / 2)),
        crate::report::ms(end),
    );
    let gap = (width / 2).saturating_sub(left.len() + mid.len() / 2);
    let gap2 = (width - width / 2).saturating_sub(mid.len() - mid.len() / 2 + right.len());
    out.push_str(&format!(
        "      {left}{}{mid}{}{right}   (log scale)\n",
        " ".repeat(gap),
        " ".repeat(gap2)
    ));
    out.push_str(&format!("      {}\n", legend.join("   ")));
    out
}
