//! The timeline for legal: exports (JSON, CSV, printable HTML), verification,
//! the key that checks signatures, corrections, legal hold, and
//! the purge log.

use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::ErrorBody;
use super::extract::{Caller, Json, Path, Query};
use super::incidents::{ActionResponses, Updated, view};
use super::text::ProseInput;
use super::{ApiError, AppState};
use crate::auth::Permission;
use crate::domain::PurgeRecord;
use crate::timeline::{
    ChainHead, ChainedEvent, DepartmentSummary, Dossier, IncidentSummary, parse_tz, write_csv,
    write_html, write_json,
};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    #[param(schema_with = export_formats)]
    pub(super) format: Option<String>,
    #[param(schema_with = time_zones)]
    pub(super) tz: Option<String>,
}

// `schema_with` replaces the whole parameter schema, doc comment included:
// the descriptions live in the schemas.

fn export_formats() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["json", "csv", "html"]))
        .description(Some(
            "`json` (default), `csv` or `html`; or ask with an `Accept` header.",
        ))
        .build()
}

/// Every name `parse_tz` knows, and no other.
fn time_zones() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
        .description(Some(
            "An IANA time zone (`Europe/Paris`): local time alongside UTC in CSV and HTML.",
        ))
        .build()
}

/// What `GET .../timeline` answers as JSON; written as a stream, described here.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the JSON that `write_json` streams
pub struct TimelineDocument {
    /// `tocsin-timeline/1`.
    format: String,
    incident: IncidentSummary,
    departments: Vec<DepartmentSummary>,
    /// One dossier per regulatory regime legal decided for the incident.
    regulatory: Vec<Dossier>,
    events: Vec<ChainedEvent>,
    head: ChainHead,
    /// Base64 Ed25519 signature of the head.
    signature: String,
    /// Base64 Ed25519 public key; compare with `GET /api/v1/timeline/public-key`.
    public_key: String,
    exported_at: DateTime<Utc>,
}

pub(super) enum Format {
    Json,
    Csv,
    Html,
}

pub(super) fn format_of(params: &ExportParams, headers: &HeaderMap) -> Result<Format, ApiError> {
    match params.format.as_deref() {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some("html") => Ok(Format::Html),
        Some(other) => Err(ApiError::bad_request(
            Some("format".into()),
            format!("unknown format {other:?}: expected json, csv or html"),
        )),
        None => {
            let accept = headers
                .get(ACCEPT)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            Ok(if accept.contains("text/csv") {
                Format::Csv
            } else if accept.contains("text/html") {
                Format::Html
            } else {
                Format::Json
            })
        }
    }
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "timeline",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id"), ExportParams),
    responses(
        (status = 200, description = "Every event in order, hash-chained, with the signed head",
            content((TimelineDocument = "application/json"), (String = "text/csv"), (String = "text/html"))),
        (status = 400, description = "Malformed id, format or time zone", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<ExportParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Permission::Read)?;
    let format = format_of(&params, &headers)?;
    export_response(&state, id, format, params.tz.as_deref()).await
}

/// The export in `format`, for the API and the console alike.
pub(super) async fn export_response(
    state: &AppState,
    id: Uuid,
    format: Format,
    tz: Option<&str>,
) -> Result<Response, ApiError> {
    let tz = tz
        .map(parse_tz)
        .transpose()
        .map_err(|error| ApiError::bad_request(Some("tz".into()), error.to_string()))?;
    let header = state.engine.export_header(id).await?;
    let reference = header.incident.reference.clone();
    let (content_type, extension) = match format {
        Format::Json => ("application/json", "json"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Html => ("text/html; charset=utf-8", "html"),
    };
    // The writers are synchronous: they run on a blocking thread, pulling
    // events page by page and pushing the output out in chunks as they go.
    let (chunks, body) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(16);
    let engine = std::sync::Arc::clone(&state.engine);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let events = Pages::new(engine, runtime, header.head.clone());
        let out = ChunkWriter::new(chunks.clone());
        let written = match format {
            Format::Json => write_json(out, &header, events),
            Format::Csv => write_csv(out, tz, events),
            Format::Html => write_html(out, &header, tz, events),
        };
        if let Err(error) = written {
            tracing::warn!(%error, "timeline export cut short");
            let _ = chunks.blocking_send(Err(error));
        }
    });
    let stream = futures_util::stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (chunk, body))
    });
    let body = axum::body::Body::from_stream(stream);
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A spreadsheet is saved; the report and the JSON open in the browser.
    if extension == "csv"
        && let Ok(value) = HeaderValue::from_str(&format!(
            "attachment; filename=\"{reference}-timeline.{extension}\""
        ))
    {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Serialize, ToSchema)]
pub struct Verification {
    /// True when every event's hash matches its content and links to the one before.
    ok: bool,
    /// The verified head, when the chain holds.
    head: Option<ChainHead>,
    /// Where it breaks: the first bad sequence number and what is wrong.
    broken_at: Option<i64>,
    reason: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline/verify", tag = "timeline",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "Whether the stored chain holds, and where it breaks", body = Verification),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Verification>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(match state.engine.verify(id).await? {
        Ok(head) => Verification {
            ok: true,
            head: Some(head),
            broken_at: None,
            reason: None,
        },
        Err(broken) => Verification {
            ok: false,
            head: None,
            broken_at: Some(broken.seq),
            reason: Some(broken.reason),
        },
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PublicKey {
    /// `ed25519`.
    algorithm: &'static str,
    /// Base64 of the 32-byte public key.
    public_key: String,
}

#[utoipa::path(get, path = "/api/v1/timeline/public-key", tag = "timeline",
    responses((status = 200, description = "The key that verifies exported chain heads", body = PublicKey)))]
pub async fn public_key(State(state): State<AppState>) -> axum::Json<PublicKey> {
    axum::Json(PublicKey {
        algorithm: "ed25519",
        public_key: state.engine.public_key(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionBody {
    /// The sequence number of the event that was wrong.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "integer")]
    corrects_seq: i64,
    /// What was wrong, and what is right.
    text: ProseInput,
}

/// A JSON integer. `12.0` is the same number, and JSON Schema's `integer`
/// says so, so it is taken too; `12.5` is not an integer.
fn integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    // 2^63, exactly: every integral f64 below it and at or above -2^63 fits.
    const BOUND: f64 = 9_223_372_036_854_775_808.0;
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(integer) = number.as_i64() {
        return Ok(integer);
    }
    match number.as_f64() {
        Some(float) if float.fract() == 0.0 && (-BOUND..BOUND).contains(&float) => Ok(float as i64),
        _ => Err(D::Error::custom(format!(
            "expected an integer between -2^63 and 2^63 - 1, got {number}"
        ))),
    }
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/corrections", tag = "timeline",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = CorrectionBody,
    responses(ActionResponses))]
pub async fn correct(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<CorrectionBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let text = body.text.read("text")?;
    if body.corrects_seq < 1 {
        return Err(ApiError::invalid(
            "corrects_seq",
            "sequence numbers start at 1",
        ));
    }
    let incident = state
        .engine
        .correct(id, body.corrects_seq, text, &caller.actor())
        .await
        .map_err(|error| match error {
            // Well-formed, but past the timeline's end as it stands now.
            crate::engine::EngineError::Refused(crate::domain::DomainError::NoSuchEvent(seq)) => {
                ApiError::conflict(format!("the timeline has no event {seq} yet"))
                    .with_field("corrects_seq")
            }
            other => other.into(),
        })?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldBody {
    /// True to place the hold, false to lift it.
    hold: bool,
    reason: ProseInput,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/legal-hold", tag = "timeline",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = LegalHoldBody,
    responses(ActionResponses))]
pub async fn legal_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<LegalHoldBody>,
) -> Updated {
    caller.require(Permission::Hold)?;
    let reason = body.reason.read("reason")?;
    let incident = state
        .engine
        .set_legal_hold(id, body.hold, reason, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[derive(Serialize, ToSchema)]
pub struct PurgeLog {
    purged: Vec<PurgeRecord>,
}

#[utoipa::path(get, path = "/api/v1/purge-log", tag = "timeline",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What retention purged, and when", body = PurgeLog),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub async fn purge_log(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<PurgeLog>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(axum::Json(PurgeLog {
        purged: state.engine.purge_log().await?,
    }))
}

/// The events of an export, fetched a page at a time up to its signed head.
struct Pages {
    engine: std::sync::Arc<crate::engine::Engine>,
    runtime: tokio::runtime::Handle,
    head: ChainHead,
    after: i64,
    page: std::vec::IntoIter<ChainedEvent>,
}

impl Pages {
    const SIZE: u32 = 1000;

    fn new(
        engine: std::sync::Arc<crate::engine::Engine>,
        runtime: tokio::runtime::Handle,
        head: ChainHead,
    ) -> Pages {
        Pages {
            engine,
            runtime,
            head,
            after: 0,
            page: Vec::new().into_iter(),
        }
    }
}

impl Iterator for Pages {
    type Item = ChainedEvent;

    fn next(&mut self) -> Option<ChainedEvent> {
        if let Some(event) = self.page.next() {
            self.after = event.seq;
            return Some(event);
        }
        if self.after >= self.head.seq {
            return None;
        }
        let page = self.runtime.block_on(self.engine.timeline_page(
            self.head.incident_id,
            self.after,
            self.head.seq,
            Self::SIZE,
        ));
        match page {
            Ok(page) if !page.is_empty() => {
                self.page = page.into_iter();
                self.next()
            }
            Ok(_) => None,
            Err(error) => {
                // The export ends short of its head, which verification reports.
                tracing::warn!(%error, "timeline export could not read a page");
                None
            }
        }
    }
}

/// Sends what the writers write to the response body, 64 KiB at a time.
struct ChunkWriter {
    chunks: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    const CHUNK: usize = 64 * 1024;

    fn new(chunks: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) -> ChunkWriter {
        ChunkWriter {
            chunks,
            buffer: Vec::with_capacity(Self::CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(Self::CHUNK));
        self.chunks.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= Self::CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChunkWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}
