//! The public statement pages: the one address to give journalists and
//! customers. Only what was published appears (an approved text, or a
//! filled-in pre-approved template), with its hash and the incident's chain
//! head, so anyone can check it against legal's verified export. No
//! script, no cookies, cacheable; an Atom feed beside each page.

use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::Path;
use crate::delivery::render::when;
use crate::domain::statement::{IncidentStatements, Statement, StatementStatus};
use crate::timeline::ChainHead;

/// How many incidents the organisation's page and feed reach back.
const INCIDENTS_SHOWN: u32 = 50;

/// Caches may keep a page a minute: a new statement shows within that.
const CACHE: &str = "public, max-age=60";

const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

#[derive(Serialize)]
struct Page {
    organisation: String,
    /// `/public/statements`, or an incident's page.
    self_path: String,
    feed_path: String,
    /// Newest first.
    statements: Vec<PublicStatement>,
    /// On an incident's page: its timeline's head as it stands.
    chain_head: Option<ChainHead>,
}

#[derive(Serialize)]
struct PublicStatement {
    incident_path: String,
    anchor: String,
    number: u32,
    published: String,
    #[serde(skip)]
    published_at: DateTime<Utc>,
    text: String,
    language: String,
    channels: String,
    sha256: String,
    url: Option<String>,
    superseded_by: Option<u32>,
}

impl PublicStatement {
    fn of(incident_id: Uuid, statements: &[Statement]) -> Vec<PublicStatement> {
        statements
            .iter()
            .filter(|statement| statement.status.is_public())
            .filter_map(|statement| {
                let publication = statement.publication.as_ref()?;
                Some(PublicStatement {
                    incident_path: incident_path(incident_id),
                    anchor: format!("statement-{}", statement.number),
                    number: statement.number,
                    published: when(publication.at),
                    published_at: publication.at,
                    text: statement.content.text.clone(),
                    language: statement.content.language.clone(),
                    channels: statement.content.channels.join(", "),
                    sha256: statement.sha256.clone(),
                    url: publication.url.clone(),
                    superseded_by: (statement.status == StatementStatus::Superseded)
                        .then(|| {
                            let by = statement.superseded_by?;
                            statements.iter().find(|s| s.id == by).map(|s| s.number)
                        })
                        .flatten(),
                })
            })
            .collect()
    }
}

fn incident_path(id: Uuid) -> String {
    format!("/public/incidents/{id}/statements")
}

fn newest_first(mut statements: Vec<PublicStatement>) -> Vec<PublicStatement> {
    statements.sort_by_key(|statement| std::cmp::Reverse(statement.published_at));
    statements
}

fn public(content_type: &'static str, body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn html(state: &AppState, page: &Page) -> Result<Response, ApiError> {
    let body = state
        .renderer
        .page("pages/statements.html", page)
        .map_err(|error| ApiError::internal(&error))?;
    Ok(public("text/html; charset=utf-8", Html(body).0))
}

async fn organisation_page(state: &AppState) -> Result<Page, ApiError> {
    let incidents = state.engine.published_statements(INCIDENTS_SHOWN).await?;
    let statements = incidents
        .iter()
        .flat_map(
            |IncidentStatements {
                 incident_id,
                 statements,
             }| { PublicStatement::of(*incident_id, statements) },
        )
        .collect();
    Ok(Page {
        organisation: state.engine.catalog().organisation().name.clone(),
        self_path: "/public/statements".to_owned(),
        feed_path: "/public/statements.atom".to_owned(),
        statements: newest_first(statements),
        chain_head: None,
    })
}

/// An incident's page; 404 alike for an unknown incident and one that has
/// published nothing, so the address reveals nothing before it is used.
async fn incident_page(state: &AppState, id: Uuid) -> Result<Page, ApiError> {
    let not_found = || ApiError::not_found("no published statements here");
    let incident = state
        .engine
        .incident(id)
        .await
        .map_err(|error| match error {
            crate::engine::EngineError::NotFound(_) => not_found(),
            other => other.into(),
        })?;
    let statements = PublicStatement::of(id, &incident.statements);
    if statements.is_empty() {
        return Err(not_found());
    }
    Ok(Page {
        organisation: state.engine.catalog().organisation().name.clone(),
        self_path: incident_path(id),
        feed_path: format!("{}.atom", incident_path(id)),
        statements: newest_first(statements),
        chain_head: Some(state.engine.chain_head(id).await?),
    })
}

pub async fn organisation(State(state): State<AppState>) -> Result<Response, ApiError> {
    html(&state, &organisation_page(&state).await?)
}

pub async fn organisation_feed(State(state): State<AppState>) -> Result<Response, ApiError> {
    let page = organisation_page(&state).await?;
    Ok(public("application/atom+xml", atom(&state, &page)))
}

pub async fn incident(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    html(&state, &incident_page(&state, id).await?)
}

pub async fn incident_feed(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let page = incident_page(&state, id).await?;
    Ok(public("application/atom+xml", atom(&state, &page)))
}

/// The page as an Atom feed: one entry per statement, its id stable (the
/// page address and the statement's number), its content the text.
fn atom(state: &AppState, page: &Page) -> String {
    use atom_syndication::{Content, Entry, Feed, Link, Text};
    let base = state.public_url.as_str().trim_end_matches('/');
    let link = |href: String, rel: &str| Link {
        href,
        rel: rel.to_owned(),
        ..Link::default()
    };
    let entries: Vec<Entry> = page
        .statements
        .iter()
        .map(|statement| {
            let address = format!("{base}{}#{}", statement.incident_path, statement.anchor);
            let mut title = format!("Statement {}", statement.number);
            if let Some(by) = statement.superseded_by {
                title.push_str(&format!(" (superseded by statement {by})"));
            }
            Entry {
                id: address.clone(),
                title: Text::plain(title),
                updated: statement.published_at.fixed_offset(),
                published: Some(statement.published_at.fixed_offset()),
                links: vec![link(address, "alternate")],
                content: Some(Content {
                    value: Some(statement.text.clone()),
                    content_type: Some("text".to_owned()),
                    lang: Some(statement.language.clone()),
                    ..Content::default()
                }),
                summary: Some(Text::plain(format!("SHA-256 {}", statement.sha256))),
                ..Entry::default()
            }
        })
        .collect();
    let feed = Feed {
        id: format!("{base}{}", page.self_path),
        title: Text::plain(format!("{}: public statements", page.organisation)),
        updated: page
            .statements
            .first()
            .map_or(DateTime::<Utc>::UNIX_EPOCH, |s| s.published_at)
            .fixed_offset(),
        links: vec![
            link(format!("{base}{}", page.self_path), "alternate"),
            link(format!("{base}{}", page.feed_path), "self"),
        ],
        entries,
        ..Feed::default()
    };
    feed.to_string()
}
