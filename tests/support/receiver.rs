//! A local webhook receiver: records every request, answers with a scripted status.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use reqwest::Url;
use serde_json::Value;
use tokio::task::JoinHandle;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: Method,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("receiver got JSON")
    }
}

struct Script {
    status: StatusCode,
    reply: &'static str,
    delay: Duration,
    seen: Mutex<Vec<Captured>>,
}

/// A local webhook receiver answering every request with one scripted status.
pub struct Receiver {
    pub base: Url,
    script: Arc<Script>,
    task: JoinHandle<()>,
}

impl Receiver {
    pub async fn start(status: u16, reply: &'static str) -> Self {
        Self::start_slow(status, reply, Duration::ZERO).await
    }

    pub async fn start_slow(status: u16, reply: &'static str, delay: Duration) -> Self {
        let script = Arc::new(Script {
            status: StatusCode::from_u16(status).expect("valid status"),
            reply,
            delay,
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(record).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver runs");
        });
        let base = Url::parse(&format!("http://{addr}/")).expect("base url");
        Receiver { base, script, task }
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("endpoint url")
    }

    pub fn seen(&self) -> Vec<Captured> {
        self.script.seen.lock().expect("lock").clone()
    }

    pub fn only(&self) -> Captured {
        let seen = self.seen();
        assert_eq!(seen.len(), 1, "expected one request, got {seen:#?}");
        seen.into_iter().next().expect("one request")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            let value = v.to_str().expect("ASCII header").to_owned();
            (k.as_str().to_owned(), value)
        })
        .collect();
    script.seen.lock().expect("lock").push(Captured {
        method,
        path: uri.to_string(),
        headers,
        body: body.to_vec(),
    });
    tokio::time::sleep(script.delay).await;
    (script.status, script.reply)
}
