//! A time-series PNG: one value per second over a run (e.g. IOPS while a burst bucket drains), with
//! horizontal reference lines (e.g. a model's burst and baseline rates).

use std::path::Path;

use plotters::prelude::*;

/// Draws `points` (seconds, value) as a line, plus each `(label, value)` reference as a thin level line.
pub fn time_series(
    path: &Path,
    title: &str,
    y_desc: &str,
    points: &[(f64, f64)],
    references: &[(&str, f64)],
) -> anyhow::Result<()> {
    super::chart::register_font()?;
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let x_max = points.iter().map(|p| p.0).fold(1.0f64, f64::max);
    let y_max = points.iter().map(|p| p.1).chain(references.iter().map(|r| r.1)).fold(1.0f64, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(std::iter::once(PathElement::new(points.to_vec(), BLUE.stroke_width(2))))
        .map_err(|e| err(&e))?
        .label("measured")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    for (i, (label, level)) in references.iter().enumerate() {
        let color = Palette99::pick(i + 1).to_rgba();
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(0.0, *level), (x_max, *level)], color.stroke_width(1))))
            .map_err(|e| err(&e))?
            .label(format!("{label} ({level:.0})"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
