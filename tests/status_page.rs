//! The status page in a real browser: headless Chromium (Debian's `chromium`) loads `/` while an
//! alert fires; the rendered DOM must show the alert, its rule and the target, and a screenshot
//! is kept as a test artifact (`$TELLTALE_ARTIFACTS` or cargo's test tmpdir).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

fn chromium(args: &[&str]) -> String {
    let bin = common::peer("/usr/bin/chromium");
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_browser_shows_the_firing_alert_its_rule_and_the_target() {
    let dir = std::env::temp_dir().join(format!("telltale-status-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("text")).unwrap();
    std::fs::write(dir.join("text/x.prom"), "page_level 42\n").unwrap();
    let port = common::free_port();
    std::fs::write(
        dir.join("telltale.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yml]\n\
probes: {{self-health: {{url: 'http://127.0.0.1:{port}/-/healthy', interval: 1s, timeout: 1s}}}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: page\n    interval: 1s\n    rules:\n      - alert: PageLevelHigh\n        expr: page_level > 40\n        labels: {severity: critical}\n        annotations: {summary: 'level {{ $value }} is over 40'}\n",
    )
    .unwrap();
    let tt = common::spawn_on(
        &common::bin(),
        &[
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--config={}", dir.join("telltale.yml").display()),
            "--collector.disable-defaults".into(),
            "--collector.textfile".into(),
            format!(
                "--collector.textfile.directory={}",
                dir.join("text").display()
            ),
        ],
        "/-/ready",
        port,
    );
    let url = format!("http://{}/", tt.addr());
    let deadline = Instant::now() + Duration::from_secs(20);
    let dom = loop {
        let dom = chromium(&["--dump-dom", &url]);
        if dom.contains("<td>firing</td>") && dom.contains("class=\"up\"") {
            break dom;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed the firing alert and the target up:\n{dom}\n{}",
            tt.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for want in [
        "<h2>Alerts (1 active)</h2>",
        "<td>PageLevelHigh</td>",
        "<b>summary</b>: level 42 is over 40",
        "alert <b>PageLevelHigh</b>",
        "<code>page_level &gt; 40</code>",
        "<td>self-health</td>",
        "<polyline",
    ] {
        assert!(
            dom.contains(want),
            "{want:?} is not on the rendered page:\n{dom}"
        );
    }
    let artifacts = std::env::var("TELLTALE_ARTIFACTS")
        .unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_string());
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = std::path::Path::new(&artifacts).join("status-page.png");
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,900",
        &url,
    ]);
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "screenshot"
    );
}
