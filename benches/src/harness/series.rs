//! A time-series PNG: one value per second over a run (e.g. IOPS while a burst bucket drains), with
//! horizontal reference lines (e.g. a model's burst and baseline rates) and vertical ones (e.g. the
//! moment the model says the burst ends).

use std::path::Path;

use plotters::prelude::*;

/// Draws each `(label, points)` series ((seconds, value) points) as a line, plus each `(label, value)`
/// reference as a thin level line and each `(label, seconds)` marker as a thin vertical line.
pub fn time_series(
    path: &Path,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    references: &[(&str, f64)],
    markers: &[(&str, f64)],
) -> anyhow::Result<()> {
    super::chart::register_font()?;
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let points = || series.iter().flat_map(|s| s.1.iter());
    let x_max = points().map(|p| p.0).chain(markers.iter().map(|m| m.1)).fold(1.0f64, f64::max);
    let y_max = points().map(|p| p.1).chain(references.iter().map(|r| r.1)).fold(1.0f64, f64::max) * 1.15;
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
    // Series in shades of blue, references and markers in the palette's other colours.
    let blues = [RGBColor(0, 0, 255), RGBColor(0, 120, 220), RGBColor(0, 190, 190), RGBColor(90, 60, 200)];
    for (i, (label, points)) in series.iter().enumerate() {
        let color = blues[i % blues.len()];
        chart
            .draw_series(std::iter::once(PathElement::new(points.clone(), color.stroke_width(2))))
            .map_err(|e| err(&e))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    for (i, (label, level)) in references.iter().enumerate() {
        let color = Palette99::pick(i + 1).to_rgba();
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(0.0, *level), (x_max, *level)], color.stroke_width(1))))
            .map_err(|e| err(&e))?
            .label(format!("{label} ({level:.0})"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    for (label, at) in markers {
        // Red: apart from the blue series and the palette's level lines.
        let color = RED.mix(0.8);
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(*at, 0.0), (*at, y_max)], color.stroke_width(1))))
            .map_err(|e| err(&e))?
            .label(format!("{label} ({at:.1} s)"))
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
