//! `crossaz report --html`: the page is rendered by headless Chromium; the test reads the values
//! back from the browser's DOM (AZ matrix cells, bars, totals) and checks that a screenshot
//! shows the charts (the heatmap's darkest red among many colours). Chromium is required: without
//! it the test fails and says how to install it (`.ci/install-local.sh`).
#![cfg(feature = "cli")]

mod local_support;

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use crossaz::local::{PartitionedWriter, WriterConfig};
use crossaz::row::{Row, partition_key};
use local_support::crossaz;

const H13: i64 = 1_714_568_400;
const H14: i64 = H13 + 3600;

struct End {
    kind: &'static str,
    namespace: Option<&'static str>,
    workload: Option<&'static str>,
    pod: Option<&'static str>,
    node: &'static str,
    zone: &'static str,
}

const WEB: End = End {
    kind: "pod",
    namespace: Some("shop"),
    workload: Some("web"),
    pod: Some("web-1"),
    node: "n-a",
    zone: "us-east-1a",
};
const API: End = End {
    kind: "pod",
    namespace: Some("shop"),
    workload: Some("api"),
    pod: Some("api-1"),
    node: "n-b",
    zone: "us-east-1b",
};
const LEDGER: End = End {
    kind: "pod",
    namespace: Some("payments"),
    workload: Some("ledger"),
    pod: Some("ledger-1"),
    node: "n-c",
    zone: "us-east-1c",
};
const NODE_B: End = End {
    kind: "node",
    namespace: None,
    workload: None,
    pod: None,
    node: "n-b",
    zone: "us-east-1b",
};

fn row(start: i64, src: &End, dst: &End, bytes: i64) -> (String, Row<'static>) {
    let row = Row {
        flow_id: Some(format!("{start}-{bytes}").into()),
        start_ts: Some(start),
        end_ts: Some(start + 60),
        bytes: Some(bytes),
        src_kind: Some(src.kind.into()),
        src_namespace: src.namespace.map(Into::into),
        src_workload: src.workload.map(Into::into),
        src_pod: src.pod.map(Into::into),
        src_node: Some(src.node.into()),
        src_zone: Some(src.zone.into()),
        dst_kind: Some(dst.kind.into()),
        dst_namespace: dst.namespace.map(Into::into),
        dst_workload: dst.workload.map(Into::into),
        dst_pod: dst.pod.map(Into::into),
        dst_node: Some(dst.node.into()),
        dst_zone: Some(dst.zone.into()),
        cost_usd: Some(bytes as f64 * 0.02 / 1e9),
        ..Row::default()
    };
    (partition_key(start).unwrap(), row)
}

/// The attributes of every `<tag …>` whose class is `class`.
fn elements(dom: &str, tag: &str, class: &str) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    for piece in dom.split(&format!("<{tag} ")).skip(1) {
        let head = &piece[..piece.find('>').unwrap_or(piece.len())];
        let mut attrs = HashMap::new();
        let mut rest = head;
        while let Some(eq) = rest.find("=\"") {
            let name = rest[..eq]
                .trim()
                .rsplit(' ')
                .next()
                .unwrap_or("")
                .to_owned();
            let value_start = eq + 2;
            let value_end = value_start + rest[value_start..].find('"').unwrap();
            attrs.insert(name, rest[value_start..value_end].to_owned());
            rest = &rest[value_end + 1..];
        }
        if attrs.get("class").map(String::as_str) == Some(class) {
            out.push(attrs);
        }
    }
    out
}

fn chromium(args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let result = Command::new("timeout")
        .arg("120")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("running timeout/chromium");
    assert!(
        result.status.code() != Some(127),
        "chromium is not installed: run .ci/install-local.sh (apt-get install -y chromium)\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    result
}

/// RGB(A) pixels of an 8-bit PNG (the screenshot), decoded with flate2 and the PNG filters.
fn png_pixels(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut width, mut height, mut channels) = (0, 0, 0);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap());
                height = u32::from_be_bytes(data[4..8].try_into().unwrap());
                assert_eq!(data[8], 8, "bit depth");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
                assert_eq!(data[12], 0, "interlaced");
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(idat.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width as usize * channels;
    assert_eq!(raw.len(), (stride + 1) * height as usize);
    let mut image = vec![0u8; stride * height as usize];
    for y in 0..height as usize {
        let filter = raw[y * (stride + 1)];
        for x in 0..stride {
            let value = raw[y * (stride + 1) + 1 + x];
            let a = if x >= channels {
                image[y * stride + x - channels]
            } else {
                0
            };
            let b = if y > 0 {
                image[(y - 1) * stride + x]
            } else {
                0
            };
            let c = if x >= channels && y > 0 {
                image[(y - 1) * stride + x - channels]
            } else {
                0
            };
            let predictor = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => a.midpoint(b),
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("filter {other}"),
            };
            image[y * stride + x] = value.wrapping_add(predictor);
        }
    }
    let pixels = image.chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    (width, height, pixels)
}

#[test]
fn html_report_renders_in_chromium_with_the_right_values() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("flows");
    let rows = [
        row(H13 + 60, &WEB, &API, 1_000_000),
        row(H13 + 120, &WEB, &LEDGER, 250_000),
        row(H14 + 60, &LEDGER, &API, 4_000_000),
        row(H14 + 120, &NODE_B, &WEB, 125_000),
        row(H14 + 180, &API, &WEB, 2_000_000),
    ];
    let mut writer = PartitionedWriter::local(&data, WriterConfig::default()).unwrap();
    for (dt, r) in &rows {
        writer.push(dt, r).unwrap();
    }
    writer.finish().unwrap();

    let page = temp.path().join("report.html");
    let (code, _, stderr) = crossaz(
        None,
        &[
            "report",
            "--data",
            data.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://")
            && !html.contains("https://")
            && !html.contains("<script src")
            && !html.contains("<link"),
        "the page must be self-contained"
    );

    let url = format!("file://{}", page.display());
    let dumped = chromium(&["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dumped.stdout).into_owned();
    assert!(
        dom.contains("<svg id=\"az-matrix\""),
        "no DOM from chromium:\n{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    // The inline script ran in the browser.
    assert!(dom.contains("data-js=\"ok\""), "inline JS did not run");

    // AZ matrix: 3 × 3 cells, each with its exact bytes.
    let cells = elements(&dom, "rect", "cell");
    assert_eq!(cells.len(), 9);
    let matrix: HashMap<(String, String), u64> = cells
        .iter()
        .map(|c| {
            (
                (c["data-src"].clone(), c["data-dst"].clone()),
                c["data-bytes"].parse::<f64>().unwrap() as u64,
            )
        })
        .collect();
    let zone = |z: &str| format!("us-east-1{z}");
    let expect = [
        ("a", "b", 1_000_000),
        ("a", "c", 250_000),
        ("c", "b", 4_000_000),
        ("b", "a", 2_125_000),
        ("a", "a", 0),
        ("b", "c", 0),
    ];
    for (src, dst, bytes) in expect {
        assert_eq!(matrix[&(zone(src), zone(dst))], bytes, "{src} -> {dst}");
    }
    let darkest = cells.iter().find(|c| c["data-bytes"] == "4000000").unwrap();
    assert_eq!(darkest["fill"], "#a50f15");

    // Namespaces: payments, shop, (nodes), biggest first.
    let bars: Vec<(String, String)> = elements(&dom, "rect", "bar")
        .into_iter()
        .map(|b| (b["data-label"].clone(), b["data-value"].clone()))
        .collect();
    let namespace_svg = &dom[dom.find("id=\"namespace-chart\"").unwrap()..];
    let namespace_svg = &namespace_svg[..namespace_svg.find("</svg>").unwrap()];
    let namespace_bars: Vec<(String, String)> = elements(namespace_svg, "rect", "bar")
        .into_iter()
        .map(|b| (b["data-label"].clone(), b["data-value"].clone()))
        .collect();
    assert_eq!(
        namespace_bars,
        vec![
            ("payments".to_owned(), "4000000".to_owned()),
            ("shop".to_owned(), "3250000".to_owned()),
            ("(nodes)".to_owned(), "125000".to_owned()),
        ]
    );
    // Top workload pairs: 5 distinct pairs, ledger -> api first.
    assert!(bars.len() >= 5 + 5 + 3, "{bars:?}");
    assert_eq!(
        bars[0],
        (
            "payments/ledger → shop/api".to_owned(),
            "4000000".to_owned()
        )
    );

    // Per hour, and the totals.
    let hours: Vec<(String, String)> = elements(&dom, "rect", "hour-bar")
        .into_iter()
        .map(|b| (b["data-dt"].clone(), b["data-bytes"].clone()))
        .collect();
    assert_eq!(
        hours,
        vec![
            ("2024-05-01-13".to_owned(), "1250000".to_owned()),
            ("2024-05-01-14".to_owned(), "6125000".to_owned()),
        ]
    );
    assert!(
        dom.contains(r#"id="total-bytes" data-bytes="7375000""#),
        "totals"
    );
    assert!(dom.contains(r#"<div class="v" id="total-flows">5</div>"#));
    // Node traffic share.
    let kinds: Vec<(String, String)> = elements(&dom, "rect", "kind")
        .into_iter()
        .map(|k| (k["data-kind"].clone(), k["data-share"].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("pod → pod".to_owned(), "98.3".to_owned()),
            ("node → pod".to_owned(), "1.7".to_owned()),
        ]
    );

    // The screenshot shows the charts: many colours, and the heatmap's darkest red.
    let shot = temp.path().join("report.png");
    let result = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1000,1600",
        &url,
    ]);
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let (width, height, pixels) = png_pixels(&shot);
    assert_eq!((width, height), (1000, 1600));
    let not_white = pixels.iter().filter(|p| **p != [255, 255, 255]).count();
    assert!(
        not_white > pixels.len() / 50,
        "blank screenshot: {not_white} non-white pixels"
    );
    let colours: std::collections::HashSet<[u8; 3]> = pixels.iter().copied().collect();
    assert!(colours.len() > 50, "{} colours", colours.len());
    let near = |p: &[u8; 3], q: [u8; 3]| p.iter().zip(q).all(|(a, b)| a.abs_diff(b) <= 4);
    let dark_red = pixels
        .iter()
        .filter(|p| near(p, [0xa5, 0x0f, 0x15]))
        .count();
    assert!(
        dark_red > 1000,
        "heatmap cell not visible: {dark_red} pixels"
    );
}
