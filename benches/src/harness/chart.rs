//! One PNG per area: a horizontal bar per workload showing ours ÷ peer (higher is better), with the
//! parity line at 1×, so that workloads with different units read on one scale.

use std::path::Path;
use std::sync::Once;

use anyhow::Context;
use plotters::prelude::*;

use super::Line;

/// Debian's `fonts-dejavu-core` (installed by scripts/setup.sh); plotters needs a font to draw text.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub(super) fn register_font() -> anyhow::Result<()> {
    static ONCE: Once = Once::new();
    let bytes =
        std::fs::read(FONT).with_context(|| format!("charts need {FONT} (apt-get install fonts-dejavu-core)"))?;
    ONCE.call_once(|| {
        // The font lives as long as the process; plotters wants 'static bytes.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
    Ok(())
}

pub fn ratio_chart(path: &Path, area: &str, lines: &[&Line]) -> anyhow::Result<()> {
    register_font()?;
    let height = 120 + 40 * lines.len() as u32;
    let root = BitMapBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let max = lines.iter().map(|l| l.ratio()).fold(1.0f64, f64::max) * 1.15;
    let labels: Vec<String> = lines.iter().map(|l| format!("{} (vs {})", l.workload, l.peer_name)).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{area}: ours ÷ peer (higher is better)"), ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(480)
        .build_cartesian_2d(0.0..max, (0..lines.len()).into_segmented())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        // One label per bar (plotters otherwise thins labels out once there are more than ~10 bars).
        .y_labels(lines.len() + 1)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("ratio")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(lines.iter().enumerate().map(|(i, l)| {
            let color = if l.ratio() >= 1.0 { GREEN.mix(0.7) } else { RED.mix(0.7) };
            let mut bar = Rectangle::new(
                [(0.0, SegmentValue::Exact(i)), (l.ratio(), SegmentValue::Exact(i + 1))],
                color.filled(),
            );
            bar.set_margin(6, 6, 0, 0);
            bar
        }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(lines.len()))],
            BLACK.stroke_width(2),
        )))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
