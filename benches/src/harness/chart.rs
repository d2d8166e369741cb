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

/// Characters of a bar's label that fit the 600 px label area at 14 px (the report's table has the rest).
const LABEL_CHARS: usize = 82;

/// `label`, cut to `max` characters with an ellipsis where it was cut.
fn fit(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        return label.to_string();
    }
    let mut cut: String = label.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

pub fn ratio_chart(path: &Path, area: &str, lines: &[&Line]) -> anyhow::Result<()> {
    register_font()?;
    let height = 120 + 40 * lines.len() as u32;
    let root = BitMapBackend::new(path, (1400, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let max = lines.iter().map(|l| l.ratio()).fold(1.0f64, f64::max) * 1.15;
    let labels: Vec<String> =
        lines.iter().map(|l| fit(&format!("{} (vs {})", l.workload, l.peer_name), LABEL_CHARS)).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{area}: ours ÷ peer (higher is better)"), ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(600)
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

#[cfg(test)]
mod tests {
    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        assert_eq!(super::fit("short", 10), "short");
        let cut = super::fit("PROVISIONED 100 WCU, PutItem flat out (40467 x Provisioned…)", 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…') && cut.starts_with("PROVISIONED 100 WCU"));
    }

    /// Renders a chart with the longest labels the areas produce (look at it: the labels must fit).
    #[test]
    fn a_chart_renders() {
        let stat = |v: f64| super::super::Stat { median: v, min: v, max: v, samples: vec![v] };
        let line = |name: &str, ours: f64| super::Line {
            area: "x".into(),
            workload: name.into(),
            unit: "ops/s".into(),
            higher_is_better: true,
            ours: stat(ours),
            peer_name: "provisioned; dynalite never throttles".into(),
            peer: stat(1.0),
            ours_latency: None,
            peer_latency: None,
        };
        let lines = [
            line("PROVISIONED 100 WCU, PutItem flat out (40467 x ProvisionedThroughputExceededException)", 1.0),
            line("YCSB A", 2.5),
        ];
        let dir = std::env::var_os("CHART_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let path = dir.join("stratus-chart-test.png");
        super::ratio_chart(&path, "x", &lines.iter().collect::<Vec<_>>()).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    }
}
