//! What became of an action, shown once on the page the action returns to.
//! It travels in a short-lived cookie that only tocsin sets, never in the
//! address: a crafted link could otherwise show anyone's words as tocsin's.

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::cookie_name;
use crate::http::AppState;

const FLASH_COOKIE: &str = "tocsin_flash";

/// Long enough to follow the redirect, short enough to be forgotten.
const LIFETIME: time::Duration = time::Duration::minutes(1);

/// A browser keeps about 4 KiB per cookie; messages are a line or two.
const MESSAGE_MAX: usize = 1_000;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flash {
    /// The path of the page that shows it.
    page: String,
    pub message: String,
    pub failed: bool,
}

impl Flash {
    pub fn new(page: String, message: String, failed: bool) -> Flash {
        let mut message = message;
        if message.len() > MESSAGE_MAX {
            let mut end = MESSAGE_MAX;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Flash {
            page,
            message,
            failed,
        }
    }

    /// The jar, with the flash for the next page.
    pub fn keep(&self, state: &AppState, jar: CookieJar) -> CookieJar {
        let value = serde_json::to_vec(self)
            .map_or_else(|_| String::new(), |json| URL_SAFE_NO_PAD.encode(json));
        jar.add(
            Cookie::build((cookie_name(state, FLASH_COOKIE), value))
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.https)
                .path("/")
                .max_age(LIFETIME)
                .build(),
        )
    }

    /// The flash for the page at `page`, if one waits; the jar forgets it.
    pub fn take(state: &AppState, jar: CookieJar, page: &str) -> (CookieJar, Option<Flash>) {
        let name = cookie_name(state, FLASH_COOKIE);
        let flash = jar
            .get(&name)
            .and_then(|cookie| URL_SAFE_NO_PAD.decode(cookie.value()).ok())
            .and_then(|json| serde_json::from_slice::<Flash>(&json).ok())
            .filter(|flash| flash.page == page);
        match flash {
            Some(flash) => (jar.remove(Cookie::build(name).path("/")), Some(flash)),
            None => (jar, None),
        }
    }
}
