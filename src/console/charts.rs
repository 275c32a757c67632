//! Charts drawn on the server as SVG: no script, no CDN, readable by screen readers (each SVG
//! has a title and the page gives the same numbers as a table beside it). Pure functions of the
//! numbers, so they are unit-tested.

use std::fmt::Write as _;

/// One bar: its label and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: i64,
}

impl Bar {
    /// A bar labelled `label`.
    pub fn new(label: impl Into<String>, value: i64) -> Bar {
        Bar {
            label: label.into(),
            value,
        }
    }
}

/// Text made safe inside SVG/HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Bar fill: a blue with 4.6:1 contrast on white, so bars read as clearly as text.
const FILL: &str = "#0b5cad";

/// Horizontal bars, one row per item, value written at the end of each bar. `title` is the
/// chart's accessible name.
pub fn bars(title: &str, items: &[Bar]) -> String {
    let row = 26;
    let label_w = 170;
    let bar_w = 300;
    let width = label_w + bar_w + 70;
    let height = (items.len().max(1) * row + 8) as i64;
    let max = items.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let mut svg = format!(
        r#"<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(title)
    );
    if items.is_empty() {
        let _ = write!(svg, r#"<text x="0" y="18">No answers yet</text>"#);
    }
    for (i, b) in items.iter().enumerate() {
        let y = i * row + 4;
        let w = (b.value.max(0) as f64 / max as f64 * bar_w as f64).round() as i64;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{label_w}" y="{y}" width="{w}" height="{}" fill="{FILL}"/><text x="{}" y="{}">{}</text>"#,
            label_w - 6,
            y + 15,
            escape(&shorten(&b.label, 26)),
            row - 8,
            label_w + w + 6,
            y + 15,
            b.value
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Vertical columns over time (one per day), the first and last day labelled under the axis.
pub fn columns(title: &str, items: &[Bar]) -> String {
    let height = 160;
    let plot = 120;
    let n = items.len().max(1);
    let col = (560 / n).clamp(3, 40);
    let width = (col * n + 20).max(200) as i64;
    let max = items.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let mut svg = format!(
        r#"<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(title)
    );
    if items.is_empty() {
        let _ = write!(svg, r#"<text x="0" y="18">No conversations yet</text>"#);
    }
    let _ = write!(
        svg,
        r##"<line x1="0" y1="{plot}" x2="{width}" y2="{plot}" stroke="#4a5360"/><text x="0" y="12">{max}</text>"##
    );
    for (i, b) in items.iter().enumerate() {
        let h = (b.value.max(0) as f64 / max as f64 * (plot - 16) as f64).round() as i64;
        let x = i * col;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{}" width="{}" height="{h}" fill="{FILL}"><title>{}: {}</title></rect>"#,
            plot - h,
            (col as i64 - 2).max(1),
            escape(&b.label),
            b.value
        );
    }
    if let (Some(first), Some(last)) = (items.first(), items.last()) {
        let _ = write!(
            svg,
            r#"<text x="0" y="{}">{}</text>"#,
            plot + 18,
            escape(&first.label)
        );
        if items.len() > 1 {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                (col * n) as i64,
                plot + 36,
                escape(&last.label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Number answers grouped for a histogram: one bar per value when there are few distinct values
/// (a 1-to-5 scale), else ten equal-width ranges between the smallest and largest. Values that
/// are not numbers are left out.
pub fn histogram(values: &[(String, i64)]) -> Vec<Bar> {
    let mut nums: Vec<(f64, i64)> = values
        .iter()
        .filter_map(|(v, n)| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| (f, *n))
        })
        .collect();
    nums.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut distinct: Vec<(f64, i64)> = Vec::new();
    for (v, n) in nums {
        match distinct.last_mut() {
            Some((last, count)) if *last == v => *count += n,
            _ => distinct.push((v, n)),
        }
    }
    if distinct.len() <= 12 {
        return distinct
            .into_iter()
            .map(|(v, n)| Bar::new(number(v), n))
            .collect();
    }
    let (lo, hi) = (distinct[0].0, distinct[distinct.len() - 1].0);
    let step = (hi - lo) / 10.0;
    let mut buckets = vec![0i64; 10];
    for (v, n) in &distinct {
        let i = (((v - lo) / step) as usize).min(9);
        buckets[i] += n;
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let from = lo + step * i as f64;
            let to = lo + step * (i + 1) as f64;
            Bar::new(format!("{}–{}", number(from), number(to)), n)
        })
        .collect()
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_escape_labels_and_scale_to_the_largest_value() {
        let svg = bars("Visits", &[Bar::new("<script>", 4), Bar::new("Monthly", 2)]);
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script>"));
        assert!(
            svg.contains(r#"width="300""#),
            "the largest bar is full width"
        );
        assert!(
            svg.contains(r#"width="150""#),
            "half the value, half the width"
        );
        assert!(svg.contains("<title>Visits</title>"));
    }

    #[test]
    fn a_few_distinct_numbers_get_a_bar_each_and_many_get_ten_ranges() {
        let scale = histogram(&[
            ("3".into(), 2),
            ("1".into(), 1),
            ("3.0".into(), 1),
            ("x".into(), 9),
        ]);
        assert_eq!(scale, vec![Bar::new("1", 1), Bar::new("3", 3)]);
        let ages: Vec<(String, i64)> = (0..100).map(|a| (a.to_string(), 1)).collect();
        let h = histogram(&ages);
        assert_eq!(h.len(), 10);
        assert_eq!(h.iter().map(|b| b.value).sum::<i64>(), 100);
        assert_eq!(h[0].label, "0–9.9");
    }

    #[test]
    fn an_empty_chart_says_so() {
        assert!(bars("x", &[]).contains("No answers yet"));
        assert!(columns("x", &[]).contains("No conversations yet"));
    }
}
