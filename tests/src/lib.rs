//! Helpers for black-box tests: run the real `paylinks` binary and talk to it over HTTP.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A `paylinks serve` process on a free port, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    port: u16,
}

impl Server {
    /// Starts the server on `data_dir` and waits until it answers.
    pub fn start(data_dir: &Path) -> Server {
        Self::start_on(data_dir, free_port())
    }

    pub fn start_on(data_dir: &Path, port: u16) -> Server {
        let child = Command::new(paylinks_bin())
            .arg("serve")
            .env("PAYLINKS_ADDR", format!("127.0.0.1:{port}"))
            .env("PAYLINKS_DATA", data_dir)
            .env("PAYLINKS_DEMO_MERCHANT", format!("{MERCHANT_ID}:{VAULT_KEY}:{MERCHANT_KEY}"))
            .env_remove("PAYLINKS_PUBLIC_URL")
            .env_remove("PAYLINKS_STORE")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start paylinks serve");
        let server = Server { child, base: format!("http://127.0.0.1:{port}"), data_dir: data_dir.to_owned(), port };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "paylinks serve did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (SIGKILL: nothing may depend on a clean shutdown) and starts it
    /// again on the same data directory and port.
    pub fn restart(mut self) -> Server {
        let (data_dir, port) = (self.data_dir.clone(), self.port);
        self.child.kill().ok();
        self.child.wait().ok();
        Self::start_on(&data_dir, port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A fresh directory under the system temp dir, removed when dropped.
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
    }
}

/// An HTTP client that does not follow redirects, so tests see the 303s.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client")
}
