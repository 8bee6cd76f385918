//! A real IMAP server on loopback: Debian's `dovecot-imapd`, run as a child
//! process with a throwaway configuration, one user and one maildir in a
//! temporary directory.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "replies";
pub const PASSWORD: &str = "s3cret-imap";
const BINARY: &str = "/usr/sbin/dovecot";

pub struct Dovecot {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// Whether dovecot is installed (`.ci/run` and `scripts/test` install it).
    pub fn installed() -> bool {
        Path::new(BINARY).exists()
    }

    pub fn start() -> Dovecot {
        assert!(
            Self::installed(),
            "{BINARY} is missing: apt-get install dovecot-imapd (scripts/test does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        // Run as root (CI), mail is kept by an unprivileged user, and the
        // login processes run as the package's own users; as anyone else,
        // everything runs as that user.
        let root_run = whoami_uid() == "0";
        if root_run {
            use std::os::unix::fs::PermissionsExt;
            for path in [root.to_owned(), root.join("mail")] {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
                    .expect("chmod");
            }
        }
        let (mail_user, own_users) = if root_run {
            ("uid=nobody gid=nogroup".to_owned(), String::new())
        } else {
            let name = command_output("id", &["-un"]);
            let group = command_output("id", &["-gn"]);
            (
                format!("uid={name} gid={group}"),
                format!("default_internal_user = {name}\ndefault_login_user = {name}\n"),
            )
        };
        std::fs::write(root.join("users"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).expect("users");
        let port = free_port();
        let root_text = root.display();
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {root_text}/run\n\
             state_dir = {root_text}/state\nlog_path = {root_text}/dovecot.log\n\
             ssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             mail_location = maildir:{root_text}/mail/%u\nfirst_valid_uid = 1\n{own_users}\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {root_text}/users\n}}\n\
             userdb {{\n  driver = static\n  args = {mail_user} home={root_text}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
               inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n"
        );
        std::fs::write(root.join("dovecot.conf"), conf).expect("conf");
        let child = Command::new(BINARY)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dovecot starts");
        let dovecot = Dovecot { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dovecot never listened: {}",
                dovecot.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dovecot
    }

    /// The URL tocsin reads the mailbox by.
    pub fn url(&self) -> String {
        format!("imap://{USER}:{PASSWORD}@127.0.0.1:{}/INBOX", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Delivers `raw` into the mailbox as a mail server would: by IMAP APPEND.
    pub async fn append(&self, raw: &[u8]) {
        let mut session = self.session().await;
        session
            .append("INBOX", None, None, raw)
            .await
            .expect("APPEND");
        session.logout().await.expect("LOGOUT");
    }

    /// The flags of every message in the mailbox, in order.
    pub async fn flags(&self) -> Vec<Vec<String>> {
        use futures_util::TryStreamExt;
        let mut session = self.session().await;
        session.examine("INBOX").await.expect("EXAMINE");
        let fetched: Vec<_> = session
            .fetch("1:*", "FLAGS")
            .await
            .expect("FETCH")
            .try_collect()
            .await
            .expect("FETCH");
        let flags = fetched
            .iter()
            .map(|fetch| fetch.flags().map(|flag| format!("{flag:?}")).collect())
            .collect();
        session.logout().await.expect("LOGOUT");
        flags
    }

    async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("greeting");
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(error, _)| error)
            .expect("LOGIN")
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children (kill() would orphan them).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn whoami_uid() -> String {
    command_output("id", &["-u"])
}

fn command_output(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().expect(program);
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
