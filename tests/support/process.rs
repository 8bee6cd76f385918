//! `tocsin serve` as a separate process, as an operator runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tocsin");

/// A server on an ephemeral port in `dir`; its output is collected as it comes.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub stdout: Arc<Mutex<String>>,
}

pub fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&buffer);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Ok(mut buffer) = sink.lock() {
                buffer.push_str(&line);
                buffer.push('\n');
            }
        }
    });
    buffer
}

/// Waits until `buffer` holds `needle`, and returns what follows it on its line.
pub fn wait_for(buffer: &Arc<Mutex<String>>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(rest) = buffer.lock().unwrap().split(needle).nth(1) {
            return rest.lines().next().unwrap_or_default().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "never saw {needle:?} in {:?}",
            buffer.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Server {
    /// `tocsin serve` in `dir`, with `env` on top of the test defaults.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir)
            .env_remove("TOCSIN_DATABASE_URL")
            .env("TOCSIN_PLAYBOOKS", super::PLAYBOOKS)
            .env("TOCSIN_LISTEN", "127.0.0.1:0")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        let addr = wait_for(&stderr, "addr=")
            .split_whitespace()
            .next()
            .expect("an address")
            .to_owned();
        Server {
            child,
            addr,
            stdout,
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as systemd or Kubernetes would send; it must exit cleanly.
    /// Returns everything the server printed on stdout.
    pub fn terminate(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
        std::thread::sleep(Duration::from_millis(50));
        self.stdout.lock().unwrap().clone()
    }
}
