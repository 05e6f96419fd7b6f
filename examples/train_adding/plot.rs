//! The loss curve as an SVG picture, written by hand (no plotting crate): the training
//! loss per step, its moving average, and horizontal reference lines (the trivial
//! baseline, the level that counts as solved), on a logarithmic loss axis.

use std::fmt::Write as _;

/// A horizontal reference line.
pub struct Level {
    /// Its legend text.
    pub label: String,
    /// Its height on the loss axis.
    pub value: f64,
    /// An SVG colour.
    pub color: &'static str,
    /// An SVG `stroke-dasharray` (`"6 4"`: dashed).
    pub dash: &'static str,
}

/// What to draw.
pub struct LossCurve<'a> {
    /// The title, above the plot.
    pub title: String,
    /// The training loss of each step (step `i + 1` at index `i`).
    pub losses: &'a [f64],
    /// Its moving average, one value per step.
    pub average: &'a [f64],
    /// Reference lines.
    pub levels: Vec<Level>,
}

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// The SVG text of `curve`.
pub fn render(curve: &LossCurve<'_>) -> String {
    let steps = curve.losses.len().max(1) as f64;
    // The loss axis spans whole decades around every value drawn (non-positive
    // values cannot be drawn on a log axis and are left out).
    let drawn = curve.losses.iter().chain(curve.average).copied().chain(curve.levels.iter().map(|l| l.value));
    let (low, high) =
        drawn.filter(|v| v.is_finite() && *v > 0.0).fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (low, high) = if low <= high { (low.log10().floor(), high.log10().ceil()) } else { (-3.0, 0.0) };
    let high = if high > low { high } else { low + 1.0 };
    let x = |step: f64| LEFT + (WIDTH - LEFT - RIGHT) * step / steps;
    let y = |loss: f64| TOP + (HEIGHT - TOP - BOTTOM) * (high - loss.log10()) / (high - low);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(&curve.title)
    );

    // Grid and tick labels: one line per decade of loss, about eight steps apart.
    for decade in (low as i32)..=(high as i32) {
        let value = 10f64.powi(decade);
        let py = y(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            tick_text(value),
        );
    }
    let tick = nice_step(steps / 8.0);
    let mut step = 0.0;
    while step <= steps {
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle">{step}</text>"##,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 18.0,
            px = x(step)
        );
        step += tick;
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        WIDTH - LEFT - RIGHT,
        HEIGHT - TOP - BOTTOM
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">training step</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(20 {}) rotate(-90)" text-anchor="middle">mean squared error (log scale)</text>"#,
        (TOP + HEIGHT - BOTTOM) / 2.0
    );

    // The curves, then the reference lines, then the legend.
    let mut legend: Vec<(String, &str, &str, f64)> = Vec::new();
    for (values, label, color, width) in
        [(curve.losses, "training loss", "#9ecae1", 1.0), (curve.average, "moving average", "#08519c", 2.0)]
    {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite() && **v > 0.0)
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i as f64 + 1.0), y(v)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="{width}" points="{}"/>"#,
            points.join(" ")
        );
        legend.push((label.to_owned(), color, "", width));
    }
    for level in &curve.levels {
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="{}" stroke-width="1.5" stroke-dasharray="{}"/>"#,
            WIDTH - RIGHT,
            level.color,
            level.dash,
            py = y(level.value)
        );
        legend.push((level.label.clone(), level.color, level.dash, 1.5));
    }
    // The legend in the lower left corner, where a falling loss curve leaves room.
    let (lx, ly) = (LEFT + 16.0, HEIGHT - BOTTOM - 20.0 * legend.len() as f64 - 4.0);
    let _ = writeln!(
        svg,
        r##"<rect x="{}" y="{}" width="240" height="{}" fill="white" fill-opacity="0.85" stroke="#999"/>"##,
        lx - 8.0,
        ly - 10.0,
        20.0 * legend.len() as f64 + 4.0
    );
    for (i, (label, color, dash, width)) in legend.iter().enumerate() {
        let row = ly + 20.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="{width}" stroke-dasharray="{dash}"/><text x="{}" y="{:.1}">{}</text>"#,
            lx + 28.0,
            row + 2.0,
            row + 2.0,
            lx + 36.0,
            row + 6.0,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The mean of the last `window` values up to each position.
pub fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut sum = 0.0;
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            sum += v;
            if i >= window {
                sum -= values[i - window];
            }
            sum / (i + 1).min(window) as f64
        })
        .collect()
}

/// 1, 2 or 5 times a power of ten, at least `raw` (and at least 1: steps are whole).
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|&s| s >= raw).unwrap_or(10.0 * power)
}

/// `0.001`, `0.1`, `1`, `10`; `1e-5` below a thousandth.
fn tick_text(value: f64) -> String {
    if value >= 1e-3 { format!("{value}") } else { format!("{value:e}") }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_over_a_window() {
        assert_eq!(moving_average(&[1.0, 3.0, 5.0, 7.0], 2), [1.0, 2.0, 4.0, 6.0]);
        assert_eq!(moving_average(&[], 5), Vec::<f64>::new());
    }

    #[test]
    fn nice_ticks() {
        assert_eq!(nice_step(0.3), 1.0);
        assert_eq!(nice_step(37.5), 50.0);
        assert_eq!(nice_step(125.0), 200.0);
        assert_eq!(tick_text(0.01), "0.01");
        assert_eq!(tick_text(1e-5), "1e-5");
    }

    #[test]
    fn renders_a_complete_picture() {
        let losses: Vec<f64> = (0..300).map(|i| 0.2 * (-(i as f64) / 50.0).exp()).collect();
        let average = moving_average(&losses, 20);
        let levels =
            vec![Level { label: "baseline 1/6 <trivial>".into(), value: 1.0 / 6.0, color: "red", dash: "6 4" }];
        let svg = render(&LossCurve { title: "test & title".into(), losses: &losses, average: &average, levels });
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("test &amp; title") && svg.contains("baseline 1/6 &lt;trivial&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(">0.001<") && svg.contains(">1<") && svg.contains(">training step<"));
        // Every point lies inside the plot area.
        let points = svg.split("points=\"").nth(1).expect("a polyline").split('"').next().expect("closed");
        assert_eq!(points.split(' ').count(), 300);
        for point in points.split(' ') {
            let (px, py) = point.split_once(',').expect("x,y");
            let (px, py): (f64, f64) = (px.parse().expect("x"), py.parse().expect("y"));
            assert!((LEFT..=WIDTH - RIGHT).contains(&px) && (TOP..=HEIGHT - BOTTOM).contains(&py), "{point}");
        }
    }
}
