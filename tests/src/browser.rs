//! Headless Chromium for the browser tests, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`): each test starts its own `chromedriver` on a free loopback port and a
//! fresh browser profile, acts as a person would (clicks, keys, forms), and saves screenshots
//! under `target/screenshots/`.
//!
//! Nothing is skipped: when `chromedriver` is missing, `scripts/services` installs it (under a
//! lock, since tests run in parallel processes); if it still cannot be found the test fails and
//! says how to install it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Where screenshots go: `<target dir>/screenshots` (a test binary runs from
/// `<target dir>/<profile>/deps/`), else `target/screenshots` under the workspace.
pub fn screenshot_dir() -> PathBuf {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let deps = exe.parent()?;
        (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(Path::to_path_buf))?
    });
    from_exe
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("screenshots")
}

fn on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The chromedriver and Chromium binaries, installed by `scripts/services` if missing.
async fn binaries() -> anyhow::Result<(PathBuf, PathBuf)> {
    let find = || Some((on_path("chromedriver")?, on_path("chromium")?));
    if let Some(found) = find() {
        return Ok(found);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services");
    eprintln!(
        "[browser] chromedriver or chromium missing: running {}",
        script.display()
    );
    // One installer at a time across the test processes (apt holds its own lock and fails).
    let status = Command::new("flock")
        .arg("/tmp/contactsync-scripts-services.lock")
        .arg(&script)
        .status()
        .await
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!(
            "{} failed ({status}); install Debian's chromium and chromium-driver packages",
            script.display()
        );
    }
    find().context(
        "chromedriver and chromium are still not on PATH after scripts/services; install \
         Debian's chromium and chromium-driver packages",
    )
}

/// A headless Chromium session.
pub struct Browser {
    pub client: Client,
    /// The test's name: screenshots are `<name>-<step>.png`.
    name: String,
    driver: Child,
    /// chromedriver's port, held while it runs.
    _port: test_support::ports::Port,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for test `name`.
    pub async fn start(name: &str) -> anyhow::Result<Browser> {
        let (chromedriver, chromium) = binaries().await?;
        let port = test_support::ports::reserve().context("reserving a port for chromedriver")?;
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={}", port.number()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let base = port.url();
        let http = reqwest::Client::builder().no_proxy().build()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(resp) => resp
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            if let Some(exit) = driver.try_wait()? {
                bail!("chromedriver exited at start: {exit}");
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("chromedriver did not answer on {base} within 30s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!(
            "contactsync-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Tests run as root in CI containers, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,1400",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            bail!("capabilities are an object");
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&base)
            .await
            .context("opening a Chromium session over WebDriver")?;
        Ok(Browser {
            client,
            name: name.to_owned(),
            driver,
            _port: port,
            profile,
        })
    }

    /// Saves a PNG of the viewport as `target/screenshots/<test>-<step>.png`.
    pub async fn screenshot(&self, step: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}-{step}.png", self.name));
        std::fs::write(&path, png)?;
        eprintln!("[browser] screenshot {}", path.display());
        Ok(path)
    }

    /// The visible text of the page. Right after a click that submits a form, the old page may
    /// go away between finding `<body>` and reading it (a stale element): read again then.
    pub async fn text(&self) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let read = async { self.client.find(Locator::Css("body")).await?.text().await };
            match read.await {
                Ok(text) => return Ok(text),
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "Reading the page again.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reloads the page until its text satisfies `ready`, or fails after `secs` with `what`.
    pub async fn reload_until(
        &self,
        secs: u64,
        what: &str,
        ready: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        self.poll_text(secs, what, true, ready).await
    }

    /// Waits, without reloading, until the page's text satisfies `ready` (the page updating
    /// itself), or fails after `secs` with `what`.
    pub async fn wait_for_text(
        &self,
        secs: u64,
        what: &str,
        ready: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        self.poll_text(secs, what, false, ready).await
    }

    /// Reads the page's text until it satisfies `ready` or `secs` pass, reloading between reads
    /// when `reload` is set.
    async fn poll_text(
        &self,
        secs: u64,
        what: &str,
        reload: bool,
        ready: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.text().await?;
            if ready(&text) {
                return Ok(text);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("timed out after {secs}s waiting for {what}; the page reads:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(if reload { 300 } else { 200 })).await;
            if reload {
                self.client.refresh().await?;
            }
        }
    }

    /// Scrolls the element with this id to the top of the viewport (before a screenshot).
    pub async fn scroll_to(&self, id: &str) -> anyhow::Result<()> {
        self.client
            .execute(
                "document.getElementById(arguments[0]).scrollIntoView();",
                vec![json!(id)],
            )
            .await?;
        Ok(())
    }

    /// Clicks the `<label>` with this exact text (as a person clicks a radio's or switch's label).
    pub async fn click_label(&self, text: &str) -> anyhow::Result<()> {
        let xpath = format!("//label[normalize-space(.)='{text}']");
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .with_context(|| format!("no label {text:?}"))?
            .click()
            .await?;
        Ok(())
    }

    /// Clicks the button with this exact text.
    pub async fn click_button(&self, text: &str) -> anyhow::Result<()> {
        let xpath = format!("//button[normalize-space(.)='{text}']");
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .with_context(|| format!("no button {text:?}"))?
            .click()
            .await?;
        Ok(())
    }

    /// The page's accessibility problems, checked in the browser by the rules axe-core applies
    /// to such pages: every form control has an accessible name (a `<label for>`, `aria-label`
    /// or `aria-labelledby`), no positive `tabindex` (focus follows the reading order), one
    /// `<h1>` and a `lang`, each `<svg role=img>` named, and normal text at a contrast of at
    /// least 4.5:1 against its background.
    pub async fn accessibility_problems(&self) -> anyhow::Result<Vec<String>> {
        let problems = self.client.execute(A11Y_CHECK, vec![]).await?;
        Ok(serde_json::from_value(problems)?)
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let closed = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
        closed?;
        Ok(())
    }
}

/// Runs in the page; returns a list of problems (empty when it passes).
const A11Y_CHECK: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push("html has no lang");
if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
  const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`))
    || el.closest("label") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
  if (!labelled) problems.push(`control without a label: ${el.outerHTML.slice(0, 80)}`);
}
for (const b of document.querySelectorAll("button, a[href]")) {
  if (!(b.textContent.trim() || b.getAttribute("aria-label"))) problems.push(`unnamed ${b.tagName}`);
}
for (const el of document.querySelectorAll("[tabindex]")) {
  if (parseInt(el.getAttribute("tabindex"), 10) > 0) problems.push(`positive tabindex on ${el.tagName}`);
}
for (const svg of document.querySelectorAll("svg[role=img]")) {
  if (!svg.getAttribute("aria-labelledby") && !svg.getAttribute("aria-label")) problems.push("unnamed chart");
}
const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const seen = new Set();
while (walker.nextNode()) {
  const node = walker.currentNode;
  const el = node.parentElement;
  if (!el || !node.textContent.trim() || seen.has(el) || el.closest("svg")) continue;
  seen.add(el);
  const style = getComputedStyle(el);
  if (style.visibility === "hidden" || style.display === "none") continue;
  const fg = lum(rgb(style.color).slice(0, 3)), bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
  if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)} for "${node.textContent.trim().slice(0, 40)}"`);
}
return problems;
"#;
