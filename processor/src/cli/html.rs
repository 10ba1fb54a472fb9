//! `crossaz report --html FILE`: the report's answers as one self-contained HTML page — inline
//! CSS, SVG charts drawn here in Rust, a few lines of inline JS (sortable tables), nothing
//! fetched from the network — so it can be mailed, attached to a ticket or opened offline.
//!
//! The numbers come from the same SQL as the text report ([`super::report::sections`]) plus the
//! zone-pair totals of the AZ matrix. Every chart element carries its exact value in `data-*`
//! attributes (and an SVG `<title>` tooltip), which the tests read back from a headless browser.

use std::fmt::Write as _;

use arrow::array::{Array, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use crate::local::query;
use crate::local::s3::AwsOptions;

use super::report::sections;

/// A query result as text cells (`None` for NULL).
#[derive(Debug, Clone, Default)]
pub(super) struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    fn from_batches(columns: Vec<String>, batches: &[RecordBatch]) -> anyhow::Result<Self> {
        let mut rows = Vec::new();
        for batch in batches {
            let cast: Vec<StringArray> = batch
                .columns()
                .iter()
                .map(|c| {
                    let s = arrow::compute::cast(c, &DataType::Utf8)?;
                    Ok(s.as_any()
                        .downcast_ref::<StringArray>()
                        .cloned()
                        .unwrap_or_else(|| StringArray::from(vec![None::<&str>; c.len()])))
                })
                .collect::<Result<_, arrow::error::ArrowError>>()?;
            for i in 0..batch.num_rows() {
                rows.push(
                    cast.iter()
                        .map(|c| (!c.is_null(i)).then(|| c.value(i).to_owned()))
                        .collect(),
                );
            }
        }
        Ok(Self { columns, rows })
    }

    fn cell(&self, row: usize, column: &str) -> Option<&str> {
        let at = self.columns.iter().position(|c| c == column)?;
        self.rows.get(row)?.get(at)?.as_deref()
    }

    fn number(&self, row: usize, column: &str) -> f64 {
        self.cell(row, column)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

async fn table(ctx: &datafusion::prelude::SessionContext, sql: &str) -> anyhow::Result<Table> {
    let frame = ctx.sql(sql).await?;
    let columns = frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let batches = frame.collect().await?;
    Table::from_batches(columns, &batches)
}

/// Escapes text for HTML content and attribute values.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` → `1.23 MB` (decimal units, as AWS bills).
pub(super) fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

fn dollars(usd: f64) -> String {
    if usd >= 100.0 {
        format!("${usd:.2}")
    } else {
        format!("${usd:.6}")
    }
}

/// White → dark red by `fraction` (0..=1).
fn heat(fraction: f64) -> String {
    let f = fraction.clamp(0.0, 1.0);
    let lerp = |from: f64, to: f64| (from + (to - from) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        lerp(255.0, 165.0),
        lerp(247.0, 15.0),
        lerp(236.0, 21.0)
    )
}

/// `text` cut to at most `max` characters by eliding its middle.
fn shorten(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_owned();
    }
    let keep = (max - 1) / 2;
    let head: String = chars[..keep].iter().collect();
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{head}…{tail}")
}

/// A horizontal bar chart: one labelled bar per item (label, value, shown text).
fn hbar_chart(id: &str, items: &[(String, f64, String)]) -> String {
    const WIDTH: f64 = 760.0;
    const LABEL: f64 = 300.0;
    const ROW: f64 = 24.0;
    let max = items.iter().map(|i| i.1).fold(0.0, f64::max);
    let height = ROW * items.len() as f64 + 8.0;
    let mut svg = format!(
        r#"<svg id="{id}" class="chart" role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">"#
    );
    for (n, (label, value, shown)) in items.iter().enumerate() {
        let y = n as f64 * ROW + 4.0;
        let w = if max > 0.0 {
            (WIDTH - LABEL - 190.0) * value / max
        } else {
            0.0
        };
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{ty}" text-anchor="end" class="label">{short}<title>{l}</title></text><rect class="bar" x="{LABEL}" y="{y}" width="{w:.1}" height="{h}" data-label="{l}" data-value="{value}"><title>{l}: {s}</title></rect><text x="{vx:.1}" y="{ty}" class="value">{s}</text>"#,
            x = LABEL - 6.0,
            ty = y + 15.0,
            short = esc(&shorten(label, 44)),
            l = esc(label),
            h = ROW - 6.0,
            vx = LABEL + w + 6.0,
            s = esc(shown),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Columns per hour (bytes), with the cost as a line on the same time axis.
fn hour_chart(hours: &Table) -> String {
    const WIDTH: f64 = 760.0;
    const HEIGHT: f64 = 260.0;
    const LEFT: f64 = 70.0;
    const BOTTOM: f64 = 50.0;
    let n = hours.rows.len().max(1);
    let plot_w = WIDTH - LEFT - 20.0;
    let plot_h = HEIGHT - BOTTOM - 20.0;
    let slot = plot_w / n as f64;
    let max_bytes = (0..hours.rows.len())
        .map(|r| hours.number(r, "bytes"))
        .fold(0.0, f64::max);
    let max_cost = (0..hours.rows.len())
        .map(|r| hours.number(r, "cost_usd"))
        .fold(0.0, f64::max);
    let mut svg = format!(
        r#"<svg id="hour-chart" class="chart" role="img" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"><line class="axis" x1="{LEFT}" y1="{base}" x2="{right}" y2="{base}"/><text x="{tx}" y="24" text-anchor="end" class="label">{top}</text>"#,
        base = 20.0 + plot_h,
        right = WIDTH - 20.0,
        tx = LEFT - 6.0,
        top = esc(&human_bytes(max_bytes)),
    );
    let mut points = Vec::new();
    for r in 0..hours.rows.len() {
        let dt = hours.cell(r, "dt").unwrap_or("?");
        let bytes = hours.number(r, "bytes");
        let cost = hours.number(r, "cost_usd");
        let h = if max_bytes > 0.0 {
            plot_h * bytes / max_bytes
        } else {
            0.0
        };
        let x = LEFT + slot * r as f64;
        let _ = write!(
            svg,
            r#"<rect class="hour-bar" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" data-dt="{dt}" data-bytes="{bytes}"><title>{dt}: {hb}, {c}</title></rect>"#,
            x = x + slot * 0.1,
            y = 20.0 + plot_h - h,
            w = slot * 0.8,
            dt = esc(dt),
            hb = esc(&human_bytes(bytes)),
            c = esc(&dollars(cost)),
        );
        if n <= 24 || r % (n / 12).max(1) == 0 {
            let _ = write!(
                svg,
                r#"<text x="{cx:.1}" y="{ly}" text-anchor="end" class="tick" transform="rotate(-35 {cx:.1} {ly})">{dt}</text>"#,
                cx = x + slot * 0.5,
                ly = 20.0 + plot_h + 14.0,
                dt = esc(dt),
            );
        }
        let cy = if max_cost > 0.0 {
            20.0 + plot_h - plot_h * cost / max_cost
        } else {
            20.0 + plot_h
        };
        points.push(format!("{:.1},{cy:.1}", x + slot * 0.5));
    }
    let _ = write!(
        svg,
        r#"<polyline class="cost-line" fill="none" points="{}"/></svg>"#,
        points.join(" ")
    );
    svg
}

/// The AZ × AZ heatmap of bytes (rows: source zone, columns: destination zone).
fn matrix_chart(pairs: &Table) -> String {
    const CELL_W: f64 = 130.0;
    const CELL_H: f64 = 44.0;
    const LEFT: f64 = 130.0;
    const TOP: f64 = 40.0;
    let mut zones: Vec<String> = Vec::new();
    for r in 0..pairs.rows.len() {
        for column in ["src_zone", "dst_zone"] {
            let zone = pairs.cell(r, column).unwrap_or("(unknown)").to_owned();
            if !zones.contains(&zone) {
                zones.push(zone);
            }
        }
    }
    zones.sort();
    let value = |src: &str, dst: &str| {
        (0..pairs.rows.len())
            .find(|r| {
                pairs.cell(*r, "src_zone").unwrap_or("(unknown)") == src
                    && pairs.cell(*r, "dst_zone").unwrap_or("(unknown)") == dst
            })
            .map(|r| (pairs.number(r, "bytes"), pairs.number(r, "cost_usd")))
    };
    let max = (0..pairs.rows.len())
        .map(|r| pairs.number(r, "bytes"))
        .fold(0.0, f64::max);
    let width = LEFT + CELL_W * zones.len() as f64 + 10.0;
    let height = TOP + CELL_H * zones.len() as f64 + 10.0;
    let mut svg = format!(
        r#"<svg id="az-matrix" class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}"><text x="4" y="16" class="label">source ↓ / destination →</text>"#
    );
    for (c, zone) in zones.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{y}" text-anchor="middle" class="label">{z}</text>"#,
            x = LEFT + CELL_W * (c as f64 + 0.5),
            y = TOP - 8.0,
            z = esc(zone)
        );
    }
    for (r, src) in zones.iter().enumerate() {
        let y = TOP + CELL_H * r as f64;
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{ty:.1}" text-anchor="end" class="label">{z}</text>"#,
            x = LEFT - 8.0,
            ty = y + CELL_H / 2.0 + 4.0,
            z = esc(src)
        );
        for (c, dst) in zones.iter().enumerate() {
            let x = LEFT + CELL_W * c as f64;
            let (bytes, cost) = value(src, dst).unwrap_or((0.0, 0.0));
            let fraction = if max > 0.0 { bytes / max } else { 0.0 };
            let ink = if fraction > 0.55 { "light" } else { "dark" };
            let _ = write!(
                svg,
                r#"<rect class="cell" x="{x:.1}" y="{y:.1}" width="{w}" height="{h}" fill="{fill}" data-src="{s}" data-dst="{d}" data-bytes="{bytes}" data-cost="{cost}"><title>{s} → {d}: {hb}, {c}</title></rect><text class="cell-text {ink}" x="{cx:.1}" y="{cy:.1}" text-anchor="middle">{hb}</text>"#,
                w = CELL_W - 2.0,
                h = CELL_H - 2.0,
                fill = heat(fraction),
                s = esc(src),
                d = esc(dst),
                hb = esc(&human_bytes(bytes)),
                c = esc(&dollars(cost)),
                cx = x + CELL_W / 2.0,
                cy = y + CELL_H / 2.0 + 4.0,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The share of bytes per endpoint-kind pair as one stacked bar.
fn kinds_chart(kinds: &Table) -> String {
    const WIDTH: f64 = 760.0;
    const COLORS: [&str; 6] = [
        "#3b6ea5", "#e08a2c", "#5a9e5a", "#b54848", "#8064a8", "#8c8c8c",
    ];
    let total: f64 = (0..kinds.rows.len())
        .map(|r| kinds.number(r, "bytes"))
        .sum();
    let mut svg = format!(
        r#"<svg id="kinds-chart" class="chart" role="img" width="{WIDTH}" height="70" viewBox="0 0 {WIDTH} 70">"#
    );
    let mut x = 0.0;
    for r in 0..kinds.rows.len() {
        let label = format!(
            "{} → {}",
            kinds.cell(r, "src_kind").unwrap_or("?"),
            kinds.cell(r, "dst_kind").unwrap_or("?")
        );
        let bytes = kinds.number(r, "bytes");
        let share = if total > 0.0 { bytes / total } else { 0.0 };
        let w = WIDTH * share;
        let _ = write!(
            svg,
            r#"<rect class="kind" x="{x:.1}" y="4" width="{w:.1}" height="30" fill="{fill}" data-kind="{l}" data-bytes="{bytes}" data-share="{pct:.1}"><title>{l}: {hb} ({pct:.1} %)</title></rect>"#,
            fill = COLORS[r % COLORS.len()],
            l = esc(&label),
            hb = esc(&human_bytes(bytes)),
            pct = share * 100.0,
        );
        if w > 150.0 {
            let _ = write!(
                svg,
                r#"<text x="{tx:.1}" y="58" class="label">{l} {pct:.1} %</text>"#,
                tx = x + 4.0,
                l = esc(&label),
                pct = share * 100.0,
            );
        }
        x += w;
    }
    svg.push_str("</svg>");
    svg
}

/// An HTML table of `t`, sortable by clicking a header.
fn html_table(id: &str, t: &Table) -> String {
    let mut out = format!(r#"<table id="{id}" class="sortable"><thead><tr>"#);
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        out.push_str("<tr>");
        for cell in row {
            let text = cell.as_deref().unwrap_or("");
            let numeric = text.parse::<f64>().is_ok();
            let _ = write!(
                out,
                r"<td{}>{}</td>",
                if numeric { r#" class="num""# } else { "" },
                esc(text)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

const STYLE: &str = r"
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:980px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}
.sub{color:#5c6677;margin:0 0 16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #dde2ea;border-radius:8px;padding:10px 14px;min-width:150px}
.card .k{color:#5c6677;font-size:12px;text-transform:uppercase;letter-spacing:.04em} .card .v{font-size:20px;font-weight:600}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid #eceff4;padding:4px 8px;text-align:left} th{cursor:pointer;background:#f5f7fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{display:block;margin:8px 0;max-width:100%;height:auto}
svg .bar{fill:#3b6ea5} svg .hour-bar{fill:#7aa6d6} svg .cost-line{stroke:#b54848;stroke-width:2}
svg .axis{stroke:#888} svg text{font:12px system-ui,sans-serif;fill:#1d2430} svg .tick{font-size:10px}
svg .cell{stroke:#fff} svg .cell-text.light{fill:#fff} svg .value{fill:#5c6677}
.legend{color:#5c6677;font-size:12px}
";

const SCRIPT: &str = r"
document.documentElement.dataset.js = 'ok';
for (const table of document.querySelectorAll('table.sortable')) {
  table.querySelectorAll('th').forEach((th, col) => th.addEventListener('click', () => {
    const body = table.tBodies[0];
    const rows = [...body.rows];
    const asc = th.dataset.sort !== 'asc';
    const key = r => { const t = r.cells[col].textContent; const n = parseFloat(t); return isNaN(n) ? t : n; };
    rows.sort((a, b) => { const x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1); });
    th.dataset.sort = asc ? 'asc' : 'desc';
    rows.forEach(r => body.appendChild(r));
  }));
}
";

/// The whole page for the flows in `data`.
pub(super) async fn html_report(
    data: &str,
    aws: &AwsOptions,
    top: usize,
) -> anyhow::Result<String> {
    let ctx = query::session(data, aws).await?;
    let mut results = Vec::new();
    for (title, sql) in sections(top) {
        results.push((title, table(&ctx, &sql).await?));
    }
    let find = |prefix: &str| {
        results
            .iter()
            .find(|(t, _)| t.starts_with(prefix))
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    let totals = find("Totals");
    let workloads = find("Top workload pairs");
    let pods = find("Top pod pairs");
    let namespaces = find("Per source namespace");
    let hours = find("Per hour");
    let kinds = find("By endpoint kind");
    let pairs = table(
        &ctx,
        "SELECT src_zone, dst_zone, sum(bytes) AS bytes, sum(cost_usd) AS cost_usd \
         FROM flows GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .await?;

    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>crossaz report</title><style>{STYLE}</style></head><body><h1>Cross-AZ traffic report</h1><p class="sub">{data} · {first} … {last} (UTC hours) · estimated cost, not a bill</p>"#,
        data = esc(data),
        first = esc(totals.cell(0, "first_hour").unwrap_or("-")),
        last = esc(totals.cell(0, "last_hour").unwrap_or("-")),
    );
    let flows = totals.cell(0, "flows").unwrap_or("0");
    let bytes = totals.number(0, "bytes");
    let cost = totals.number(0, "cost_usd");
    let _ = write!(
        page,
        r#"<div class="cards" id="totals"><div class="card"><div class="k">cross-AZ flows</div><div class="v" id="total-flows">{flows}</div></div><div class="card"><div class="k">bytes</div><div class="v" id="total-bytes" data-bytes="{bytes}">{hb}</div></div><div class="card"><div class="k">estimated cost</div><div class="v" id="total-cost" data-usd="{cost}">{c}</div></div><div class="card"><div class="k">hours</div><div class="v">{h}</div></div></div>"#,
        flows = esc(flows),
        hb = esc(&human_bytes(bytes)),
        c = esc(&dollars(cost)),
        h = hours.rows.len(),
    );

    page.push_str("<h2>Bytes by zone</h2><p class=\"legend\">rows: source zone, columns: destination zone; darker is more</p>");
    page.push_str(&matrix_chart(&pairs));

    page.push_str("<h2>Top workload pairs by bytes</h2>");
    let items: Vec<(String, f64, String)> = (0..workloads.rows.len())
        .map(|r| {
            let b = workloads.number(r, "bytes");
            (
                format!(
                    "{} → {}",
                    workloads.cell(r, "source").unwrap_or("?"),
                    workloads.cell(r, "destination").unwrap_or("?")
                ),
                b,
                format!(
                    "{} · {}",
                    human_bytes(b),
                    dollars(workloads.number(r, "cost_usd"))
                ),
            )
        })
        .collect();
    page.push_str(&hbar_chart("workload-chart", &items));
    page.push_str(&html_table("workload-pairs", &workloads));

    page.push_str("<h2>Top pod pairs by cost</h2>");
    let items: Vec<(String, f64, String)> = (0..pods.rows.len())
        .map(|r| {
            let c = pods.number(r, "cost_usd");
            (
                format!(
                    "{} → {}",
                    pods.cell(r, "source").unwrap_or("?"),
                    pods.cell(r, "destination").unwrap_or("?")
                ),
                c,
                format!("{} · {}", dollars(c), human_bytes(pods.number(r, "bytes"))),
            )
        })
        .collect();
    page.push_str(&hbar_chart("pod-chart", &items));
    page.push_str(&html_table("pod-pairs", &pods));

    page.push_str("<h2>Per source namespace</h2>");
    let items: Vec<(String, f64, String)> = (0..namespaces.rows.len())
        .map(|r| {
            let b = namespaces.number(r, "bytes");
            (
                namespaces.cell(r, "namespace").unwrap_or("?").to_owned(),
                b,
                format!(
                    "{} · {}",
                    human_bytes(b),
                    dollars(namespaces.number(r, "cost_usd"))
                ),
            )
        })
        .collect();
    page.push_str(&hbar_chart("namespace-chart", &items));
    page.push_str(&html_table("namespaces", &namespaces));

    page.push_str(
        "<h2>Per hour</h2><p class=\"legend\">columns: bytes; red line: estimated cost</p>",
    );
    page.push_str(&hour_chart(&hours));
    page.push_str(&html_table("hours", &hours));

    page.push_str("<h2>Pods, hostNetwork pods and nodes</h2><p class=\"legend\">share of bytes by source → destination endpoint kind</p>");
    page.push_str(&kinds_chart(&kinds));
    page.push_str(&html_table("kinds", &kinds));

    let _ = writeln!(
        page,
        "<p class=\"legend\">generated by crossaz {} at {}</p><script>{SCRIPT}</script></body></html>",
        env!("CARGO_PKG_VERSION"),
        super::format_time(chrono::Utc::now().timestamp())
    );
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_units_and_colors() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(human_bytes(999.0), "999 B");
        assert_eq!(human_bytes(1_234_567.0), "1.23 MB");
        assert_eq!(heat(0.0), "#fff7ec");
        assert_eq!(heat(1.0), "#a50f15");
        assert_eq!(shorten("abcdefghij", 7), "abc…hij");
        assert_eq!(shorten("abc", 7), "abc");
    }

    #[test]
    fn matrix_cells_carry_their_values() {
        let pairs = Table {
            columns: vec![
                "src_zone".into(),
                "dst_zone".into(),
                "bytes".into(),
                "cost_usd".into(),
            ],
            rows: vec![
                vec![
                    Some("a".into()),
                    Some("b".into()),
                    Some("100".into()),
                    Some("0.5".into()),
                ],
                vec![
                    Some("b".into()),
                    Some("a".into()),
                    Some("40".into()),
                    Some("0.2".into()),
                ],
            ],
        };
        let svg = matrix_chart(&pairs);
        assert_eq!(svg.matches(r#"class="cell""#).count(), 4);
        assert!(
            svg.contains(r#"data-src="a" data-dst="b" data-bytes="100""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"data-src="a" data-dst="a" data-bytes="0""#),
            "{svg}"
        );
    }
}
