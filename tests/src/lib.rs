//! Helpers for black-box tests: run the real `paylinks` binary and talk to it over HTTP.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use paylinks_core::test_support::free_port;

pub const MERCHANT_ID: &str = "your_merchant_id";
pub const VAULT_KEY: &str = "vk_flow_test_vault";
pub const MERCHANT_KEY: &str = "mk_flow_test_merchant";

/// The `paylinks` binary of this build (the test script builds it before the tests run).
pub fn paylinks_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("PAYLINKS_BIN") {
        return PathBuf::from(path);
    }
    // Test executables live in target/<profile>/deps; binaries one level up.
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe.parent().and_then(Path::parent).expect("target dir").join("paylinks");
    assert!(bin.exists(), "{} is missing: run `cargo build -p paylinks` (scripts/test.sh does)", bin.display());
    bin
}

/// A `paylinks serve` process on a free port, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts the server on `data_dir` and waits until it answers.
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with_env(data_dir, &[])
    }

    /// Starts the server with extra environment variables (kept across [`Server::restart`]).
    pub fn start_with_env(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        on_a_free_port("paylinks serve", |port| Self::start_on(data_dir, port, env.clone()))
    }

    fn start_on(data_dir: &Path, port: u16, env: Vec<(String, String)>) -> Result<Server, PortTaken> {
        // Its JSON log lines go to one file across restarts, for tests (and the suite's secrets
        // audit) to read.
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(Self::log_path_of(data_dir))
            .expect("open the server log");
        let child = Command::new(paylinks_bin())
            .arg("serve")
            .env("PAYLINKS_ADDR", format!("127.0.0.1:{port}"))
            .env("PAYLINKS_DATA", data_dir)
            .env("PAYLINKS_DEMO_MERCHANT", format!("{MERCHANT_ID}:{VAULT_KEY}:{MERCHANT_KEY}"))
            // The per-merchant API limit has tests of its own; flows here may exceed it.
            .env("PAYLINKS_API_RATE_LIMIT", "0")
            .env_remove("PAYLINKS_PUBLIC_URL")
            .env_remove("PAYLINKS_STORE")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(log)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start paylinks serve");
        let mut server =
            Server { child, base: format!("http://127.0.0.1:{port}"), data_dir: data_dir.to_owned(), port, env };
        // Ready when our process listens on the port and answers its health check as paylinks
        // does (200 `{"status":"ok"}`: the store answers too). Its reason to exit early is on
        // stderr (inherited).
        wait_until_ours(&mut server.child, "paylinks serve", port, Duration::from_secs(20), String::new, || {
            http_get_local(port, "/health").as_deref() == Some(r#"{"status":"ok"}"#)
        })?;
        Ok(server)
    }

    /// Where the server's stdout (its JSON log lines) goes.
    pub fn log_path(&self) -> PathBuf {
        Self::log_path_of(&self.data_dir)
    }

    fn log_path_of(data_dir: &Path) -> PathBuf {
        let name = data_dir.file_name().expect("a named data directory").to_string_lossy();
        log_file(&format!("{name}.log"))
    }

    /// Stops the server (SIGKILL: nothing may depend on a clean shutdown) and starts it
    /// again on the same data directory, port and environment. Returns the length of the log
    /// when the old process was gone: what follows is the new one's.
    pub fn restart(&mut self) -> u64 {
        self.child.kill().ok();
        self.child.wait().ok();
        let log_at_kill = std::fs::metadata(self.log_path()).map_or(0, |m| m.len());
        let env = std::mem::take(&mut self.env);
        // The same port: clients (wrk) keep using the address they were given.
        *self = Self::start_on(&self.data_dir.clone(), self.port, env)
            .unwrap_or_else(|PortTaken| panic!("port {} was taken while paylinks serve was down", self.port));
        log_at_kill
    }

    /// The server's resident memory (VmRSS), in KiB.
    pub fn resident_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

// ---------------------------------------------------------------------------------------------
// Processes on free ports. `free_port` releases the port it found, so another process may bind
// it before ours does: ours then exits early (address in use), or, worse, something else
// answers on the port. Each start below checks which process listens there, and starts again
// on another port when the port was taken.

/// The port was taken between [`free_port`] and the child's bind: the child exited early
/// while another process listens on its port.
struct PortTaken;

/// `start(port)` on a free port, again on another one (a few times) while the port was taken.
fn on_a_free_port<T>(what: &str, mut start: impl FnMut(u16) -> Result<T, PortTaken>) -> T {
    for _ in 0..5 {
        let port = free_port();
        match start(port) {
            Ok(started) => return started,
            Err(PortTaken) => eprintln!("{what}: port {port} was taken before it could bind it; trying another"),
        }
    }
    panic!("{what}: five free ports in a row were taken before it could bind them")
}

/// Waits (up to `timeout`) until `child` is the process listening on `port` and `answers` says
/// it answers as it should. `Err(PortTaken)` when the child exits while another process
/// listens on its port; panics, with `log()`, when it exits otherwise or is not ready in time.
fn wait_until_ours(
    child: &mut Child,
    what: &str,
    port: u16,
    timeout: Duration,
    log: impl Fn() -> String,
    answers: impl Fn() -> bool,
) -> Result<(), PortTaken> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            // Our child is gone, so whatever listens on the port now is another process's.
            if !listening_sockets(port).is_empty() {
                return Err(PortTaken);
            }
            panic!("{what} exited ({status}) before it was ready on port {port}\n{}", log());
        }
        if holds_listener(child.id(), port) && answers() {
            return Ok(());
        }
        assert!(Instant::now() < deadline, "{what} is not ready on port {port} after {timeout:?}\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sockets listening on `port` (any address, IPv4 or IPv6), as the links their owners'
/// file descriptors point to (`socket:[INODE]`), from /proc/net/tcp and tcp6.
fn listening_sockets(port: u16) -> Vec<String> {
    let port = format!(":{port:04X}");
    let tables = ["/proc/net/tcp", "/proc/net/tcp6"].map(|path| std::fs::read_to_string(path).unwrap_or_default());
    // Each line: "sl local_address rem_address st ... inode ..."; st 0A is LISTEN.
    tables
        .iter()
        .flat_map(|table| table.lines().skip(1))
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.len() > 9 && fields[1].ends_with(&port) && fields[3] == "0A")
        .map(|fields| format!("socket:[{}]", fields[9]))
        .collect()
}

/// Whether process `pid` holds a socket listening on `port`: the process answering there is
/// that one.
fn holds_listener(pid: u32, port: u16) -> bool {
    let sockets = listening_sockets(port);
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|link| sockets.iter().any(|s| link == Path::new(s))))
}

/// Where a process started by a test logs: `PAYLINKS_TEST_LOG_DIR` when set (scripts/test.sh
/// sets it and audits every line for secrets after the whole suite), else the temp dir.
pub fn log_file(name: &str) -> PathBuf {
    match std::env::var_os("PAYLINKS_TEST_LOG_DIR") {
        Some(dir) => {
            std::fs::create_dir_all(&dir).expect("create PAYLINKS_TEST_LOG_DIR");
            PathBuf::from(dir).join(name)
        }
        None => std::env::temp_dir().join(name),
    }
}

fn keeping_logs() -> bool {
    std::env::var_os("PAYLINKS_TEST_LOG_DIR").is_some()
}

/// A fresh directory under the system temp dir, removed when dropped (its server log too,
/// unless logs are kept for the audit).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        if !keeping_logs() {
            let _ = std::fs::remove_file(Server::log_path_of(&self.0));
        }
    }
}

/// A card expiry (MM/YY) a year from today, as the pay form takes it.
pub fn next_year_expiry() -> String {
    (chrono::Utc::now() + chrono::TimeDelta::days(366)).format("%m/%y").to_string()
}

/// The form token of a checkout page.
pub fn form_token(page: &str) -> Option<&str> {
    page.split(r#"name="formToken" value=""#).nth(1).and_then(|rest| rest.split('"').next())
}

/// Opens `link` on the server at `base` as a customer: the checkout page's URL and its form
/// token, or the status the open answered instead of 303.
pub async fn open_checkout(base: &str, link: &str) -> Result<(String, String), u16> {
    let opened = client().get(format!("{base}/pay/{link}")).send().await.expect("open the link");
    if opened.status() != 303 {
        return Err(opened.status().as_u16());
    }
    let page_url = opened.headers()["location"].to_str().expect("a Location").to_owned();
    let page = client().get(&page_url).send().await.expect("the checkout page").text().await.expect("its HTML");
    let token = form_token(&page).unwrap_or_else(|| panic!("no form token on {page_url}:\n{page}")).to_owned();
    Ok((page_url, token))
}

/// An HTTP client that does not follow redirects, so tests see the 303s.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client")
}

/// A merchant API request to `url` with the demo merchant's two keys.
pub fn merchant_request(method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
    client().request(method, url).header("X-API-KEY", VAULT_KEY).header("X-OZURA-API-KEY", MERCHANT_KEY)
}

// ---------------------------------------------------------------------------------------------
// Debian tools the tests drive (`scripts/debian-tools.sh` installs them; scripts/test.sh runs it).

/// A tool's binary: the path in `env_var` when set, else Debian's `default_path`.
fn debian_tool(env_var: &str, default_path: &str) -> PathBuf {
    let bin = std::env::var_os(env_var).map_or_else(|| PathBuf::from(default_path), Into::into);
    assert!(bin.exists(), "{} is missing: run scripts/debian-tools.sh (scripts/test.sh does)", bin.display());
    bin
}

/// Debian's ChromeDriver, or `PAYLINKS_CHROMEDRIVER`.
pub fn chromedriver_bin() -> PathBuf {
    debian_tool("PAYLINKS_CHROMEDRIVER", "/usr/bin/chromedriver")
}

/// Debian's Chromium, or `PAYLINKS_CHROMIUM`.
pub fn chromium_bin() -> PathBuf {
    debian_tool("PAYLINKS_CHROMIUM", "/usr/bin/chromium")
}

/// Debian's wrk, the load generator of tests/tests/resilience.rs, or `PAYLINKS_WRK`.
pub fn wrk_bin() -> PathBuf {
    debian_tool("PAYLINKS_WRK", "/usr/bin/wrk")
}

// ---------------------------------------------------------------------------------------------
// Browser tests (tests/tests/browser.rs): ChromeDriver and a stand-in merchant site.

/// A `chromedriver` process on a free loopback port, shut down (with the browsers it
/// started) when dropped.
pub struct ChromeDriver {
    child: Child,
    port: u16,
    /// `http://127.0.0.1:PORT`, what a WebDriver client connects to.
    pub url: String,
}

impl ChromeDriver {
    /// Starts ChromeDriver and waits until it listens and its `/status` says it is ready.
    pub fn start() -> ChromeDriver {
        on_a_free_port("chromedriver", Self::start_on)
    }

    fn start_on(port: u16) -> Result<ChromeDriver, PortTaken> {
        use std::os::unix::process::CommandExt;
        let child = Command::new(chromedriver_bin())
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Its own process group, so Drop can also end the browsers it started.
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let mut driver = ChromeDriver { child, port, url: format!("http://127.0.0.1:{port}") };
        // Its reason to exit early ("bind() failed: Address already in use") is on stderr.
        wait_until_ours(&mut driver.child, "chromedriver", port, Duration::from_secs(20), String::new, || {
            http_get_local(port, "/status").is_some_and(|body| body.contains("\"ready\":true"))
        })?;
        Ok(driver)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // `/shutdown` quits every browser session, then ChromeDriver itself: only when ours
        // answers on the port (a driver that lost its port to another must not end that one).
        if matches!(self.child.try_wait(), Ok(None)) && holds_listener(self.child.id(), self.port) {
            let _ = http_get_local(self.port, "/shutdown");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left of this driver's process group (a browser that did not quit).
        let _ =
            Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).stderr(Stdio::null()).status();
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A plain HTTP/1.1 GET to a loopback port; the response body, or None when nothing answers.
/// (ChromeDriver keeps the connection open whatever the request says: the body ends at its
/// Content-Length.)
fn http_get_local(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let read = stream.read(&mut chunk).ok()?;
        response.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
            });
            if read == 0 || length.is_some_and(|length| body.len() >= length) {
                return Some(body.to_owned());
            }
        } else if read == 0 {
            return None;
        }
    }
}

/// A stand-in for the merchant's web site, where checkout sends the customer back: answers
/// every GET on `http://127.0.0.1:PORT/...` with a small "Thank you" HTML page and records
/// each request target (path and query), in order.
pub struct MerchantSite {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    port: u16,
}

impl MerchantSite {
    pub fn start() -> MerchantSite {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the merchant site");
        let port = listener.local_addr().expect("merchant site address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let seen = seen.clone();
                    std::thread::spawn(move || answer_merchant_request(stream, &seen));
                }
            }
        });
        MerchantSite { base: format!("http://127.0.0.1:{port}"), requests, stop, port }
    }

    /// Every request target received so far (`/thank-you?success=true&...`), favicon
    /// requests left out.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().filter(|target| !target.starts_with("/favicon")).cloned().collect()
    }

    /// Waits (up to 10 s) for a request whose path is `path`, and returns the whole target of
    /// the latest such request.
    pub fn wait_for_request(&self, path: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.requests().into_iter().rfind(|target| target.split('?').next() == Some(path));
            if let Some(target) = found {
                return target;
            }
            assert!(Instant::now() < deadline, "the merchant site got no request for {path}: {:?}", self.requests());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for MerchantSite {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer_merchant_request(mut stream: std::net::TcpStream, seen: &std::sync::Mutex<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone the merchant site stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    // Skip the headers: a GET has no body.
    let mut header = String::new();
    while reader.read_line(&mut header).unwrap_or(0) > 0 && header.trim_end() != "" {
        header.clear();
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
    seen.lock().unwrap().push(target);
    let body = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Thank you</title></head>\
                <body><h1 id=\"merchant-page\">Thank you</h1></body></html>";
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// The workspace root: template.yaml, the root Cargo.toml, scripts/.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_owned()
}

/// The `cargo-lambda` binary: `$CARGO_LAMBDA`, else on `PATH`, else in the virtualenv of
/// `scripts/tools.sh lambda` (which `scripts/test.sh` runs). Panics with the way to get it:
/// the emulator tests are never skipped silently.
pub fn cargo_lambda_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_LAMBDA") {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("PAYLINKS_TOOLS_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/paylinks/tools-venv")));
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(venv.map(|v| v.join("bin")))
        .map(|dir| dir.join("cargo-lambda"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "cargo-lambda is not installed: run `scripts/tools.sh lambda` (pip-installs the pinned \
                 cargo-lambda into ~/.cache/paylinks/tools-venv; scripts/test.sh does it), or set CARGO_LAMBDA \
                 to its path"
            )
        })
}

/// `cargo lambda watch`: the Lambda runtime emulator serving the real function binaries
/// (functions/*) behind the routes of `[workspace.metadata.lambda.watch.router]`, on a free
/// port. It runs in its own process group, killed whole (with the functions' `cargo run`
/// children) when dropped. Its log goes to the temp dir: any file written inside the
/// workspace would restart the functions (and `--ignore-changes` keeps edits from doing so).
pub struct LambdaEmulator {
    child: Child,
    pub base: String,
    pub log_path: PathBuf,
}

impl LambdaEmulator {
    /// Starts the emulator with `env` given to every function and waits until it listens.
    /// Functions compile on their first request: give those requests minutes, not seconds.
    pub fn start(env: &[(&str, &str)]) -> LambdaEmulator {
        on_a_free_port("cargo lambda watch", |port| Self::start_on(env, port))
    }

    fn start_on(env: &[(&str, &str)], port: u16) -> Result<LambdaEmulator, PortTaken> {
        use std::os::unix::process::CommandExt;
        let log_path = log_file(&format!("paylinks-lambda-watch-{}-{port}.log", std::process::id()));
        let log = std::fs::File::create(&log_path).expect("create the emulator log");
        let mut command = Command::new(cargo_lambda_bin());
        command.args(["lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", &port.to_string()]);
        for (name, value) in env {
            command.arg("--env-var").arg(format!("{name}={value}")).env(name, value);
        }
        let child = command
            .current_dir(workspace_root())
            .env_remove("PUBLIC_BASE_URL")
            .env_remove("PAYLINKS_PUBLIC_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start cargo-lambda ({}): {e}", cargo_lambda_bin().display()));
        let mut emulator = LambdaEmulator { child, base: format!("http://127.0.0.1:{port}"), log_path };
        // Listening is enough: its routes start the functions, which compile on first use. (A
        // port taken under it makes it exit, with status 0 and no word of why at its default
        // log level: the other process on the port says it.)
        let log_path = emulator.log_path.clone();
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        wait_until_ours(&mut emulator.child, "cargo lambda watch", port, Duration::from_secs(60), log, || true)?;
        Ok(emulator)
    }

    /// What the emulator, cargo and the functions printed so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        // The whole group: cargo-lambda, its `cargo run` children and the functions.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        self.child.wait().ok();
        if !std::thread::panicking() && !keeping_logs() {
            let _ = std::fs::remove_file(&self.log_path);
        }
    }
}

/// Runs `paylinks <args>` with `env` and returns its stdout; panics with its stderr on failure.
pub fn run_paylinks(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(paylinks_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run paylinks {args:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "paylinks {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `paylinks merchant create`'s two keys, read from its output: (vault key, merchant key).
pub fn parse_merchant_keys(output: &str) -> (String, String) {
    let key = |label: &str| {
        output
            .lines()
            .find_map(|line| line.strip_prefix(label))
            .map(|rest| rest.trim().to_owned())
            .filter(|key| !key.is_empty())
            .unwrap_or_else(|| panic!("no {label} line in `paylinks merchant create` output:\n{output}"))
    };
    (key("X-API-KEY:"), key("X-OZURA-API-KEY:"))
}

// --- The seed's three create examples (paylinks-core's test support), for our merchant.

pub use paylinks_core::test_support::{seed_donation, seed_examples, seed_fixed_amount, seed_itemised};

// ---------------------------------------------------------------------------------------------
// Stripe tests: localstripe (PyPI), a Stripe API and Stripe.js on loopback.

/// The secret key the Stripe tests give `paylinks serve` (localstripe takes any `sk_` key).
pub const STRIPE_SECRET_KEY: &str = "sk_test_paylinks";
pub const STRIPE_PUBLISHABLE_KEY: &str = "pk_test_paylinks";
/// The signing secret of the webhook endpoint registered with localstripe.
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_paylinks_test";

/// The `localstripe` binary: `$LOCALSTRIPE`, else in the virtualenv of `scripts/tools.sh stripe`
/// (which `scripts/test.sh` runs). Panics with the way to get it: never skipped silently.
pub fn localstripe_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("LOCALSTRIPE") {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/paylinks/stripe-venv/bin"));
    venv.map(|dir| dir.join("localstripe")).filter(|path| path.is_file()).unwrap_or_else(|| {
        panic!("localstripe is not installed: run `scripts/tools.sh stripe` (scripts/test.sh does), or set LOCALSTRIPE")
    })
}

/// A localstripe process on a free loopback port, from scratch, killed when dropped.
pub struct Localstripe {
    child: Child,
    /// `http://127.0.0.1:PORT`: `STRIPE_API_BASE`.
    pub base: String,
}

impl Localstripe {
    pub fn start() -> Localstripe {
        on_a_free_port("localstripe", Self::start_on)
    }

    fn start_on(port: u16) -> Result<Localstripe, PortTaken> {
        let log = std::fs::File::create(log_file(&format!("localstripe-{port}.log"))).expect("localstripe log");
        let mut child = Command::new(localstripe_bin())
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start localstripe");
        wait_until_ours(&mut child, "localstripe", port, Duration::from_secs(30), String::new, || {
            http_get_local(port, "/js.stripe.com/v3/").is_some_and(|js| js.contains("localstripe"))
        })?;
        Ok(Localstripe { child, base: format!("http://127.0.0.1:{port}") })
    }

    /// `STRIPE_JS_URL`: localstripe's Stripe.js.
    pub fn js_url(&self) -> String {
        format!("{}/js.stripe.com/v3/", self.base)
    }

    /// `paylinks serve` on `data_dir` taking payments through this localstripe, which sends it
    /// its webhooks.
    pub async fn serve(&self, data_dir: &Path) -> Server {
        self.serve_with_env(data_dir, &[]).await
    }

    /// [`Localstripe::serve`] with more of `paylinks serve`'s environment.
    pub async fn serve_with_env(&self, data_dir: &Path, more: &[(&str, &str)]) -> Server {
        let env = self.serve_env();
        let mut env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        env.extend_from_slice(more);
        let server = Server::start_with_env(data_dir, &env);
        self.send_webhooks_to(&format!("{}/webhooks/stripe", server.base)).await;
        server
    }

    /// The environment that makes `paylinks serve` take payments through this localstripe.
    fn serve_env(&self) -> Vec<(String, String)> {
        [
            ("PAYLINKS_PROCESSOR", "stripe".to_owned()),
            ("STRIPE_SECRET_KEY", STRIPE_SECRET_KEY.to_owned()),
            ("STRIPE_PUBLISHABLE_KEY", STRIPE_PUBLISHABLE_KEY.to_owned()),
            ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET.to_owned()),
            ("STRIPE_API_BASE", self.base.clone()),
            ("STRIPE_JS_URL", self.js_url()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// Sends localstripe's events to `url`, signed with [`STRIPE_WEBHOOK_SECRET`].
    pub async fn send_webhooks_to(&self, url: &str) {
        let response = client()
            .post(format!("{}/_config/webhooks/paylinks", self.base))
            .form(&[("url", url), ("secret", STRIPE_WEBHOOK_SECRET)])
            .send()
            .await
            .expect("configure localstripe's webhook");
        assert!(response.status().is_success(), "localstripe webhook config: {}", response.status());
    }

    /// `GET {path}` with the secret key: localstripe's own record of an object.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        let response = client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(STRIPE_SECRET_KEY)
            .send()
            .await
            .unwrap_or_else(|e| panic!("localstripe GET {path}: {e}"));
        assert!(response.status().is_success(), "localstripe GET {path}: {}", response.status());
        response.json().await.expect("localstripe JSON")
    }

    /// A card token made as Stripe.js makes one (`POST /v1/tokens` with the publishable key):
    /// for tests that post the pay form without a browser.
    pub async fn card_token(&self, number: &str) -> String {
        let year = {
            use chrono::Datelike;
            chrono::Utc::now().year() + 1
        }
        .to_string();
        let response = client()
            .post(format!("{}/v1/tokens", self.base))
            .form(&[
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", &year),
                ("card[cvc]", "123"),
                ("key", STRIPE_PUBLISHABLE_KEY),
            ])
            .send()
            .await
            .expect("localstripe token");
        let token: serde_json::Value = response.json().await.expect("token JSON");
        token["id"].as_str().unwrap_or_else(|| panic!("no token: {token}")).to_owned()
    }

    /// Every PaymentIntent localstripe holds.
    pub async fn payment_intents(&self) -> Vec<serde_json::Value> {
        let list = self.get("/v1/payment_intents?limit=100").await;
        list["data"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

// ---------------------------------------------------------------------------------------------
// Merchant webhooks: a receiver that verifies with the `standardwebhooks` library (PyPI).

/// The Python of the virtualenv `scripts/tools.sh stripe` makes (standardwebhooks is there).
fn tools_python() -> PathBuf {
    localstripe_bin().with_file_name("python")
}

/// `tests/webhook_receiver.py` on a free port, answering `answers` (e.g. `"500,200"`), killed
/// when dropped. Every delivery it got is in [`WebhookReceiver::deliveries`].
pub struct WebhookReceiver {
    child: Child,
    /// `http://127.0.0.1:PORT/hooks`: the URL to register.
    pub url: String,
    secret_file: PathBuf,
    log: PathBuf,
    _dir: TempDir,
}

impl WebhookReceiver {
    pub fn start(answers: &str) -> WebhookReceiver {
        on_a_free_port("webhook receiver", |port| Self::start_on(port, answers))
    }

    fn start_on(port: u16, answers: &str) -> Result<WebhookReceiver, PortTaken> {
        let dir = TempDir::new("paylinks-webhook-receiver");
        let (secret_file, log) = (dir.0.join("secret"), dir.0.join("deliveries.jsonl"));
        std::fs::write(&secret_file, "whsec_bm90IHlldCByZWdpc3RlcmVk").expect("placeholder secret");
        let script = workspace_root().join("tests/webhook_receiver.py");
        let mut child = Command::new(tools_python())
            .arg(&script)
            .arg(port.to_string())
            .args([&secret_file, &log])
            .arg(answers)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the webhook receiver");
        // It answers any GET with 501 (it takes POSTs only): listening and ours.
        wait_until_ours(&mut child, "webhook receiver", port, Duration::from_secs(20), String::new, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        Ok(WebhookReceiver { child, url: format!("http://127.0.0.1:{port}/hooks"), secret_file, log, _dir: dir })
    }

    /// Tells the receiver the endpoint's secret (from the registration's answer).
    pub fn use_secret(&self, secret: &str) {
        std::fs::write(&self.secret_file, secret).expect("write the secret");
    }

    /// Every delivery so far, in order: `{webhookId, verified, error, event, answered}`.
    pub fn deliveries(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
    }

    /// Waits (up to `within`) until `count` deliveries arrived, and returns them.
    pub fn wait_for(&self, count: usize, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let deliveries = self.deliveries();
            if deliveries.len() >= count {
                return deliveries;
            }
            assert!(Instant::now() < deadline, "{count} deliveries expected in {within:?}, got {deliveries:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
