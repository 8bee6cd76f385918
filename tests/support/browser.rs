//! A real headless Chromium driven over `WebDriver` (chromedriver + fantoccini), for tests
//! that use the web console as a person would.
//!
//! Each [`Browser`] owns its own chromedriver process (on a free localhost port, in its own
//! process group), a fresh temporary Chromium profile and one WebDriver session. `close()`
//! ends the session and stops chromedriver; `Drop` does the same best-effort, so a failing
//! test leaves no process behind.
//!
//! Needs Debian's `chromium` and `chromium-driver` (see `.ci/install-browser`). The binaries
//! can be overridden with `TOCSIN_CHROMEDRIVER` and `TOCSIN_CHROMIUM`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long `start()` waits for chromedriver to answer `/status` as ready.
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long element look-ups (`fill`, `select`, `click`, `text`) wait for the element.
const ELEMENT_TIMEOUT: Duration = Duration::from_secs(10);
const WINDOW_WIDTH: u32 = 1280;
const WINDOW_HEIGHT: u32 = 900;
const INSTALL_HINT: &str = "install them: apt-get install chromium chromium-driver \
     (or run .ci/install-browser)";

pub struct Browser {
    client: Client,
    driver: Option<Child>,
    driver_addr: SocketAddr,
    driver_log: PathBuf,
    // Dropped last: Chromium must be gone before its profile is removed.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free localhost port and a fresh headless Chromium session
    /// (window 1280x900). Panics with a clear message if chromium/chromedriver are missing
    /// ("install them: apt-get install chromium chromium-driver") — never silently skips.
    pub async fn start() -> Browser {
        let chromedriver =
            find_binary("TOCSIN_CHROMEDRIVER", &["chromedriver"]).unwrap_or_else(|| {
                panic!("browser tests need `chromedriver`, which is not on PATH; {INSTALL_HINT}")
            });
        let chromium = find_binary(
            "TOCSIN_CHROMIUM",
            &[
                "chromium",
                "chromium-browser",
                "google-chrome",
                "google-chrome-stable",
            ],
        )
        .unwrap_or_else(|| {
            panic!("browser tests need `chromium`, which is not on PATH; {INSTALL_HINT}")
        });

        let profile = tempfile::Builder::new()
            .prefix("tocsin-browser-")
            .tempdir()
            .expect("create a temporary Chromium profile directory");
        let user_data_dir = profile.path().join("profile");
        std::fs::create_dir(&user_data_dir).expect("create the Chromium user-data dir");
        let driver_log = profile.path().join("chromedriver.log");

        let (driver, driver_addr) = spawn_chromedriver(&chromedriver, &driver_log);
        // From here on, a panic must not leave chromedriver running.
        let mut guard = DriverGuard {
            child: Some(driver),
            addr: driver_addr,
        };
        wait_until_ready(&mut guard, &driver_log).await;

        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-extensions".to_owned(),
            "--password-store=basic".to_owned(),
            format!("--window-size={WINDOW_WIDTH},{WINDOW_HEIGHT}"),
            format!("--user-data-dir={}", user_data_dir.display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );

        let url = format!("http://{driver_addr}");
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "could not start a headless Chromium session through chromedriver at {url} \
                     ({}, {}): {error}\nchromedriver log:\n{}",
                    chromedriver.display(),
                    chromium.display(),
                    read_log(&driver_log),
                )
            });
        // Headless honours --window-size, but say it over WebDriver too so screenshots are
        // always 1280x900 whatever the Chromium version.
        if let Err(error) = client.set_window_size(WINDOW_WIDTH, WINDOW_HEIGHT).await {
            panic!("could not size the browser window to {WINDOW_WIDTH}x{WINDOW_HEIGHT}: {error}");
        }

        Browser {
            client,
            driver: guard.child.take(),
            driver_addr,
            driver_log,
            _profile: profile,
        }
    }

    /// The underlying fantoccini client, for anything this wrapper does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn goto(&self, url: &str) {
        if let Err(error) = self.client.goto(url).await {
            panic!("browser could not open {url}: {error}");
        }
    }

    /// Clears the field matching `css`, then types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        if let Err(error) = element.clear().await {
            panic!("could not clear `{css}`: {error}");
        }
        if let Err(error) = element.send_keys(text).await {
            panic!("could not type into `{css}`: {error}");
        }
    }

    /// Chooses the `<option>` whose `value` is `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let element = self.find(css).await;
        if let Err(error) = element.select_by_value(value).await {
            panic!("could not select value {value:?} in `{css}`: {error}");
        }
    }

    /// Clicks the first element matching `css`. A page that reloaded itself
    /// (live updates) between finding and clicking is searched again.
    pub async fn click(&self, css: &str) {
        for _ in 0..20 {
            let element = self.find(css).await;
            match element.click().await {
                Ok(()) => return,
                Err(error) if error.to_string().contains("stale element") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("could not click `{css}`: {error}"),
            }
        }
        panic!("`{css}` kept going stale: the page never settled");
    }

    /// `innerText` of the first element matching `css` (waits for it to exist).
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        let element = serde_json::to_value(&element).expect("serialize a WebDriver element");
        let value = self
            .script("return arguments[0].innerText;", vec![element])
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// `document.body.innerText` of the current page.
    pub async fn page_text(&self) -> String {
        let value = self
            .script(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Polls until the first element matching `css` has `needle` in its `innerText`.
    /// Panics on timeout with the text it had (or that nothing matched).
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let current = self.query_text(css).await;
            if current.as_deref().is_some_and(|text| text.contains(needle)) {
                return;
            }
            if Instant::now() >= deadline {
                let url = self.current_url().await;
                match current {
                    Some(text) => panic!(
                        "timed out after {timeout:?} waiting for `{css}` to contain {needle:?} \
                         on {url}; its text is:\n{text}"
                    ),
                    None => panic!(
                        "timed out after {timeout:?} waiting for `{css}` to contain {needle:?} \
                         on {url}; nothing matches `{css}`; the page text is:\n{}",
                        self.page_text().await
                    ),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn current_url(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(error) => panic!("could not read the browser's current URL: {error}"),
        }
    }

    /// The value of the cookie `name` visible to the current page (`HttpOnly` ones included).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        match self.client.get_all_cookies().await {
            Ok(cookies) => cookies
                .into_iter()
                .find(|cookie| cookie.name() == name)
                .map(|cookie| cookie.value().to_owned()),
            Err(error) => panic!("could not read the browser's cookies: {error}"),
        }
    }

    /// Resizes the window: 390x844 is a phone held upright.
    pub async fn resize(&self, width: u32, height: u32) {
        if let Err(error) = self.client.set_window_size(width, height).await {
            panic!("could not size the browser window to {width}x{height}: {error}");
        }
    }

    /// The page's width beyond the window's: 0 when nothing makes a reader
    /// scroll sideways.
    pub async fn overflow_x(&self) -> i64 {
        self.script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .as_i64()
        .unwrap_or(i64::MAX)
    }

    /// Saves a PNG to `target/screenshots/{name}.png` (relative to CARGO_MANIFEST_DIR,
    /// created if needed) and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(error) => panic!("could not take screenshot {name:?}: {error}"),
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("screenshots");
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("could not create {}: {error}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|error| panic!("could not write {}: {error}", path.display()));
        path
    }

    /// Closes the session and stops chromedriver (also done best-effort on Drop).
    pub async fn close(mut self) {
        // Ending the session makes chromedriver quit Chromium cleanly.
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        if let Some(child) = self.driver.take() {
            let addr = self.driver_addr;
            // Blocking waits (at most a few seconds) off the async worker.
            let _ = tokio::task::spawn_blocking(move || stop_driver(child, addr)).await;
        }
    }

    /// The end of chromedriver's own log, for diagnosing a failing test.
    pub fn driver_log(&self) -> String {
        read_log(&self.driver_log)
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(ELEMENT_TIMEOUT)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(error) => {
                let url = self.current_url().await;
                panic!(
                    "no element matches `{css}` on {url} after {ELEMENT_TIMEOUT:?} ({error}); \
                     the page text is:\n{}",
                    self.page_text().await
                )
            }
        }
    }

    /// `innerText` of the first match of `css`, or `None` when nothing matches.
    async fn query_text(&self, css: &str) -> Option<String> {
        let value = self
            .script(
                "const e = document.querySelector(arguments[0]); \
                 return e === null ? null : e.innerText;",
                vec![json!(css)],
            )
            .await;
        value.as_str().map(str::to_owned)
    }

    async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        match self.client.execute(script, args).await {
            Ok(value) => value,
            Err(error) => panic!("browser script failed ({script}): {error}"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(child) = self.driver.take() {
            stop_driver(child, self.driver_addr);
        }
    }
}

/// Stops chromedriver if `start()` panics half-way.
struct DriverGuard {
    child: Option<Child>,
    addr: SocketAddr,
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_driver(child, self.addr);
        }
    }
}

fn find_binary(env_var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var).filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{env_var}={} does not exist; {INSTALL_HINT}",
            path.display()
        );
        return Some(path);
    }
    let path_var = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path_var)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Starts chromedriver on a free port in a process group of its own (so Chromium and its
/// helpers can be killed with it). Retries a few times in case the port was taken between
/// picking it and chromedriver binding it.
fn spawn_chromedriver(chromedriver: &Path, log: &Path) -> (Child, SocketAddr) {
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("find a free localhost port for chromedriver");
        let log_file = std::fs::File::create(log).expect("create the chromedriver log file");
        let err_file = log_file
            .try_clone()
            .expect("clone the chromedriver log handle");
        let mut child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(err_file))
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "could not run {}: {error}; {INSTALL_HINT}",
                    chromedriver.display()
                )
            });
        // A port clash makes chromedriver exit at once; give it a moment to show that.
        std::thread::sleep(Duration::from_millis(20));
        match child.try_wait() {
            Ok(Some(status)) => {
                last_error = format!("chromedriver exited at once ({status}):\n{}", read_log(log));
            }
            _ => return (child, SocketAddr::from(([127, 0, 0, 1], port))),
        }
    }
    panic!("could not start chromedriver: {last_error}");
}

/// Polls chromedriver's `/status` until it reports ready, or panics after a bound.
async fn wait_until_ready(guard: &mut DriverGuard, log: &Path) {
    let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
    loop {
        let addr = guard.addr;
        let status = tokio::task::spawn_blocking(move || http_get(addr, "/status"))
            .await
            .ok()
            .flatten();
        if status
            .as_deref()
            .is_some_and(|body| body.contains("\"ready\":true"))
        {
            return;
        }
        if let Some(child) = guard.child.as_mut()
            && let Ok(Some(exit)) = child.try_wait()
        {
            panic!(
                "chromedriver exited ({exit}) before it was ready:\n{}",
                read_log(log)
            );
        }
        if Instant::now() >= deadline {
            panic!(
                "chromedriver on {addr} was not ready after {DRIVER_READY_TIMEOUT:?} \
                 (last /status: {status:?}):\n{}",
                read_log(log)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tiny blocking HTTP/1.1 GET to chromedriver (which refuses HTTP/1.0 and keeps the
/// connection open despite `Connection: close`, so the body is read up to Content-Length);
/// the body, or `None` on any failure.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let read = stream.read(&mut chunk).ok()?;
        response.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            if read == 0 || length.is_some_and(|length| body.len() >= length) {
                return Some(body.to_owned());
            }
        } else if read == 0 {
            return None;
        }
    }
}

/// Asks chromedriver to shut down (it quits its Chromium sessions first), then kills its
/// whole process group in case anything is left, and reaps it.
fn stop_driver(mut child: Child, addr: SocketAddr) {
    let pid = child.id();
    // Not reaped yet (running or a zombie): its pid cannot have been reused, so the process
    // group below is still ours. `try_wait` would reap it, so look in /proc instead.
    let not_reaped = || Path::new(&format!("/proc/{pid}")).exists();
    let exited = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    };
    if not_reaped() {
        if !exited() {
            let _ = http_get(addr, "/shutdown");
            let deadline = Instant::now() + Duration::from_secs(3);
            while !exited() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // chromedriver leads its own process group; Chromium and its helpers are in it too,
        // and would outlive a chromedriver killed alone.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last part of chromedriver's log (enough to diagnose, short enough for a panic).
fn read_log(log: &Path) -> String {
    const TAIL: usize = 4000;
    match std::fs::read_to_string(log) {
        Ok(text) if text.len() > TAIL => {
            let mut start = text.len() - TAIL;
            while !text.is_char_boundary(start) {
                start += 1;
            }
            format!("[... {start} bytes cut ...]\n{}", &text[start..])
        }
        Ok(text) => text,
        Err(error) => format!("(no chromedriver log: {error})"),
    }
}
