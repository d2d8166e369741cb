//! A plain horizontal bar chart of values with one unit (e.g. hit ratios of several eviction
//! policies and of an exact LRU), for results that are not an ours ÷ peer ratio.

use std::path::Path;

use plotters::prelude::*;

/// One bar per `(label, value)`; `highlight` bars (e.g. the reference) are drawn in grey.
pub fn value_chart(path: &Path, title: &str, unit: &str, bars: &[(String, f64, bool)]) -> anyhow::Result<()> {
    super::chart::register_font()?;
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let height = 120 + 36 * bars.len() as u32;
    let root = BitMapBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE) * 1.12;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(360)
        .build_cartesian_2d(0.0..max, (0..bars.len()).into_segmented())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len() + 1)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| format!("{} ({:.2})", b.0, b.1)).unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc(unit)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v, reference))| {
            let color = if *reference { BLACK.mix(0.4) } else { BLUE.mix(0.6) };
            let mut bar =
                Rectangle::new([(0.0, SegmentValue::Exact(i)), (*v, SegmentValue::Exact(i + 1))], color.filled());
            bar.set_margin(5, 5, 0, 0);
            bar
        }))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bars.png");
        let bars = vec![("a".to_string(), 50.0, false), ("ref".to_string(), 55.0, true)];
        super::value_chart(&path, "t", "%", &bars).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    }
}
