//! A real OpenID provider for the single sign-on tests: panva's
//! `oidc-provider` (tests/support/oidc/provider.mjs) under Node.js, which
//! `scripts/test` installs. Started before tocsin (whose settings need its
//! address), told tocsin's callback once tocsin listens.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tocsin::auth::role_map::RoleMap;
use tocsin::config::OidcSettings;

use super::process::{collect, wait_for};

pub const CLIENT_ID: &str = "tocsin-test";
pub const CLIENT_SECRET: &str = "a-client-secret-for-the-tests-only";

pub struct Provider {
    child: Child,
    stdin: ChildStdin,
    stdout: Arc<Mutex<String>>,
    pub issuer: String,
    updates: usize,
}

impl Provider {
    pub fn start() -> Provider {
        let script = std::env::var("TOCSIN_TEST_OIDC_PROVIDER").expect(
            "TOCSIN_TEST_OIDC_PROVIDER names the test OpenID provider: run the tests with \
             scripts/test, which installs it",
        );
        let mut child = Command::new("node")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts the test OpenID provider");
        let stdin = child.stdin.take().expect("its stdin");
        let stdout = collect(child.stdout.take().expect("its stdout"));
        let port = wait_for(&stdout, "port ");
        Provider {
            child,
            stdin,
            stdout,
            issuer: format!("http://127.0.0.1:{port}"),
            updates: 0,
        }
    }

    /// tocsin's settings for this provider, with these role rules, asking
    /// for the groups scope.
    pub fn settings(&self, roles: &str) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer.parse().expect("the issuer URL"),
            client_id: CLIENT_ID.to_owned(),
            client_secret: CLIENT_SECRET.to_owned(),
            role_claim: "groups".to_owned(),
            roles: RoleMap::parse(roles.split(',')).expect("role rules"),
            scopes: vec!["email".to_owned(), "groups".to_owned()],
        }
    }

    /// Starts serving tocsin at `app_url`, for these accounts
    /// (`{"login": {"email", "email_verified", "groups"}}`).
    pub fn serve(&mut self, app_url: &str, accounts: Value) {
        self.send(json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": format!("{app_url}/sign-in/sso/callback"),
            "accounts": accounts,
        }));
        wait_for(&self.stdout, "ready");
    }

    /// Replaces the accounts: a person moved to another group, say.
    pub fn set_accounts(&mut self, accounts: Value) {
        self.send(json!({ "accounts": accounts }));
        self.updates += 1;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.stdout.lock().unwrap().matches("ok\n").count() < self.updates {
            assert!(
                std::time::Instant::now() < deadline,
                "the provider took no update"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn send(&mut self, message: Value) {
        writeln!(self.stdin, "{message}").expect("write to the provider");
        self.stdin.flush().expect("flush to the provider");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
