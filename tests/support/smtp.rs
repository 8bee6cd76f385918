//! A real SMTP server on 127.0.0.1:0 for integration tests: it speaks enough
//! RFC 5321 for lettre (pooled, pipelined), records every accepted message,
//! and can be told to fail or stall so tests can see how tocsin copes.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mail_parser::{MessageParser, PartType};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Advertised in EHLO and enforced on DATA, so a runaway test cannot eat memory.
pub const MAX_MESSAGE_SIZE: usize = 25 * 1024 * 1024;
/// Longest command line accepted; RFC 5321 asks for 512, extensions need more.
const MAX_COMMAND_LINE: usize = 4096;

/// One message the server accepted (answered 250 to its DATA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Reverse-path from `MAIL FROM:<...>`, without brackets ("" for `<>`).
    pub mail_from: String,
    /// Forward-paths from each `RCPT TO:<...>`, in order, without brackets.
    pub rcpt_to: Vec<String>,
    /// The message as sent after DATA, dot-stuffing undone, CRLFs kept,
    /// without the terminating `.` line.
    pub data: Vec<u8>,
    /// The N in the `250 2.0.0 Ok: queued as N` reply (1, 2, 3, ...).
    pub queue_id: u64,
    /// When the server took it (or refused it), before it replied.
    pub arrived: std::time::Instant,
}

impl Received {
    /// The message parsed by mail-parser; panics if it is not parseable.
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        MessageParser::default()
            .parse(&self.data)
            .unwrap_or_else(|| panic!("message {} is not parseable", self.queue_id))
    }

    /// The Subject, decoded (RFC 2047 encoded words undone).
    pub fn subject(&self) -> Option<String> {
        self.parsed().subject().map(str::to_owned)
    }

    /// First top-level header `name` (case-insensitive), raw (not decoded)
    /// but unfolded and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.data);
        let mut found: Option<String> = None;
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                break; // end of the header section
            }
            if line.starts_with([' ', '\t']) {
                // A continuation line: unfolding removes only the CRLF.
                if let Some(value) = found.as_mut() {
                    value.push_str(line);
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((field, value)) = line.split_once(':')
                && field.trim_end().eq_ignore_ascii_case(name)
            {
                found = Some(value.to_owned());
            }
        }
        found.map(|v| v.trim().to_owned())
    }

    /// The first text/plain body part, transfer-decoded and charset-decoded.
    /// Unlike mail-parser's `body_text`, never HTML converted to text.
    pub fn text(&self) -> Option<String> {
        let message = self.parsed();
        message
            .text_body
            .iter()
            .find_map(|&id| match &message.part(id)?.body {
                PartType::Text(text) => Some(text.to_string()),
                _ => None,
            })
    }

    /// The first text/html body part, decoded. Never text converted to HTML.
    pub fn html(&self) -> Option<String> {
        let message = self.parsed();
        message
            .html_body
            .iter()
            .find_map(|&id| match &message.part(id)?.body {
                PartType::Html(html) => Some(html.to_string()),
                _ => None,
            })
    }

    /// Every http:// or https:// URL in the text part, in order, each once.
    pub fn links(&self) -> Vec<String> {
        extract_links(&self.text().unwrap_or_default())
    }
}

/// URLs end at whitespace or at a delimiter that cannot be part of one;
/// trailing sentence punctuation is dropped ("see https://x/y." -> ".../y").
pub fn extract_links(text: &str) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = find_scheme(rest) {
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .unwrap_or(candidate.len());
        let url = candidate[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        let scheme_only = url == "http://" || url == "https://";
        if !scheme_only && !links.iter().any(|l| l == url) {
            links.push(url.to_owned());
        }
        rest = &candidate[end.max(1)..];
    }
    links
}

fn find_scheme(text: &str) -> Option<usize> {
    match (text.find("http://"), text.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the test controls and what the connection tasks record.
#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    /// Pending scripted replies, one per upcoming DATA termination.
    failures: Mutex<VecDeque<String>>,
    /// The same, for messages to one recipient only.
    failures_for: Mutex<HashMap<String, VecDeque<String>>>,
    /// Messages answered with a scripted failure, as they came.
    refused: Mutex<Vec<Received>>,
    delay: Mutex<Duration>,
    /// Extra wait before replying to a message for one recipient.
    delays_for: Mutex<HashMap<String, Duration>>,
    next_queue_id: AtomicU64,
}

/// Locks even if a test thread panicked while holding the lock: the data is
/// plain values, still consistent, and the server must keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running SMTP server; it stops (and drops every connection) when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Count of accepted messages, so waiters wake without polling.
    count: watch::Sender<usize>,
    accept_task: JoinHandle<()>,
}

impl SmtpServer {
    /// Binds 127.0.0.1:0 and starts accepting connections.
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test SMTP server on 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let shared = Arc::new(Shared::default());
        let (count, _) = watch::channel(0);
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone(), count.clone()));
        SmtpServer {
            addr,
            shared,
            count,
            accept_task,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT`: what lettre's `from_url` takes for a plain
    /// connection (no `tls` parameter means no TLS at all).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port())
    }

    /// The next `n` DATA terminations answer `reply` (a full reply line such
    /// as "451 4.3.0 try again later") instead of accepting the message.
    pub fn fail_next(&self, n: usize, reply: &str) {
        let mut failures = lock(&self.shared.failures);
        failures.extend(std::iter::repeat_n(reply.to_owned(), n));
    }

    /// The next `n` messages to `recipient` are answered `reply` instead of
    /// accepted; messages to others are not affected.
    pub fn fail_next_for(&self, recipient: &str, n: usize, reply: &str) {
        let mut failures = lock(&self.shared.failures_for);
        failures
            .entry(recipient.to_owned())
            .or_default()
            .extend(std::iter::repeat_n(reply.to_owned(), n));
    }

    /// Every message answered with a scripted failure so far, as it came:
    /// what the sender tried, links and all.
    pub fn refused(&self) -> Vec<Received> {
        lock(&self.shared.refused).clone()
    }

    /// Waits `delay` before each reply to a completed DATA (a slow server).
    /// A client that hangs up meanwhile loses its message, as with a real
    /// server: it was never acknowledged.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// Waits `delay` before replying to a message for `recipient` only (a
    /// slow mailbox behind a fast server), like [`SmtpServer::set_delay`].
    pub fn set_delay_for(&self, recipient: &str, delay: Duration) {
        lock(&self.shared.delays_for).insert(recipient.to_owned(), delay);
    }

    /// Every message accepted so far, in order of acceptance.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.messages).clone()
    }

    /// The messages accepted since the last `take`, handed over rather than
    /// kept: a long run holds only what it has not read yet. Not to be mixed
    /// with `wait_for`, which counts the messages held.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *lock(&self.shared.messages))
    }

    /// Returns all accepted messages once at least `n` arrived in total;
    /// panics after `timeout` saying how many did and their subjects.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let mut count = self.count.subscribe();
        let arrived = tokio::time::timeout(timeout, count.wait_for(|&c| c >= n)).await;
        if arrived.is_err() {
            let got = self.received();
            let subjects: Vec<String> = got
                .iter()
                .map(|m| m.subject().unwrap_or_else(|| "<no subject>".to_owned()))
                .collect();
            panic!(
                "test SMTP server: expected at least {n} message(s) within {timeout:?}, \
                 but {} arrived; subjects: {subjects:?}",
                got.len()
            );
        }
        self.received()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // The JoinSet of connections lives in this task: aborting it drops
        // the set, which aborts every connection task too.
        self.accept_task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, count: watch::Sender<usize>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(session(stream, shared.clone(), count.clone()));
                }
                // Transient (e.g. too many open files): back off, keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            // Reap finished connections so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One connection; any I/O error or EOF just ends it.
async fn session(stream: TcpStream, shared: Arc<Shared>, count: watch::Sender<usize>) {
    let _ = serve(stream, &shared, &count).await;
}

/// The envelope of the transaction in progress.
#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

enum Line {
    Complete(Vec<u8>),
    TooLong,
    Eof,
}

async fn serve(stream: TcpStream, shared: &Shared, count: &watch::Sender<usize>) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    // Buffered reads give pipelining for free: several commands that came in
    // one segment are simply taken one line at a time.
    let mut reader = BufReader::new(read);
    let mut greeted = false;
    let mut tx = Transaction::default();

    reply(&mut write, "220 127.0.0.1 tocsin test SMTP ready").await?;
    loop {
        let line = match read_line(&mut reader, MAX_COMMAND_LINE).await? {
            Line::Complete(line) => line,
            Line::TooLong => {
                reply(&mut write, "500 5.5.2 line too long").await?;
                continue;
            }
            Line::Eof => return Ok(()),
        };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (line, ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                greeted = true;
                tx = Transaction::default();
                let ehlo = format!(
                    "250-127.0.0.1 greets {arg}\r\n250-PIPELINING\r\n250-8BITMIME\r\n\
                     250-SMTPUTF8\r\n250 SIZE {MAX_MESSAGE_SIZE}"
                );
                reply(&mut write, &ehlo).await?;
            }
            "HELO" => {
                greeted = true;
                tx = Transaction::default();
                reply(&mut write, &format!("250 127.0.0.1 greets {arg}")).await?;
            }
            "MAIL" => {
                let response = if !greeted {
                    "503 5.5.1 send EHLO or HELO first"
                } else if tx.mail_from.is_some() {
                    "503 5.5.1 nested MAIL command"
                } else if let Some(path) = path_after(arg, "FROM:") {
                    // Parameters (BODY=8BITMIME, SMTPUTF8, SIZE=...) are
                    // tolerated and ignored.
                    tx.mail_from = Some(path);
                    "250 2.1.0 Ok"
                } else {
                    "501 5.5.4 syntax: MAIL FROM:<address>"
                };
                reply(&mut write, response).await?;
            }
            "RCPT" => {
                let response = if tx.mail_from.is_none() {
                    "503 5.5.1 need MAIL before RCPT"
                } else if let Some(path) = path_after(arg, "TO:").filter(|p| !p.is_empty()) {
                    tx.rcpt_to.push(path);
                    "250 2.1.5 Ok"
                } else {
                    "501 5.5.4 syntax: RCPT TO:<address>"
                };
                reply(&mut write, response).await?;
            }
            "DATA" => {
                if tx.mail_from.is_none() || tx.rcpt_to.is_empty() {
                    reply(&mut write, "503 5.5.1 need MAIL and RCPT before DATA").await?;
                    continue;
                }
                reply(&mut write, "354 End data with <CR><LF>.<CR><LF>").await?;
                let Some(data) = read_data(&mut reader).await? else {
                    return Ok(()); // client went away mid-message
                };
                let envelope = std::mem::take(&mut tx);
                let delay = envelope
                    .rcpt_to
                    .iter()
                    .filter_map(|to| lock(&shared.delays_for).get(to).copied())
                    .fold(*lock(&shared.delay), Duration::max);
                if !delay.is_zero() && hung_up_within(&mut reader, delay).await {
                    return Ok(()); // never acknowledged: not delivered
                }
                let response = match data {
                    DataOutcome::TooBig => "552 5.3.4 message exceeds fixed maximum size".into(),
                    DataOutcome::Message(data) => accept(shared, count, envelope, data),
                };
                reply(&mut write, &response).await?;
            }
            "RSET" => {
                tx = Transaction::default();
                reply(&mut write, "250 2.0.0 Ok").await?;
            }
            "NOOP" => reply(&mut write, "250 2.0.0 Ok").await?,
            "QUIT" => {
                reply(&mut write, "221 2.0.0 Bye").await?;
                return write.shutdown().await;
            }
            _ => reply(&mut write, "502 5.5.2 command not recognized").await?,
        }
    }
}

/// Waits `delay`, or less if the client hangs up first: true then. A
/// client waiting for the reply sends nothing, so anything it does send is
/// left for the next command.
async fn hung_up_within<R: AsyncBufReadExt + Unpin>(reader: &mut R, delay: Duration) -> bool {
    let until = tokio::time::Instant::now() + delay;
    let gone = tokio::select! {
        () = tokio::time::sleep_until(until) => return false,
        read = reader.fill_buf() => !matches!(read, Ok(buf) if !buf.is_empty()),
    };
    if !gone {
        tokio::time::sleep_until(until).await;
    }
    gone
}

/// Records the message, or answers with the next scripted failure.
fn accept(
    shared: &Shared,
    count: &watch::Sender<usize>,
    envelope: Transaction,
    data: Vec<u8>,
) -> String {
    let scripted = envelope
        .rcpt_to
        .iter()
        .find_map(|to| lock(&shared.failures_for).get_mut(to)?.pop_front())
        .or_else(|| lock(&shared.failures).pop_front());
    let received = Received {
        mail_from: envelope.mail_from.unwrap_or_default(),
        rcpt_to: envelope.rcpt_to,
        data,
        queue_id: 0,
        arrived: std::time::Instant::now(),
    };
    if let Some(failure) = scripted {
        lock(&shared.refused).push(received);
        return failure;
    }
    let mut messages = lock(&shared.messages);
    // Assigned under the messages lock so ids follow the recorded order.
    let queue_id = shared.next_queue_id.fetch_add(1, Ordering::SeqCst) + 1;
    messages.push(Received {
        queue_id,
        ..received
    });
    count.send_replace(messages.len());
    format!("250 2.0.0 Ok: queued as {queue_id}")
}

/// `<path>` after `keyword` (case-insensitive, optional space before `<`).
fn path_after(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

enum DataOutcome {
    Message(Vec<u8>),
    TooBig,
}

/// Reads the message up to the lone `.` line, undoing dot-stuffing.
/// `None` when the client disconnects first.
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> io::Result<Option<DataOutcome>> {
    let mut data = Vec::new();
    let mut too_big = false;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        // Bare LF tolerated so a sloppy client cannot hang the test.
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + content.len() > MAX_MESSAGE_SIZE {
            // Keep reading to the terminator so the session stays in sync.
            too_big = true;
            data.clear();
        }
        if !too_big {
            data.extend_from_slice(content);
        }
    }
    Ok(Some(if too_big {
        DataOutcome::TooBig
    } else {
        DataOutcome::Message(data)
    }))
}

/// One command line, bounded so a client cannot make us buffer forever.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R, max: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (taken, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + taken > max {
            too_long = true;
            line.clear();
        }
        if !too_long {
            line.extend_from_slice(&buf[..taken]);
        }
        reader.consume(taken);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete(line)
            });
        }
    }
}

async fn reply<W: AsyncWrite + Unpin>(write: &mut W, text: &str) -> io::Result<()> {
    // One write per reply: split writes meet Nagle and delayed ACKs (~40 ms).
    let mut bytes = Vec::with_capacity(text.len() + 2);
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    write.write_all(&bytes).await?;
    write.flush().await
}
